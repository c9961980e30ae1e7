// The portal's one script: htmx plus the shell behaviours every page shares.
import htmx from "htmx.org";
import { startIdleWatch } from "./portal/idle.js";
import { startRealtime } from "./portal/realtime.js";
import { startNotifications } from "./portal/notifications.js";
import { startShell } from "./portal/shell.js";

window.htmx = htmx;

// htmx requests carry the CSRF token from the page's meta tag.
document.addEventListener("htmx:configRequest", (event) => {
  const token = document.querySelector('meta[name="csrf-token"]')?.content;
  if (token) event.detail.headers["X-CSRFToken"] = token;
});

document.addEventListener("DOMContentLoaded", () => {
  startShell();
  const body = document.body;
  if (body.dataset.signedIn !== "true") return;
  startIdleWatch(body.dataset);
  const realtime = startRealtime();
  startNotifications(realtime);
});
