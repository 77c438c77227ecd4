// The label set: add, rename (in every segment too), remove (only unused labels), and its list.

import { change } from "./segments.js";
import { $, el, labelClass, setStatus, st } from "./state.js";

function usage(label) {
  let count = 0;
  for (const v of Object.values(st.ann.videos)) count += v.segments.filter((s) => s.label === label).length;
  return count;
}

function cleanLabel(text) {
  const label = text.trim();
  if (!label) return null;
  if (label.length > 200 || /[\u0000-\u001f]/.test(label)) {
    setStatus("a label is one line of at most 200 characters", "error");
    return null;
  }
  return label;
}

export function ensureLabel(label) {
  if (!st.labels.includes(label)) st.labels.push(label);
}

/** Add the label typed (or pick it when it exists); false when the text is no label. */
export function addLabel(text) {
  const label = cleanLabel(text);
  if (label === null) return false;
  if (st.labels.includes(label)) {
    st.label = label;
    renderLabels();
    return true;
  }
  change(() => {
    st.labels.push(label);
    st.label = label;
  });
  return true;
}

function renameLabel(old, text) {
  const label = cleanLabel(text);
  if (label === null || label === old) return renderLabels();
  if (st.labels.includes(label)) {
    setStatus(`there is a label ${JSON.stringify(label)} already`, "error");
    return renderLabels();
  }
  change(() => {
    st.labels[st.labels.indexOf(old)] = label;
    for (const v of Object.values(st.ann.videos)) for (const s of v.segments) if (s.label === old) s.label = label;
    if (st.label === old) st.label = label;
  });
}

function removeLabel(label) {
  const used = usage(label);
  if (used) {
    setStatus(`${JSON.stringify(label)} is used by ${used} segment(s): relabel or delete them first`, "error");
    return;
  }
  change(() => {
    st.labels.splice(st.labels.indexOf(label), 1);
    if (st.label === label) st.label = null;
  });
}

export function renderLabels() {
  const list = $("labels");
  list.replaceChildren(
    ...st.labels.map((label, i) => {
      const picked = label === st.label;
      const pick = el(
        "button",
        { type: "button", class: `pick ${labelClass(label)}${picked ? " picked" : ""}`, "aria-pressed": String(picked), onclick: () => { st.label = label; renderLabels(); } },
        el("span", { class: "key", text: i < 9 ? String(i + 1) : "" }),
        el("span", { class: "name", text: label }),
      );
      const rename = el("button", { type: "button", class: "small", title: "rename", "aria-label": "rename", text: "✎", onclick: () => startRename(li, label) });
      const remove = el("button", { type: "button", class: "small danger", title: "remove", text: "×", onclick: () => removeLabel(label) });
      const li = el("li", { "data-label": label }, pick, rename, remove);
      return li;
    }),
  );
}

function startRename(li, label) {
  const input = el("input", { type: "text", class: "rename", maxlength: "200" });
  input.value = label;
  let done = false;
  const finish = (keep) => {
    if (done) return;
    done = true;
    if (keep) renameLabel(label, input.value);
    else renderLabels();
  };
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") finish(true);
    else if (event.key === "Escape") finish(false);
  });
  input.addEventListener("blur", () => finish(true));
  li.replaceChildren(input);
  input.focus();
  input.select();
}
