// Scripts of the patient pages (loaded by those pages only).
import { startPickers } from "./picker.js";

document.addEventListener("DOMContentLoaded", () => startPickers());
