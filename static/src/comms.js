// The communications tab and the inbox: segment counting while typing, and live updates.
//
// The "comms" stream (docs/realtime-protocol.md) carries ids only. When a change concerns the
// patient on screen (or, on the inbox, anyone) the page re-reads its live part from the server,
// which scopes and audits it; a snapshot (after a gap or a reconnect) re-reads too.

const GSM_BASIC =
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
  "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENDED = "^{}\\[~]|€\f";

export function segmentCount(text) {
  let gsm = true;
  let septets = 0;
  for (const ch of text) {
    if (GSM_BASIC.includes(ch)) septets += 1;
    else if (GSM_EXTENDED.includes(ch)) septets += 2;
    else { gsm = false; break; }
  }
  if (gsm) {
    const segments = septets === 0 ? 0 : septets <= 160 ? 1 : Math.ceil(septets / 153);
    return { encoding: "GSM-7", units: septets, segments };
  }
  const units = text.length; // UTF-16 code units, as UCS-2 counts them
  const segments = units <= 70 ? 1 : Math.ceil(units / 67);
  return { encoding: "UCS-2", units, segments };
}

function setupCounter() {
  const form = document.getElementById("sms-form");
  const out = document.getElementById("sms-count");
  if (!form || !out) return;
  const body = form.querySelector("textarea[name=body]");
  const update = () => {
    const c = segmentCount(body.value);
    out.textContent = `${c.units} characters · ${c.segments} segment${c.segments === 1 ? "" : "s"} (${c.encoding})`;
  };
  body.addEventListener("input", update);
  update();
}

async function refresh(url, targetId, fromSelector) {
  const response = await fetch(url, {
    headers: { "X-Requested-With": "fetch" },
    credentials: "same-origin",
  });
  if (!response.ok) return;
  const html = await response.text();
  const target = document.getElementById(targetId);
  if (!target) return;
  if (fromSelector) {
    const doc = new DOMParser().parseFromString(html, "text/html");
    const part = doc.querySelector(fromSelector);
    if (part) target.replaceWith(part);
  } else {
    target.innerHTML = html;
  }
}

function setupLive() {
  const realtime = window.TandemRealtime;
  if (!realtime) return;
  const page = document.getElementById("comms-page");
  const counts = document.getElementById("inbox-counts");
  let pending = null;
  const later = (fn) => {
    // Several changes in a burst (status callbacks) become one re-read.
    clearTimeout(pending);
    pending = setTimeout(fn, 150);
  };
  // A change names its patient, or (a batch of deliveries) lists them.
  const concerns = (message, patient) =>
    message.patient === patient || (message.patients || []).includes(patient);
  realtime.subscribe("comms", (message) => {
    const snapshot = message.type === "snapshot";
    if (page && (snapshot || concerns(message, page.dataset.patient))) {
      later(() => refresh(page.dataset.panelUrl, "comms-panel"));
    }
    // A patient's status change shows on their timeline; it changes no inbox counter.
    if (counts && message.change !== "patient_status") {
      later(async () => {
        const response = await fetch(counts.dataset.countsUrl, { credentials: "same-origin" });
        if (response.ok) {
          const data = await response.json();
          const unread = document.getElementById("inbox-unread-count");
          const unassigned = document.getElementById("inbox-unassigned-count");
          const email = document.getElementById("inbox-email-count");
          if (unread) unread.textContent = data.patients;
          if (unassigned) unassigned.textContent = data.unassigned;
          if (email) email.textContent = data.email;
        }
        await refresh(window.location.href, "inbox-list", "#inbox-list");
      });
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupCounter();
  setupLive();
});
