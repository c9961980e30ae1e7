// Small DOM helpers for the guided-session pages. Text always goes in as text nodes (never
// innerHTML), so a typed value can never become markup.

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

// Is a field or upload slot asked, given the answers (`only_if`: [field, value])?
export function isAsked(spec, values) {
  if (!spec.only_if) return true;
  const [name, expected] = spec.only_if;
  return (values[name] || "") === expected;
}

export function stepTitle(definition, key) {
  const step = definition.steps.find((s) => s.key === key);
  return step ? step.title : key === "done" ? "Done" : key;
}

export function choiceLabel(spec, value) {
  const choice = (spec.choices || []).find((c) => c.value === value);
  return choice ? choice.label : value;
}

export function csrfToken(root) {
  const input = root.querySelector('input[name="csrfmiddlewaretoken"]');
  return input ? input.value : document.querySelector('meta[name="csrf-token"]')?.content || "";
}
