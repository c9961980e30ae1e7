// Idle sign-out. The server ends a session IDLE_TIMEOUT seconds after its last request;
// this mirrors that clock so the person is warned IDLE_WARNING seconds before, can stay,
// and is taken to the sign-in page when the time is up. Another tab may have kept the
// session alive, so before warning and before leaving we ask the server (/session/status
// does not count as activity; /session/keepalive does).

const STATUS_URL = "/session/status";
const KEEPALIVE_URL = "/session/keepalive";
const LOGOUT_URL = "/logout";
const EXPIRED_URL = "/login?expired=1";
// Announce the countdown to screen readers at these marks, not every second.
const ANNOUNCE_AT = new Set([30, 20, 10, 5]);

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content || "";
}

async function askServer(url, method) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    cache: "no-store",
    headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
  });
  if (response.status === 401) return { signedOut: true };
  if (!response.ok) throw new Error(`session ${method} ${response.status}`);
  const body = await response.json();
  return { signedOut: false, remaining: Number(body.remaining) };
}

export function startIdleWatch(dataset) {
  const timeout = Number(dataset.idleTimeout);
  const warning = Number(dataset.idleWarning);
  const dialog = document.getElementById("idle-dialog");
  const countdown = document.getElementById("idle-countdown");
  const announce = document.getElementById("idle-announce");
  const stay = document.getElementById("idle-stay");
  if (!timeout || !dialog || !countdown || !stay) return null;

  // When the server will end the session if nothing else happens (ms since epoch).
  let deadline = Date.now() + timeout * 1000;
  let warnTimer = null;
  let tickTimer = null;
  let leaving = false;
  let lastAnnounced = null;

  const secondsLeft = () => Math.max(0, Math.ceil((deadline - Date.now()) / 1000));

  function schedule() {
    clearTimeout(warnTimer);
    const wait = deadline - warning * 1000 - Date.now();
    warnTimer = setTimeout(onWarningDue, Math.max(0, wait));
  }

  function closeDialog() {
    clearInterval(tickTimer);
    tickTimer = null;
    lastAnnounced = null;
    if (dialog.open) dialog.close();
  }

  function setDeadline(remainingSeconds) {
    deadline = Date.now() + remainingSeconds * 1000;
  }

  function renderCountdown() {
    const left = secondsLeft();
    countdown.textContent = String(left);
    if (announce && ANNOUNCE_AT.has(left) && lastAnnounced !== left) {
      lastAnnounced = left;
      announce.textContent = `You will be signed out in ${left} seconds.`;
    }
    if (left <= 0) onTimeUp();
  }

  function openDialog() {
    renderCountdown();
    if (!dialog.open) dialog.showModal();
    stay.focus();
    clearInterval(tickTimer);
    tickTimer = setInterval(renderCountdown, 250);
  }

  async function leave() {
    if (leaving) return;
    leaving = true;
    closeDialog();
    clearTimeout(warnTimer);
    try {
      // The server has already ended the session; this makes sure of it.
      await fetch(LOGOUT_URL, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken() },
        redirect: "manual",
      });
    } catch (_) {
      // Going to the sign-in page matters more than this request.
    }
    window.location.assign(EXPIRED_URL);
  }

  // Someone (this tab or another) may have been active: follow the server's clock.
  function follow(remaining) {
    setDeadline(remaining);
    if (remaining > warning) {
      closeDialog();
      schedule();
    } else {
      openDialog();
    }
  }

  async function onWarningDue() {
    if (leaving) return;
    try {
      const state = await askServer(STATUS_URL, "GET");
      if (state.signedOut) return leave();
      follow(state.remaining);
    } catch (_) {
      openDialog(); // offline: warn on our own clock
    }
  }

  let checkingAtZero = false;
  async function onTimeUp() {
    if (leaving || checkingAtZero) return;
    checkingAtZero = true;
    clearInterval(tickTimer);
    tickTimer = null;
    try {
      const state = await askServer(STATUS_URL, "GET");
      if (state.signedOut) return leave();
      // The server ends a session only once it is strictly past the limit; look again shortly.
      follow(Math.max(state.remaining, 1));
    } catch (_) {
      leave();
    } finally {
      checkingAtZero = false;
    }
  }

  async function staySignedIn() {
    if (leaving) return;
    try {
      const state = await askServer(KEEPALIVE_URL, "POST");
      if (state.signedOut) return leave();
      follow(state.remaining);
    } catch (_) {
      // Could not reach the server: keep counting; at zero we ask again.
    }
  }

  stay.addEventListener("click", staySignedIn);
  // Escape means someone is there: treat it as "stay", never as a silent dismissal.
  dialog.addEventListener("cancel", (event) => {
    event.preventDefault();
    staySignedIn();
  });

  // Every htmx request reached the server and so moved its idle clock.
  document.addEventListener("htmx:afterRequest", (event) => {
    const xhr = event.detail?.xhr;
    const path = event.detail?.pathInfo?.finalRequestPath || "";
    if (!xhr || xhr.status === 0 || xhr.status === 401 || path.startsWith(STATUS_URL)) return;
    // Progress polls (marked data-idle-passive) do not count on the server either.
    if (event.detail?.elt?.closest?.("[data-idle-passive]")) return;
    setDeadline(timeout);
    closeDialog();
    schedule();
  });

  schedule();
  return { deadline: () => deadline };
}
