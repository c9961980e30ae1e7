// The realtime client: one socket per page to /ws/portal/ (protocol: docs/realtime-protocol.md).
//
// The server sends a snapshot of every stream first, then changes that each carry the stream's
// version. Channel layers deliver at most once, so a change that does not follow the version we
// hold means we missed one: we ask for a fresh snapshot of that stream and hold later changes
// until it arrives. Pages use `subscribe(stream, handler)`; the handler gets the snapshot
// ({type: "snapshot", stream, version, ...}) and then every change in order.

const BASE_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;
const PING_EVERY_MS = 30000;
const SESSION_ENDED = 4401;

export function socketUrl(path) {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${window.location.host}${path}`;
}

// Exponential backoff with jitter, so a restarted server is not stampeded.
export function backoffDelay(attempt, base, max) {
  const ceiling = Math.min(max, base * 2 ** attempt);
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

function statusBanner() {
  let banner = document.getElementById("realtime-status");
  if (!banner) {
    banner = document.createElement("div");
    banner.id = "realtime-status";
    banner.className = "realtime-status";
    banner.setAttribute("role", "status");
    banner.hidden = true;
    document.body.appendChild(banner);
  }
  return banner;
}

export function startRealtime({ path = "/ws/portal/" } = {}) {
  if (!("WebSocket" in window)) return null;

  const handlers = new Map(); // stream -> Set of handlers
  const versions = new Map(); // stream -> version of the state the page holds
  const latest = new Map(); // stream -> last snapshot, for subscribers that come late
  const waiting = new Map(); // stream -> changes held while a snapshot is on its way
  const banner = statusBanner();
  let socket = null;
  let attempt = 0;
  let retryTimer = null;
  let pingTimer = null;
  let stopped = false;
  let firstSnapshot = true;

  // The connection state on <html data-realtime="...">, for styles and browser tests.
  function setState(state) {
    document.documentElement.dataset.realtime = state;
  }

  function show(text, linkText) {
    banner.textContent = text;
    if (linkText) {
      const link = document.createElement("a");
      link.href = window.location.pathname;
      link.textContent = linkText;
      banner.append(" ", link);
    }
    banner.hidden = false;
  }

  function hide() {
    banner.hidden = true;
    banner.textContent = "";
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  function emit(stream, message) {
    for (const handler of handlers.get(stream) || []) {
      try {
        handler(message);
      } catch (error) {
        console.error("realtime handler failed", error);
      }
    }
  }

  function requestSnapshot(stream) {
    if (!waiting.has(stream)) waiting.set(stream, []);
    send({ type: "snapshot.request", stream });
  }

  function applySnapshot(stream, data, { fromSocket = true } = {}) {
    const known = versions.get(stream);
    // A snapshot fetched over HTTP may be older than what the socket has already given us.
    if (!fromSocket && known !== undefined && data.version < known) return false;
    versions.set(stream, data.version);
    const snapshot = { type: "snapshot", stream, ...data };
    latest.set(stream, snapshot);
    const held = waiting.get(stream) || [];
    waiting.delete(stream);
    emit(stream, snapshot);
    held.sort((a, b) => a.version - b.version).forEach(applyChange);
    return true;
  }

  function applyChange(message) {
    const stream = message.stream;
    if (typeof stream !== "string" || typeof message.version !== "number") return;
    if (waiting.has(stream)) {
      waiting.get(stream).push(message);
      return;
    }
    const known = versions.get(stream);
    if (known === undefined) {
      requestSnapshot(stream);
      waiting.get(stream).push(message);
      return;
    }
    if (message.version <= known) return; // already part of what we hold
    if (message.version !== known + 1) {
      // A gap: at least one change never reached us. Start again from a snapshot.
      requestSnapshot(stream);
      waiting.get(stream).push(message);
      return;
    }
    versions.set(stream, message.version);
    emit(stream, message);
  }

  function onMessage(event) {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (message.type === "snapshot") {
      const streams = message.streams || {};
      for (const [stream, data] of Object.entries(streams)) applySnapshot(stream, data);
      if (firstSnapshot) {
        // After (re)connecting, bring every other stream this page follows up to date too.
        firstSnapshot = false;
        const wanted = new Set([...handlers.keys(), ...waiting.keys()]);
        for (const stream of wanted) if (!(stream in streams)) requestSnapshot(stream);
      }
    } else if (message.type === "error") {
      if (message.code === "unknown_stream") waiting.clear();
      if (message.code === "rate_limited") {
        setTimeout(() => {
          for (const stream of waiting.keys()) send({ type: "snapshot.request", stream });
        }, 5000);
      }
      console.warn("realtime:", message.code, message.message);
    } else if (message.type !== "pong") {
      applyChange(message);
    }
  }

  function scheduleReconnect() {
    const delay = backoffDelay(attempt, BASE_DELAY_MS, MAX_DELAY_MS);
    attempt += 1;
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, delay);
  }

  function connect() {
    if (stopped) return;
    clearTimeout(retryTimer);
    firstSnapshot = true;
    setState(attempt === 0 && !socket ? "connecting" : "reconnecting");
    const ws = new WebSocket(socketUrl(path));
    socket = ws;
    ws.addEventListener("open", () => {
      attempt = 0;
      hide();
      setState("connected");
      clearInterval(pingTimer);
      pingTimer = setInterval(() => send({ type: "ping" }), PING_EVERY_MS);
    });
    ws.addEventListener("message", onMessage);
    ws.addEventListener("close", (event) => {
      if (socket !== ws) return;
      socket = null;
      clearInterval(pingTimer);
      if (stopped) return;
      if (event.code === SESSION_ENDED) {
        stopped = true;
        setState("ended");
        show("Your session has ended.", "Sign in again");
        window.dispatchEvent(new CustomEvent("tandem:session-ended"));
        return;
      }
      show("Reconnecting…");
      setState("reconnecting");
      scheduleReconnect();
    });
  }

  function reconnectNow() {
    if (stopped || socket) return;
    attempt = 0;
    connect();
  }

  // Leaving the page closes the socket; that is not an outage worth a banner.
  window.addEventListener("pagehide", () => {
    stopped = true;
    if (socket) socket.close(1000);
  });
  window.addEventListener("pageshow", (event) => {
    if (!event.persisted) return; // restored from the back/forward cache
    stopped = false;
    reconnectNow();
  });
  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") reconnectNow();
  });

  const api = {
    subscribe(stream, handler) {
      if (!handlers.has(stream)) handlers.set(stream, new Set());
      handlers.get(stream).add(handler);
      if (latest.has(stream)) {
        handler(latest.get(stream));
      } else if (socket && socket.readyState === WebSocket.OPEN && !firstSnapshot) {
        requestSnapshot(stream);
      }
      return () => handlers.get(stream)?.delete(handler);
    },
    requestSnapshot,
    // For a snapshot fetched over HTTP while the socket is down; ignored if older.
    offerSnapshot(stream, data) {
      return applySnapshot(stream, data, { fromSocket: false });
    },
    version(stream) {
      return versions.get(stream);
    },
    get connected() {
      return Boolean(socket && socket.readyState === WebSocket.OPEN);
    },
    close() {
      stopped = true;
      if (socket) socket.close(1000);
    },
  };
  window.TandemRealtime = api;
  connect();
  return api;
}
