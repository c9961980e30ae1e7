// One guided-session socket (protocol: docs/guided-session-protocol.md), shared by the staff
// console and the patient tablet.
//
// What it adds over a bare WebSocket:
// - reconnects by itself (short backoff with jitter; at once when the browser is back online or
//   the tab is visible again) and shows the state on <html data-guided="..."> for styles/tests;
// - follows the session version: a snapshot resets it, an event must be version + 1, an older one
//   is ignored, a gap asks for a new snapshot and holds later events until it arrives;
// - keeps every command it sent until the server acknowledges its client message id, and sends
//   the unacknowledged ones again after a reconnect (the server applies an id once), so input
//   typed while the connection is down reaches the server when it comes back. Commands that
//   replace each other (the same field typed again) share a key and only the latest is kept.
// Nothing is written to localStorage or sessionStorage: what is not acknowledged lives only in
// this page's memory.

import { backoffDelay, socketUrl } from "./portal/realtime.js";

const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 8000;
const PING_EVERY_MS = 20000;

let counter = 0;
export function messageId() {
  // crypto.randomUUID needs a secure context; a clinic tablet on plain http may not have one.
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  counter += 1;
  const random = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${Date.now().toString(36)}-${counter.toString(36)}-${random}`;
}

export function openGuidedSocket({
  path,
  onSnapshot,
  onEvent,
  onError = () => {},
  onAck = () => {},
  onState = () => {},
  onEnded = () => {},
  endedCodes = [],
}) {
  let socket = null;
  let attempt = 0;
  let retryTimer = null;
  let pingTimer = null;
  let stopped = false;
  let version = null; // the version of the state the page holds; null until a snapshot
  let awaitingSnapshot = true;
  let held = []; // events that came while a snapshot is on its way
  const pending = new Map(); // client message id -> message, in the order they were made
  const keyed = new Map(); // replace key -> client message id

  function setState(state) {
    document.documentElement.dataset.guided = state;
    onState(state);
  }

  function transmit(message) {
    if (socket && socket.readyState === WebSocket.OPEN && !awaitingSnapshot) {
      socket.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  function requestSnapshot() {
    awaitingSnapshot = true;
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "SNAPSHOT_REQUEST", id: messageId() }));
    }
  }

  function flushPending() {
    for (const message of pending.values()) transmit(message);
  }

  function applySnapshot(message) {
    version = message.version;
    awaitingSnapshot = false;
    const later = held.filter((m) => m.version > version).sort((a, b) => a.version - b.version);
    held = [];
    onSnapshot(message);
    later.forEach(applyEvent);
    flushPending();
  }

  function applyEvent(message) {
    if (awaitingSnapshot) {
      held.push(message);
      return;
    }
    if (message.version <= version) return; // already part of what we hold
    if (message.version !== version + 1) {
      held.push(message);
      requestSnapshot();
      return;
    }
    version = message.version;
    onEvent(message);
  }

  function acknowledge(id) {
    const message = pending.get(id);
    if (!message) return;
    pending.delete(id);
    if (message.__key && keyed.get(message.__key) === id) keyed.delete(message.__key);
    onAck(message);
  }

  function onMessage(event) {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    const type = message.type;
    if (type === "SNAPSHOT") {
      applySnapshot(message);
    } else if (type === "ACK") {
      acknowledge(message.id);
    } else if (type === "ERROR") {
      // A refused command is answered once; sending it again would be refused again.
      if (message.id) {
        const refused = pending.get(message.id);
        pending.delete(message.id);
        if (refused?.__key && keyed.get(refused.__key) === message.id) keyed.delete(refused.__key);
        onError(message, refused);
      } else {
        onError(message, null);
      }
    } else if (type === "SESSION_ENDED") {
      // Final whatever its version: it may share the version of the event that ended the session.
      if (typeof message.version === "number" && version !== null) version = Math.max(version, message.version);
      onEvent(message);
    } else if (type === "PONG") {
      // keeps the connection warm; nothing to do
    } else if (typeof message.version === "number") {
      if (message.id) acknowledge(message.id);
      applyEvent(message);
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
    awaitingSnapshot = true;
    setState(version === null && attempt === 0 ? "connecting" : "reconnecting");
    const ws = new WebSocket(socketUrl(path));
    socket = ws;
    ws.addEventListener("open", () => {
      attempt = 0;
      setState("connected");
      clearInterval(pingTimer);
      pingTimer = setInterval(() => {
        if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "PING" }));
      }, PING_EVERY_MS);
    });
    ws.addEventListener("message", onMessage);
    ws.addEventListener("close", (event) => {
      if (socket !== ws) return;
      socket = null;
      clearInterval(pingTimer);
      if (stopped) return;
      if (endedCodes.includes(event.code)) {
        stop();
        setState("ended");
        onEnded(event.code);
        return;
      }
      setState("reconnecting");
      scheduleReconnect();
    });
  }

  function reconnectNow() {
    if (stopped) return;
    if (socket && socket.readyState <= WebSocket.OPEN) return;
    attempt = 0;
    connect();
  }

  function stop() {
    stopped = true;
    clearTimeout(retryTimer);
    clearInterval(pingTimer);
    pending.clear();
    keyed.clear();
    held = [];
    if (socket) socket.close(1000);
    socket = null;
  }

  // The browser knows the network went away before the socket does: say so at once.
  window.addEventListener("offline", () => {
    if (!stopped) setState("reconnecting");
  });
  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") reconnectNow();
  });
  window.addEventListener("pagehide", () => {
    if (socket) socket.close(1000);
  });

  connect();

  return {
    // Send a command; returns its client message id. `replaceKey` drops an earlier unacknowledged
    // command with the same key (only the latest value of a field matters).
    send(type, payload = {}, { replaceKey = null } = {}) {
      const id = messageId();
      const message = { type, id, ...payload };
      if (replaceKey) {
        const earlier = keyed.get(replaceKey);
        if (earlier) pending.delete(earlier);
        keyed.set(replaceKey, id);
        Object.defineProperty(message, "__key", { value: replaceKey, enumerable: false });
      }
      pending.set(id, message);
      transmit(message);
      return id;
    },
    hasPending(replaceKey) {
      return keyed.has(replaceKey);
    },
    pendingMessages() {
      return [...pending.values()];
    },
    get pendingCount() {
      return pending.size;
    },
    get version() {
      return version;
    },
    requestSnapshot,
    stop,
    // For tests and the "drop" button in development: close as a network failure would.
    dropForTest() {
      if (socket) socket.close(4000);
    },
  };
}
