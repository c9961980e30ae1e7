// Signature capture (guided sessions, proof of delivery) through this bundle.
import SignaturePad from "signature_pad";

window.TandemSignaturePad = SignaturePad;
