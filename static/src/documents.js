// Documents page: drag and drop onto the upload form (progressive enhancement; the plain
// file input and submit button work without this script).

function describe(files) {
  if (!files || files.length === 0) return "";
  return files.length === 1 ? "1 file chosen." : `${files.length} files chosen.`;
}

function enhance(zone) {
  const input = zone.querySelector('input[type="file"]');
  const chosen = zone.querySelector("[data-dropzone-chosen]");
  if (!input) return;
  const show = () => {
    if (chosen) chosen.textContent = describe(input.files);
  };
  input.addEventListener("change", show);
  zone.classList.add("is-enhanced");
  ["dragenter", "dragover"].forEach((name) =>
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("is-dragover");
    }),
  );
  ["dragleave", "dragend"].forEach((name) =>
    zone.addEventListener(name, () => zone.classList.remove("is-dragover")),
  );
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("is-dragover");
    const dropped = event.dataTransfer && event.dataTransfer.files;
    if (!dropped || dropped.length === 0) return;
    // Add to what was already chosen; the server checks every file's content anyway.
    const all = new DataTransfer();
    Array.from(input.files || []).forEach((f) => all.items.add(f));
    Array.from(dropped).forEach((f) => all.items.add(f));
    input.files = all.files;
    show();
  });
}

function init() {
  document.querySelectorAll("[data-dropzone]").forEach(enhance);
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", init);
} else {
  init();
}
