// The staff console of a guided session (protocol: docs/guided-session-protocol.md).
//
// The console is the host: it moves the tablet between steps (NAVIGATE), points at a field
// (HIGHLIGHT_FIELD / CLEAR_HIGHLIGHT), asks for signatures (REQUEST_SIGNATURE /
// WITHDRAW_SIGNATURE), ends or completes the session. Every rule is the server's: a refused
// command comes back as an ERROR and is shown as it is. The mirror shows the patient's answers as
// the server holds them (sensitive ones arrive masked), the field the patient is in, each step's
// state and errors, and whether the tablet is connected.
import { openGuidedSocket } from "./guided-connection.js";
import { choiceLabel, clear, h, isAsked, stepTitle } from "./guided-dom.js";

const OWN_STATUS = {
  connecting: "Connecting…",
  connected: "",
  reconnecting: "Connection to the server lost. Reconnecting…",
  ended: "",
};
const STEP_ORDER_SKIP = new Set(["review"]);

function relative(since) {
  if (!since) return "";
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(since)) / 1000));
  if (seconds < 60) return `${seconds} s`;
  return `${Math.round(seconds / 60)} min`;
}

function start(root) {
  const mirror = root.querySelector("#guided-mirror");
  const presence = root.querySelector("#guided-presence");
  const controls = root.querySelector("#guided-controls");
  const pairing = root.querySelector("#guided-pairing");
  const urls = root.dataset;

  let definition = null;
  let state = {};
  let connection = "connecting";
  let alertText = "";
  let alertFields = {};
  let alertStep = null;
  let reloading = false;

  // Panels the script adds around the server-rendered shell.
  const alertBox = h("div", { class: "guided-alert", role: "alert", id: "guided-alert", hidden: true });
  const navigator = h("nav", { class: "guided-steps", id: "guided-steps", "aria-label": "Steps" });
  const signatureBox = h("div", { class: "guided-signature-controls", id: "guided-signature-controls" });
  presence.after(alertBox);
  (mirror.closest("section") || mirror).before(navigator);
  controls.prepend(signatureBox);

  function send(type, payload = {}) {
    alertText = "";
    alertFields = {};
    socket.send(type, payload);
    render();
  }

  // ------------------------------------------------------------------ presence
  function patientPresence() {
    const entry = state.presence?.patient || { status: "none" };
    const goneAfter = (definition?.presence_gone_after || 30) * 1000;
    if (entry.status === "reconnecting" && entry.since && Date.now() - Date.parse(entry.since) > goneAfter) {
      return { status: "gone", since: entry.since };
    }
    return entry;
  }

  function renderPresence() {
    const own = OWN_STATUS[connection] || "";
    const entry = patientPresence();
    const words = {
      none: "Tablet not paired yet",
      connected: "Tablet connected",
      reconnecting: `Tablet reconnecting (${relative(entry.since)})`,
      gone: `Tablet gone (lost ${relative(entry.since)} ago)`,
    };
    clear(presence);
    presence.className = `guided-presence is-${entry.status}`;
    presence.dataset.patient = entry.status;
    presence.dataset.connection = connection;
    presence.append(h("span", { class: "guided-dot", "aria-hidden": "true" }), words[entry.status] || entry.status);
    if (own) presence.append(h("span", { class: "guided-own" }, ` · ${own}`));
    if (state.status && state.status !== "active") presence.append(` · Session ${state.status}`);
    // Once the tablet is in, the pairing card gets out of the way (a new code stays one click away).
    if (pairing) {
      const paired = entry.status !== "none" && entry.status !== "gone";
      pairing.classList.toggle("is-paired", paired);
      const title = pairing.querySelector("h2");
      if (title) {
        title.dataset.text = title.dataset.text || title.textContent;
        title.textContent = paired ? "Tablet paired" : title.dataset.text;
      }
    }
  }

  // ------------------------------------------------------------------ navigator
  function renderNavigator() {
    clear(navigator);
    const opened = new Set(state.steps_opened || []);
    const signing = state.signature?.status === "requested";
    const active = state.status === "active";
    const list = h("ol", {});
    for (const step of definition.steps) {
      const s = (state.steps || {})[step.key] || {};
      const errors = Object.keys(s.errors || {}).length;
      const missing = (s.missing || []).length;
      let badge = null;
      if (opened.has(step.key) && !STEP_ORDER_SKIP.has(step.key)) {
        if (errors) badge = h("span", { class: "badge badge-danger" }, `${errors} to fix`);
        else if (s.complete) badge = h("span", { class: "badge badge-ok" }, s.ready ? "Done ✓" : "Complete");
        else if (missing) badge = h("span", { class: "badge badge-muted" }, `${missing} missing`);
      } else if (STEP_ORDER_SKIP.has(step.key) && s.ready) {
        badge = h("span", { class: "badge badge-ok" }, "Confirmed ✓");
      }
      const current = step.key === state.step;
      const button = h(
        "button",
        {
          type: "button",
          class: `guided-step-button${current ? " is-current" : ""}${opened.has(step.key) ? " is-opened" : ""}`,
          "aria-current": current ? "step" : null,
          disabled: !active || signing || current || connection !== "connected",
          dataset: { step: step.key },
          title: signing ? "Withdraw the signature request first" : null,
        },
        h("span", { class: "guided-step-name" }, step.title),
        badge,
      );
      button.addEventListener("click", () => send("NAVIGATE", { step: step.key }));
      list.append(h("li", {}, button));
    }
    navigator.append(list);
  }

  // ------------------------------------------------------------------ mirror
  function fieldRow(spec) {
    const values = state.values || {};
    const s = (state.steps || {})[state.step] || {};
    const value = values[spec.name] || "";
    const error = (s.errors || {})[spec.name] || alertFields[spec.name] || "";
    const missing = (s.missing || []).includes(spec.name);
    const highlighted = state.highlight === spec.name;
    const focused = state.focus === spec.name;
    const point = h(
      "button",
      {
        type: "button",
        class: `button small ${highlighted ? "primary" : "secondary"} guided-point`,
        "aria-pressed": highlighted ? "true" : "false",
        disabled: state.status !== "active" || connection !== "connected",
      },
      highlighted ? "Pointed" : "Point",
    );
    point.addEventListener("click", () =>
      highlighted ? send("CLEAR_HIGHLIGHT") : send("HIGHLIGHT_FIELD", { field: spec.name }),
    );
    return h(
      "div",
      {
        class: `guided-mirror-row${highlighted ? " is-highlighted" : ""}${focused ? " is-focused" : ""}${error ? " has-error" : ""}`,
        dataset: { field: spec.name },
      },
      h(
        "div",
        { class: "guided-mirror-label" },
        spec.label,
        spec.sensitive ? h("span", { class: "badge badge-muted" }, "masked") : null,
        focused ? h("span", { class: "badge badge-brand guided-typing" }, "patient is here") : null,
      ),
      h(
        "div",
        { class: "guided-mirror-value", dataset: { value: "" } },
        value ? choiceLabel(spec, value) : h("span", { class: "muted" }, missing && spec.required ? "required, empty" : "—"),
      ),
      error ? h("p", { class: "field-error" }, error) : null,
      h("div", { class: "guided-mirror-tools" }, point),
    );
  }

  function uploadRow(slot) {
    const item = (state.uploads || {})[slot.slot];
    return h(
      "div",
      { class: `guided-mirror-upload${item ? " is-done" : ""}`, dataset: { slot: slot.slot } },
      h("div", { class: "guided-mirror-label" }, slot.label, slot.required ? null : h("span", { class: "optional" }, " (optional)")),
      item ? h("img", { src: item.url, alt: slot.label, loading: "lazy" }) : h("span", { class: "muted" }, alertFields[slot.slot] || "No photo yet"),
    );
  }

  function consentRows() {
    const consents = state.consents || {};
    const signature = state.signature || {};
    const active = state.status === "active" && connection === "connected";
    return h(
      "ul",
      { class: "guided-mirror-consents" },
      (definition.consents || []).map((c) => {
        const s = consents[c.key] || {};
        const requested = signature.status === "requested" && signature.document === c.key;
        let action = null;
        if (state.step === "signatures" && c.requires_signature && !s.signed) {
          if (requested) {
            action = h("button", { type: "button", class: "button small secondary", dataset: { withdraw: c.key } }, "Withdraw request");
            action.addEventListener("click", () => send("WITHDRAW_SIGNATURE"));
          } else {
            action = h(
              "button",
              {
                type: "button",
                class: "button small primary",
                dataset: { request: c.key },
                disabled: !active || !s.acknowledged || signature.status === "requested",
                title: s.acknowledged ? null : "The patient has not agreed to this form yet",
              },
              "Request signature",
            );
            action.addEventListener("click", () => send("REQUEST_SIGNATURE", { document: c.key }));
          }
        }
        return h(
          "li",
          { dataset: { consent: c.key }, class: requested ? "is-requested" : null },
          h("span", { class: "guided-consent-title" }, `${c.title} `, h("span", { class: "muted small" }, `v${c.version}`)),
          h("span", { class: `badge ${s.acknowledged ? "badge-ok" : "badge-muted"}` }, s.acknowledged ? "agreed" : "not agreed"),
          c.requires_signature
            ? h("span", { class: `badge ${s.signed ? "badge-ok" : requested ? "badge-brand" : "badge-muted"}` }, s.signed ? "signed" : requested ? "signing now" : "not signed")
            : null,
          action,
        );
      }),
    );
  }

  function renderMirror() {
    clear(mirror);
    const step = definition.steps.find((s) => s.key === state.step);
    if (!step) {
      mirror.append(h("p", { class: "muted" }, stepTitle(definition, state.step)));
      return;
    }
    const values = state.values || {};
    const s = (state.steps || {})[step.key] || {};
    const head = h(
      "div",
      { class: "guided-mirror-head" },
      h("h3", {}, `On the tablet: ${step.title}`),
      s.ready ? h("span", { class: "badge badge-ok" }, "patient finished this page") : null,
      state.highlight
        ? (() => {
            const b = h("button", { type: "button", class: "button small secondary", id: "guided-clear-highlight" }, "Clear pointer");
            b.addEventListener("click", () => send("CLEAR_HIGHLIGHT"));
            return b;
          })()
        : null,
    );
    mirror.append(head);
    mirror.dataset.step = step.key;
    const fields = step.fields.filter((f) => isAsked(f, values));
    if (fields.length) mirror.append(h("div", { class: "guided-mirror-fields" }, fields.map(fieldRow)));
    const slots = step.uploads.filter((u) => isAsked(u, values));
    if (slots.length) mirror.append(h("div", { class: "guided-mirror-uploads" }, slots.map(uploadRow)));
    if (["consents", "signatures", "review"].includes(step.key)) mirror.append(consentRows());
    if (step.key === "review") {
      // The whole intake at a glance, so staff can read it back before completing.
      for (const other of definition.steps) {
        const rows = other.fields.filter((f) => isAsked(f, values) && values[f.name]);
        if (!rows.length) continue;
        mirror.append(
          h(
            "section",
            { class: "guided-mirror-summary" },
            h("h4", {}, other.title),
            h("dl", { class: "facts" }, rows.map((f) => [h("dt", {}, f.label), h("dd", {}, choiceLabel(f, values[f.name]))])),
          ),
        );
      }
    }
  }

  function renderAlert() {
    alertBox.hidden = !alertText;
    clear(alertBox);
    if (!alertText) return;
    alertBox.append(h("p", {}, alertText));
    const names = Object.entries(alertFields);
    if (names.length) {
      const labels = new Map();
      for (const step of definition?.steps || []) {
        for (const f of step.fields) labels.set(f.name, f.label);
        for (const u of step.uploads) labels.set(u.slot, u.label);
      }
      alertBox.append(
        h("ul", {}, names.map(([name, message]) => h("li", {}, `${labels.get(name) || name}: ${message}`))),
      );
    }
    if (alertStep) alertBox.append(h("p", { class: "small" }, `Both screens are now on “${stepTitle(definition, alertStep)}”.`));
  }

  function renderControls() {
    const active = state.status === "active";
    for (const button of controls.querySelectorAll("#guided-complete, #guided-end")) {
      button.disabled = !active;
    }
  }

  function render() {
    renderPresence();
    renderAlert();
    if (!definition) return;
    renderNavigator();
    renderMirror();
    renderControls();
    root.dataset.status = state.status || "";
    root.dataset.step = state.step || "";
    root.dataset.version = String(socket?.version ?? "");
  }

  // Complete / End go over the socket when it is up (the forms still work without the script).
  function wire(selector, type, confirmText) {
    const button = controls.querySelector(selector);
    const form = button?.closest("form");
    if (!form) return;
    form.addEventListener("submit", (event) => {
      if (connection !== "connected") return; // the plain POST does the same
      event.preventDefault();
      if (confirmText && !window.confirm(confirmText)) return;
      send(type);
    });
  }
  wire("#guided-complete", "COMPLETE", null);
  wire("#guided-end", "END_SESSION", "End this session? Nothing is written to the patient record.");

  const socket = openGuidedSocket({
    path: urls.socketUrl,
    endedCodes: [4401, 4403],
    onState(next) {
      connection = next;
      if (definition) render();
      else renderPresence();
    },
    onSnapshot(message) {
      definition = message.definition;
      state = message.state;
      render();
    },
    onEvent(message) {
      if (message.state) state = { ...state, ...message.state };
      if (message.type === "NAVIGATE" && message.by === "staff") alertStep = null;
      if (message.type === "SESSION_ENDED" || (state.status && state.status !== "active")) {
        // The server renders the outcome (and the record link once completed).
        if (!reloading) window.setTimeout(() => window.location.reload(), 300);
        reloading = true;
      }
      render();
    },
    onError(message) {
      alertText = message.message || "That did not work.";
      alertFields = message.fields || {};
      alertStep = message.step || null;
      render();
    },
    onEnded() {
      render();
    },
  });

  // How long the pairing code has left (the server refuses it after that; "New code" makes one).
  const expiresAt = pairing && Date.parse(pairing.dataset.expiresAt || "");
  const countdown = expiresAt ? h("p", { class: "small guided-code-expiry", id: "guided-code-expiry" }) : null;
  if (countdown) pairing.querySelector("#guided-code")?.after(countdown);
  function renderCountdown() {
    if (!countdown) return;
    const left = Math.round((expiresAt - Date.now()) / 60000);
    countdown.textContent = left > 0 ? `Expires in about ${left} min.` : "This code has expired: make a new one.";
    countdown.classList.toggle("field-error", left <= 0);
  }
  renderCountdown();

  // Presence ages ("reconnecting 12 s", then "gone") without any message arriving.
  window.setInterval(() => {
    renderPresence();
    renderCountdown();
  }, 5000);
  window.TandemGuidedConsole = { get version() { return socket.version; } };
}

function init() {
  const root = document.getElementById("guided-console");
  if (root && root.dataset.status === "active") start(root);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
else init();
