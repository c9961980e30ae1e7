// The pickers of the patient pages (referring physician on the list and the forms; location and
// technician on the list when the organization has many). The server renders a plain text box
// where a name (or an NPI, an email) can be typed; this turns it into a combobox that suggests
// matching rows from a small JSON endpoint (data-lookup-url: results of {label, name, detail},
// and "more") as the person types. Choosing one puts its label, which the server resolves, in
// the box.

const DEBOUNCE_MS = 200;

function setUp(root) {
  const input = root.querySelector("input");
  const list = root.querySelector("[role=listbox]");
  const url = root.dataset.lookupUrl;
  const noun = root.dataset.noun || "item";
  if (!input || !list || !url) return;

  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-expanded", "false");
  input.setAttribute("aria-controls", list.id);

  let options = [];
  let active = -1;
  let timer = null;
  let pending = null;
  let chosen = input.value;
  let announcing = false;

  function close() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function highlight(index) {
    active = index;
    list.querySelectorAll("[role=option]").forEach((el, i) => {
      el.setAttribute("aria-selected", String(i === index));
      if (i === index) {
        input.setAttribute("aria-activedescendant", el.id);
        el.scrollIntoView({ block: "nearest" });
      }
    });
  }

  function render(results, more) {
    options = results;
    list.replaceChildren();
    results.forEach((item, i) => {
      const li = document.createElement("li");
      li.id = `${list.id}_${i}`;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      li.className = "picker-option";
      const name = document.createElement("span");
      name.textContent = item.name;
      const detail = document.createElement("small");
      detail.textContent = item.detail || "";
      li.append(name, detail);
      // Keep the focus in the box (a blur would close the list before the click lands).
      li.addEventListener("pointerdown", (event) => event.preventDefault());
      li.addEventListener("click", () => choose(i));
      list.append(li);
    });
    if (!results.length || more) {
      const note = document.createElement("li");
      note.className = "picker-note";
      note.setAttribute("role", "presentation");
      note.textContent = results.length ? "More match: keep typing to narrow." : `No ${noun} matches.`;
      list.append(note);
    }
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    active = -1;
  }

  // The box changed because of a choice (or was emptied): tell the form, once.
  function announce() {
    announcing = true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    announcing = false;
  }

  function choose(index) {
    const item = options[index];
    if (!item) return;
    input.value = item.label;
    chosen = item.label;
    close();
    announce();
  }

  async function lookup() {
    if (pending) pending.abort();
    pending = new AbortController();
    const query = new URLSearchParams({ q: input.value.trim() });
    try {
      const response = await fetch(`${url}?${query}`, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        signal: pending.signal,
      });
      if (!response.ok) return close();
      const body = await response.json();
      if (document.activeElement === input) render(body.results || [], body.more);
    } catch (error) {
      if (error.name !== "AbortError") close();
    }
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(lookup, DEBOUNCE_MS);
  });
  input.addEventListener("focus", () => {
    if (!input.value.trim()) lookup();
  });
  input.addEventListener("blur", () => {
    clearTimeout(timer);
    close();
    // Typing and leaving without choosing: an emptied box is a choice (no choice);
    // half a name is left for the person to finish (the server says what is wrong on submit).
    if (!input.value.trim() && chosen) {
      chosen = "";
      announce();
    }
  });
  // The page (the list's filters) should react to choices, not to every half-typed name.
  input.addEventListener("change", (event) => {
    if (!announcing) event.stopPropagation();
  });
  input.addEventListener("keydown", (event) => {
    const open = !list.hidden && options.length;
    if (event.key === "ArrowDown") {
      event.preventDefault();
      if (list.hidden) return lookup();
      if (open) highlight((active + 1) % options.length);
    } else if (event.key === "ArrowUp" && open) {
      event.preventDefault();
      highlight((active - 1 + options.length) % options.length);
    } else if (event.key === "Enter" && open && active >= 0) {
      event.preventDefault();
      choose(active);
    } else if (event.key === "Escape" && !list.hidden) {
      event.preventDefault();
      close();
    }
  });
}

export function startPickers(scope = document) {
  scope.querySelectorAll("[data-picker]:not([data-picker-ready])").forEach((root) => {
    root.dataset.pickerReady = "true";
    setUp(root);
  });
}
