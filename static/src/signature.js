// Signature capture (guided sessions, proof of delivery) through this bundle.
import SignaturePad from "signature_pad";

window.TandemSignaturePad = SignaturePad;

// Any form with a [data-signature-pad] canvas: the drawing is sent as a PNG data URL in the
// [data-signature-input] field (the server validates it); [data-signature-clear] starts over.
function signatureFormsWire() {
  document.querySelectorAll("form[data-signature-form]").forEach((form) => {
    const canvas = form.querySelector("canvas[data-signature-pad]");
    const input = form.querySelector("[data-signature-input]");
    if (!canvas || !input) return;
    const ratio = Math.max(window.devicePixelRatio || 1, 1);
    canvas.width = canvas.offsetWidth * ratio;
    canvas.height = canvas.offsetHeight * ratio;
    canvas.getContext("2d").scale(ratio, ratio);
    const pad = new SignaturePad(canvas, { backgroundColor: "rgb(255,255,255)" });
    const clear = form.querySelector("[data-signature-clear]");
    if (clear) clear.addEventListener("click", () => pad.clear());
    form.addEventListener("submit", () => {
      input.value = pad.isEmpty() ? "" : pad.toDataURL("image/png");
    });
  });
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", signatureFormsWire);
} else {
  signatureFormsWire();
}
