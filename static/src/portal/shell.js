// Shell behaviours: the menus are <details> disclosures (they work without script); this closes
// an open one on Escape or a click elsewhere, and only one stays open at a time.
export function startShell() {
  const menus = () => document.querySelectorAll("details[data-dismissable][open]");

  document.addEventListener("click", (event) => {
    for (const menu of menus()) {
      if (!menu.contains(event.target)) menu.open = false;
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    for (const menu of menus()) {
      menu.open = false;
      menu.querySelector("summary")?.focus();
    }
  });

  document.addEventListener(
    "toggle",
    (event) => {
      const opened = event.target;
      if (!(opened instanceof HTMLDetailsElement) || !opened.open) return;
      if (!opened.hasAttribute("data-dismissable")) return;
      for (const menu of menus()) if (menu !== opened) menu.open = false;
    },
    true,
  );
}
