// Scripts of the patient pages (loaded by those pages only).
import { startPhysicianPickers } from "./physician-picker.js";

document.addEventListener("DOMContentLoaded", () => startPhysicianPickers());
