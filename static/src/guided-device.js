// The patient tablet of a guided session (protocol: docs/guided-session-protocol.md).
//
// The tablet only enters data: it shows the step the staff opened, sends what is typed as it is
// typed (debounced FIELD_CHANGED, resent after a reconnect until acknowledged), uploads photos and
// signatures over HTTP and reports them on the socket. It never moves between steps itself.
// Nothing is kept in localStorage or sessionStorage; when the session ends the page empties
// itself and leaves for the neutral pairing screen.
import SignaturePad from "signature_pad";
import { openGuidedSocket } from "./guided-connection.js";
import { choiceLabel, clear, csrfToken, h, isAsked } from "./guided-dom.js";

const TYPE_DELAY_MS = 300;
const SESSION_CLOSED = 4410;
const STATUS_TEXT = {
  connecting: "Connecting…",
  connected: "",
  reconnecting: "Connection lost. Reconnecting… Everything you typed is kept.",
  ended: "This session has ended.",
};

function start(root) {
  const stepRoot = root.querySelector("#guided-step");
  const signingRoot = root.querySelector("#guided-signing");
  const status = root.querySelector("#guided-status");
  const urls = root.dataset;

  let definition = null;
  let state = {};
  let renderedStep = null;
  let renderedOpened = "";
  let ended = false;
  let pad = null;
  let signingFor = null;
  const timers = new Map(); // field -> debounce timer
  const shownErrors = {}; // field -> message from the last validation ERROR
  const notes = new Map(); // slot / consent -> a message next to it
  let stepMessage = "";

  // ------------------------------------------------------------------ the end of a session
  function leave() {
    if (ended) return;
    ended = true;
    for (const timer of timers.values()) clearTimeout(timer);
    timers.clear();
    socket.stop();
    if (pad) pad.off();
    pad = null;
    definition = null;
    state = {};
    // Nothing of the patient stays in the page, even for the moment before the next one loads.
    clear(stepRoot);
    clear(signingRoot);
    signingRoot.hidden = true;
    document.body.classList.remove("is-signing");
    try {
      window.localStorage.clear();
      window.sessionStorage.clear();
    } catch {
      // storage may be disabled; there is nothing in it then
    }
    status.textContent = STATUS_TEXT.ended;
    status.hidden = false;
    window.location.replace(urls.pairUrl);
  }

  // ------------------------------------------------------------------ sending
  function sendField(name, value) {
    clearTimeout(timers.get(name));
    timers.delete(name);
    socket.send("FIELD_CHANGED", { field: name, value }, { replaceKey: `field:${name}` });
  }

  function typed(name, value, { now = false } = {}) {
    // Answers that decide which other fields are asked show their effect at once, locally.
    state.values = { ...(state.values || {}), [name]: value };
    if (now) {
      sendField(name, value);
    } else {
      clearTimeout(timers.get(name));
      timers.set(name, setTimeout(() => sendField(name, value), TYPE_DELAY_MS));
    }
  }

  function flushTyping() {
    for (const name of [...timers.keys()]) {
      const input = stepRoot.querySelector(`[name="${CSS.escape(name)}"]`);
      if (input) sendField(name, input.value);
    }
  }

  function focusField(name) {
    socket.send("FIELD_FOCUS", { field: name }, { replaceKey: "focus" });
  }

  // ------------------------------------------------------------------ rendering
  function currentStep() {
    return definition.steps.find((s) => s.key === state.step);
  }

  function fieldInput(spec) {
    const id = `g-${spec.name}`;
    const value = (state.values || {})[spec.name] || "";
    let input;
    if (spec.type === "select") {
      input = h(
        "select",
        { id, name: spec.name },
        h("option", { value: "" }, "Choose…"),
        (spec.choices || []).map((c) => h("option", { value: c.value }, c.label)),
      );
    } else {
      const type = { date: "date", email: "email", tel: "tel" }[spec.type] || "text";
      input = h("input", {
        id,
        name: spec.name,
        type,
        maxlength: spec.max_length || null,
        autocomplete: "off",
        autocapitalize: type === "text" ? "words" : null,
        inputmode: type === "tel" ? "tel" : null,
        spellcheck: "false",
      });
    }
    input.value = value;
    input.dataset.field = spec.name;
    const immediate = spec.type === "select" || spec.type === "date";
    input.addEventListener("input", () => typed(spec.name, input.value, { now: immediate }));
    input.addEventListener("change", () => {
      typed(spec.name, input.value, { now: true });
      if (immediate) renderConditional();
    });
    input.addEventListener("focus", () => focusField(spec.name));
    input.addEventListener("blur", () => {
      if (timers.has(spec.name)) sendField(spec.name, input.value);
    });
    const errorId = `${id}-error`;
    return h(
      "div",
      { class: "guided-field", dataset: { field: spec.name } },
      h("label", { for: id }, spec.label, spec.required ? null : h("span", { class: "optional" }, " (optional)")),
      input,
      h("p", { class: "field-error", id: errorId, hidden: true }),
    );
  }

  function uploadSlot(slot) {
    const id = `g-upload-${slot.slot}`;
    const input = h("input", {
      id,
      type: "file",
      accept: "image/*",
      capture: "environment",
      class: "guided-file",
      dataset: { slot: slot.slot },
    });
    input.addEventListener("change", () => upload(slot, input));
    return h(
      "div",
      { class: "guided-upload", dataset: { slot: slot.slot } },
      h("h3", {}, slot.label, slot.required ? null : h("span", { class: "optional" }, " (optional)")),
      h("div", { class: "guided-upload-preview" }),
      h("label", { for: id, class: "button primary guided-upload-button" }, "Take a photo"),
      input,
      h("p", { class: "guided-upload-note", role: "status" }),
    );
  }

  async function upload(slot, input) {
    const file = input.files && input.files[0];
    if (!file) return;
    notes.set(slot.slot, "Sending the photo…");
    updateUploads();
    const body = new FormData();
    body.append("slot", slot.slot);
    body.append("file", file);
    try {
      const response = await fetch(urls.uploadUrl, {
        method: "POST",
        body,
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(root) },
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) {
        notes.set(slot.slot, answer.error || "The photo could not be saved. Please try again.");
      } else {
        notes.set(slot.slot, "Photo saved.");
        socket.send("DOCUMENT_UPLOADED", { slot: slot.slot, upload: answer.upload });
      }
    } catch {
      notes.set(slot.slot, "The photo could not be sent: the connection is down. Please try again.");
    }
    input.value = "";
    updateUploads();
  }

  function consentCard(consent, index) {
    const text = h("div", { class: "guided-consent-text", tabindex: "0" }, consent.body);
    const agree = h(
      "button",
      { type: "button", class: "button primary guided-consent-agree", disabled: true },
      "I have read this and agree",
    );
    const hint = h("p", { class: "small muted guided-consent-hint" }, "Scroll to the end of the text to continue.");
    const checkEnd = () => {
      if (text.scrollTop + text.clientHeight >= text.scrollHeight - 4) {
        agree.disabled = false;
        hint.hidden = true;
      }
    };
    text.addEventListener("scroll", checkEnd);
    agree.addEventListener("click", () => {
      agree.disabled = true;
      socket.send("CONSENT_ACKNOWLEDGED", { consent: consent.key, scrolled_to_end: true });
    });
    requestAnimationFrame(checkEnd);
    return h(
      "article",
      { class: "guided-consent", dataset: { consent: consent.key } },
      h(
        "header",
        { class: "guided-consent-header" },
        h("h3", {}, `${index + 1}. ${consent.title}`),
        h("span", { class: "badge guided-consent-state" }),
      ),
      h("div", { class: "guided-consent-body" }, text, hint, agree),
    );
  }

  function signatureRow(consent) {
    return h(
      "li",
      { class: "guided-signature-row", dataset: { consent: consent.key } },
      h("span", {}, consent.title),
      h("span", { class: "badge guided-signature-state" }),
    );
  }

  function reviewBlock() {
    const values = state.values || {};
    const blocks = [];
    for (const step of definition.steps) {
      if (["consents", "signatures", "review"].includes(step.key)) continue;
      const rows = [];
      for (const spec of step.fields) {
        if (!isAsked(spec, values)) continue;
        const value = values[spec.name];
        rows.push(h("dt", {}, spec.label), h("dd", {}, value ? choiceLabel(spec, value) : "—"));
      }
      for (const slot of step.uploads) {
        if (!isAsked(slot, values)) continue;
        rows.push(h("dt", {}, slot.label), h("dd", {}, (state.uploads || {})[slot.slot] ? "Photo taken" : "—"));
      }
      if (rows.length) blocks.push(h("section", { class: "guided-review-step" }, h("h3", {}, step.title), h("dl", { class: "facts" }, rows)));
    }
    const consents = (definition.consents || []).map((c) => {
      const s = (state.consents || {})[c.key] || {};
      const words = [s.acknowledged ? "read and agreed" : "not yet agreed"];
      if (c.requires_signature) words.push(s.signed ? "signed" : "not signed");
      return h("li", {}, `${c.title}: ${words.join(", ")}`);
    });
    if (consents.length) blocks.push(h("section", { class: "guided-review-step" }, h("h3", {}, "Consent forms"), h("ul", {}, consents)));
    return h("div", { class: "guided-review" }, blocks);
  }

  function progress() {
    const opened = new Set(state.steps_opened || []);
    return h(
      "ol",
      { class: "guided-progress", "aria-label": "Steps" },
      definition.steps.map((s) =>
        h(
          "li",
          {
            class: `${s.key === state.step ? "is-current" : ""} ${opened.has(s.key) ? "is-opened" : ""}`.trim() || null,
            "aria-current": s.key === state.step ? "step" : null,
            dataset: { step: s.key },
          },
          s.title,
        ),
      ),
    );
  }

  function renderStep() {
    const step = currentStep();
    clear(stepRoot);
    renderedStep = state.step;
    renderedOpened = (state.steps_opened || []).join(",");
    stepMessage = "";
    if (!step) return;
    const body = h("div", { class: "guided-step-body" });
    if (step.key === "consents") {
      body.append(h("p", { class: "lede" }, "Please read each form to the end, then agree to it."));
      (definition.consents || []).forEach((c, i) => body.append(consentCard(c, i)));
    } else if (step.key === "signatures") {
      const needed = (definition.consents || []).filter((c) => c.requires_signature);
      body.append(
        h("p", { class: "lede" }, "The staff member will ask you to sign each form in turn."),
        h("ul", { class: "guided-signature-list" }, needed.map(signatureRow)),
      );
    } else if (step.key === "review") {
      body.append(h("p", { class: "lede" }, "Please check your answers. Tell the staff member if anything needs changing."), reviewBlock());
    } else {
      body.append(h("div", { class: "guided-fields" }, step.fields.map(fieldInput)));
      if (step.uploads.length) body.append(h("div", { class: "guided-uploads" }, step.uploads.map(uploadSlot)));
    }
    const ready = h(
      "button",
      { type: "button", class: "button primary guided-ready", id: "guided-ready" },
      step.key === "review" ? "Everything is correct" : "I have finished this page",
    );
    ready.addEventListener("click", () => {
      flushTyping();
      socket.send("STEP_READY", { step: step.key });
    });
    stepRoot.append(
      progress(),
      h("h1", { class: "guided-step-title", tabindex: "-1" }, step.title),
      body,
      h(
        "footer",
        { class: "guided-step-footer" },
        h("p", { class: "guided-step-message", role: "status", id: "guided-step-message" }),
        ready,
      ),
    );
    stepRoot.dataset.step = step.key;
    update();
    stepRoot.querySelector(".guided-step-title").focus({ preventScroll: true });
    window.scrollTo({ top: 0 });
  }

  function renderConditional() {
    const values = state.values || {};
    const step = currentStep();
    if (!step) return;
    for (const spec of [...step.fields, ...step.uploads]) {
      const key = spec.name || spec.slot;
      const node = stepRoot.querySelector(spec.name ? `.guided-field[data-field="${key}"]` : `.guided-upload[data-slot="${key}"]`);
      if (node) node.hidden = !isAsked(spec, values);
    }
  }

  function updateFields() {
    const values = state.values || {};
    const step = currentStep();
    const status = (state.steps || {})[state.step] || {};
    for (const spec of step?.fields || []) {
      const wrap = stepRoot.querySelector(`.guided-field[data-field="${spec.name}"]`);
      if (!wrap) continue;
      const input = wrap.querySelector("[name]");
      // Never overwrite what the patient is typing or what has not reached the server yet.
      const busy = document.activeElement === input || timers.has(spec.name) || socket.hasPending(`field:${spec.name}`);
      const value = values[spec.name] || "";
      if (!busy && input.value !== value) input.value = value;
      const message = (status.errors || {})[spec.name] || shownErrors[spec.name] || "";
      const error = wrap.querySelector(".field-error");
      error.textContent = message;
      error.hidden = !message;
      if (message) {
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", error.id);
      } else {
        input.removeAttribute("aria-invalid");
        input.removeAttribute("aria-describedby");
      }
    }
    renderConditional();
  }

  function updateUploads() {
    const uploads = state.uploads || {};
    for (const node of stepRoot.querySelectorAll(".guided-upload")) {
      const slot = node.dataset.slot;
      const item = uploads[slot];
      const preview = node.querySelector(".guided-upload-preview");
      const src = item ? item.url : "";
      if (preview.dataset.src !== src) {
        clear(preview);
        preview.dataset.src = src;
        if (src) preview.append(h("img", { src, alt: `Photo: ${node.querySelector("h3").firstChild.textContent}` }));
        else preview.append(h("span", { class: "muted" }, "No photo yet"));
      }
      node.classList.toggle("is-done", Boolean(item));
      const button = node.querySelector(".guided-upload-button");
      button.textContent = item ? "Take it again" : "Take a photo";
      button.className = `button ${item ? "secondary" : "primary"} guided-upload-button`;
      const note = (shownErrors[slot] && !item ? shownErrors[slot] : notes.get(slot)) || "";
      node.querySelector(".guided-upload-note").textContent = note;
    }
  }

  function updateConsents() {
    const consents = state.consents || {};
    let nextFound = false;
    for (const node of stepRoot.querySelectorAll(".guided-consent")) {
      const s = consents[node.dataset.consent] || {};
      // One by one: the first form not yet agreed is open; the ones after it wait their turn.
      const isNext = !s.acknowledged && !nextFound;
      if (isNext) nextFound = true;
      node.classList.toggle("is-done", Boolean(s.acknowledged));
      node.classList.toggle("is-next", isNext);
      node.querySelector(".guided-consent-body").hidden = !isNext;
      const badge = node.querySelector(".guided-consent-state");
      badge.textContent = s.acknowledged ? "Agreed" : isNext ? "To read" : "Next";
      badge.className = `badge guided-consent-state ${s.acknowledged ? "badge-ok" : isNext ? "badge-brand" : "badge-muted"}`;
      if (isNext) requestAnimationFrame(() => node.querySelector(".guided-consent-text").dispatchEvent(new Event("scroll")));
    }
    for (const node of stepRoot.querySelectorAll(".guided-signature-row")) {
      const s = consents[node.dataset.consent] || {};
      const requested = state.signature?.status === "requested" && state.signature.document === node.dataset.consent;
      const badge = node.querySelector(".guided-signature-state");
      badge.textContent = s.signed ? "Signed" : requested ? "Signing now" : "Waiting";
      badge.className = `badge guided-signature-state ${s.signed ? "badge-ok" : requested ? "badge-brand" : "badge-muted"}`;
    }
  }

  function updateHighlight() {
    for (const node of stepRoot.querySelectorAll(".is-highlighted")) node.classList.remove("is-highlighted");
    const name = state.highlight;
    if (!name) return;
    const node = stepRoot.querySelector(`.guided-field[data-field="${CSS.escape(name)}"]`);
    if (!node) return;
    node.classList.add("is-highlighted");
    node.scrollIntoView({ block: "center", behavior: "smooth" });
  }

  function updateFooter() {
    const ready = stepRoot.querySelector("#guided-ready");
    const message = stepRoot.querySelector("#guided-step-message");
    if (!ready) return;
    const s = (state.steps || {})[state.step] || {};
    ready.hidden = state.step === "signatures";
    message.textContent = stepMessage || (s.ready ? "Thank you. The staff member will take you to the next page." : "");
  }

  function updateSigning() {
    const requested = state.signature?.status === "requested" ? state.signature.document : null;
    if (requested === signingFor) return;
    signingFor = requested;
    if (pad) pad.off();
    pad = null;
    clear(signingRoot);
    document.body.classList.toggle("is-signing", Boolean(requested));
    stepRoot.inert = Boolean(requested);
    signingRoot.hidden = !requested;
    if (!requested) return;
    const consent = (definition.consents || []).find((c) => c.key === requested) || { title: requested };
    const canvas = h("canvas", { class: "guided-signature-canvas", "aria-label": "Signature area: sign with your finger" });
    const note = h("p", { class: "guided-signing-note", role: "status" });
    const submit = h("button", { type: "button", class: "button primary", id: "guided-sign" }, "Sign");
    const again = h("button", { type: "button", class: "button secondary" }, "Clear");
    signingRoot.append(
      h(
        "div",
        { class: "guided-signing-panel", role: "dialog", "aria-modal": "true", "aria-labelledby": "guided-signing-title" },
        h("h2", { id: "guided-signing-title" }, "Please sign"),
        h("p", { class: "lede" }, consent.title),
        h("div", { class: "guided-signature-box" }, canvas, h("span", { class: "guided-signature-line", "aria-hidden": "true" }, "Sign above the line")),
        note,
        h("div", { class: "guided-signing-actions" }, again, submit),
      ),
    );
    const ratio = Math.max(window.devicePixelRatio || 1, 1);
    const fit = () => {
      const data = pad ? pad.toData() : null;
      canvas.width = canvas.offsetWidth * ratio;
      canvas.height = canvas.offsetHeight * ratio;
      canvas.getContext("2d").scale(ratio, ratio);
      if (pad) {
        pad.clear();
        if (data) pad.fromData(data);
      }
    };
    fit();
    pad = new SignaturePad(canvas, { minWidth: 1, maxWidth: 3, penColor: "#0f172a", backgroundColor: "rgb(255,255,255)" });
    again.addEventListener("click", () => {
      pad.clear();
      note.textContent = "";
    });
    submit.addEventListener("click", () => sign(requested, submit, note));
  }

  async function sign(documentKey, button, note) {
    if (!pad || pad.isEmpty()) {
      note.textContent = "Please sign in the box first.";
      return;
    }
    button.disabled = true;
    note.textContent = "Saving your signature…";
    const blob = await new Promise((resolve) => pad.canvas.toBlob(resolve, "image/png"));
    const body = new FormData();
    body.append("document", documentKey);
    body.append("image", blob, "signature.png");
    try {
      const response = await fetch(urls.signatureUrl, {
        method: "POST",
        body,
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(root) },
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) {
        note.textContent = answer.error || "The signature could not be saved. Please try again.";
        button.disabled = false;
        return;
      }
      note.textContent = "Signature saved.";
      socket.send("SIGNATURE_SUBMITTED", { document: documentKey, signature: answer.signature });
    } catch {
      note.textContent = "The connection is down. Your signature is still here; tap Sign again in a moment.";
      button.disabled = false;
    }
  }

  function update() {
    if (!definition) return;
    const opened = (state.steps_opened || []).join(",");
    if (state.step !== renderedStep || (state.step === "review" && opened !== renderedOpened)) {
      renderStep();
      return;
    }
    if (opened !== renderedOpened) {
      renderedOpened = opened;
      const list = stepRoot.querySelector(".guided-progress");
      if (list) list.replaceWith(progress());
    }
    updateFields();
    updateUploads();
    updateConsents();
    updateHighlight();
    updateFooter();
    updateSigning();
    if (state.step === "review") {
      const review = stepRoot.querySelector(".guided-review");
      if (review) review.replaceWith(reviewBlock());
    }
  }

  // The server's values with what this tablet typed and the server has not acknowledged yet.
  function withLocal(serverValues) {
    const values = { ...(serverValues || {}) };
    for (const message of socket.pendingMessages()) {
      if (message.type === "FIELD_CHANGED") values[message.field] = message.value;
    }
    for (const name of timers.keys()) {
      if (state.values && name in state.values) values[name] = state.values[name];
    }
    return values;
  }

  function checkStatus() {
    if (state.status && state.status !== "active") leave();
  }

  // ------------------------------------------------------------------ the socket
  const socket = openGuidedSocket({
    path: urls.socketUrl,
    endedCodes: [SESSION_CLOSED, 4403],
    onState(connection) {
      status.textContent = STATUS_TEXT[connection] ?? "";
      status.hidden = connection === "connected";
      status.className = `guided-status is-${connection}`;
      root.dataset.connection = connection;
    },
    onSnapshot(message) {
      definition = message.definition;
      const previousStep = state.step;
      // Local answers that have not reached the server yet win over the snapshot's.
      state = { ...message.state, values: withLocal(message.state.values) };
      if (previousStep !== state.step) renderedStep = null;
      checkStatus();
      if (!ended) update();
    },
    onEvent(message) {
      if (message.type === "SESSION_ENDED") {
        leave();
        return;
      }
      if (message.state) {
        const next = { ...state, ...message.state };
        if (message.state.values) {
          // Keep what is being typed here; the server has an older copy of it for a moment.
          next.values = withLocal(message.state.values);
        }
        state = next;
      }
      if (message.type === "NAVIGATE") {
        for (const key of Object.keys(shownErrors)) delete shownErrors[key];
        notes.clear();
      }
      checkStatus();
      if (!ended) update();
    },
    onError(message, refused) {
      if (message.code === "validation") {
        for (const key of Object.keys(shownErrors)) delete shownErrors[key];
        Object.assign(shownErrors, message.fields || {});
        stepMessage = message.message || "Some answers need fixing.";
      } else if (refused?.type === "FIELD_CHANGED" && message.code !== "rate_limited") {
        shownErrors[refused.field] = message.message;
      } else if (refused && refused.type !== "FIELD_FOCUS") {
        stepMessage = message.message || "";
      }
      if (!ended) update();
    },
    onEnded() {
      leave();
    },
  });
  // For the browser test: the socket can be dropped as a network failure would drop it.
  window.TandemGuided = { drop: () => socket.dropForTest(), get pending() { return socket.pendingCount; } };
}

// The pairing page: a scanned QR code opens /guided/pair/#code=123456 (the code stays in the
// fragment, out of server logs); put it in the form and send it, then drop it from the address.
function pairFromFragment(form) {
  const match = /(?:^|[#&])code=(\d{6})(?:&|$)/.exec(window.location.hash);
  window.history.replaceState(null, "", window.location.pathname + window.location.search);
  if (!match) return;
  const input = form.querySelector("#guided-code-input");
  if (!input || form.querySelector("#guided-pair-error")) return;
  input.value = match[1];
  form.requestSubmit();
}

function init() {
  const root = document.getElementById("guided-device");
  if (root) start(root);
  const form = document.getElementById("guided-pair-form");
  if (form) pairFromFragment(form);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
else init();
