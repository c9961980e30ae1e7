// Bundles the portal's front-end entry points from npm packages into static/dist.
import { build } from "esbuild";
import { cpSync, mkdirSync } from "node:fs";

const entries = {
  portal: "static/src/portal.js",
  calendar: "static/src/calendar.js",
  signature: "static/src/signature.js",
  documents: "static/src/documents.js",
  "guided-staff": "static/src/guided-staff.js",
  "guided-device": "static/src/guided-device.js",
  comms: "static/src/comms.js",
  patients: "static/src/patients.js",
};

mkdirSync("static/dist", { recursive: true });
await build({
  entryPoints: entries,
  bundle: true,
  minify: true,
  sourcemap: true,
  format: "iife",
  target: ["es2020"],
  outdir: "static/dist/js",
  logLevel: "warning",
});
await build({
  entryPoints: { portal: "static/src/portal.css", documents: "static/src/documents.css", guided: "static/src/guided.css", scheduling: "static/src/scheduling.css", comms: "static/src/comms.css" },
  bundle: true,
  minify: true,
  outdir: "static/dist/css",
  logLevel: "warning",
});
cpSync("static/src/img", "static/dist/img", { recursive: true });
console.log("assets built into static/dist");
