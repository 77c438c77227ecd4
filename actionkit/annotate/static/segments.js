// The segments of the open video: add (from the marks), edit, delete, undo; every change is
// undoable, re-rendered and saved. Also the videos list and the segments table.

import { save } from "./api.js";
import { renderLabels } from "./labels.js";
import { renderPosition, renderTimeline, seekFrame } from "./player.js";
import { renderProposals } from "./proposals.js";
import {
  $,
  MAX_UNDO,
  el,
  entry,
  frameSeconds,
  labelClass,
  numFrames,
  proposalKey,
  segments,
  setStatus,
  st,
} from "./state.js";

// -- changes (each one undoable, then saved) --------------------------------------------------
/** Run what() (a change to the labels or the segments), keeping the state before it for undo. */
export function change(what) {
  st.undo.push(JSON.stringify({ labels: st.labels, videos: st.ann.videos }));
  if (st.undo.length > MAX_UNDO) st.undo.shift();
  what();
  renderAll();
  save();
}

export function undo() {
  const last = st.undo.pop();
  if (!last) return setStatus("nothing to undo", st.stopped ? "stopped" : "info");
  const saved = JSON.parse(last);
  st.labels = saved.labels;
  st.ann.videos = saved.videos;
  st.selected = null;
  if (st.label !== null && !st.labels.includes(st.label)) st.label = null;
  renderAll();
  save();
}

function sortSegments(list) {
  list.sort((a, b) => a.start_frame - b.start_frame || a.end_frame - b.end_frame);
}

/** Add frames first..last (inclusive) of the open video as a segment; source "manual" or "suggested". */
export function addSegment(label, first, last, source) {
  if (!st.loaded) return;
  if (first > last) [first, last] = [last, first];
  const [start, end] = frameSeconds(first, last);
  const segment = {
    label,
    start,
    end,
    start_frame: first,
    end_frame: last,
    author: $("user").value.trim().slice(0, 200),
    created: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    source,
  };
  change(() => {
    if (!st.ann.videos[st.path]) st.ann.videos[st.path] = { fps: null, num_frames: null, segments: [] };
    const e = entry();
    e.fps = st.probe.fps;
    e.num_frames = st.probe.num_frames;
    e.segments.push(segment);
    sortSegments(e.segments);
    st.selected = segment;
  });
}

/** Enter: the marks (a missing one is the current frame) become a segment of the picked label. */
export function commit() {
  if (!st.loaded) return;
  const { start, end } = st.marks;
  if (start === null && end === null) return setStatus("set the marks first: [ and ]", "error");
  if (st.label === null) return setStatus("pick a label first (keys 1-9)", "error");
  const first = start === null ? st.frame : start;
  const last = end === null ? st.frame : end;
  const source = st.adjusting ? "suggested" : "manual";
  if (st.adjusting) st.hidden.add(proposalKey(st.adjusting));
  st.adjusting = null;
  st.marks = { start: null, end: null };
  addSegment(st.label, first, last, source);
}

export function deleteSegment(segment) {
  change(() => {
    const list = segments();
    const i = list.indexOf(segment);
    if (i >= 0) list.splice(i, 1);
    if (st.selected === segment) st.selected = null;
  });
}

function editSegment(segment, field, value) {
  if (field === "label") {
    change(() => {
      segment.label = value;
    });
    return;
  }
  const n = Number(value);
  const first = field === "start_frame" ? n : segment.start_frame;
  const last = field === "end_frame" ? n : segment.end_frame;
  if (!Number.isInteger(n) || first < 0 || last < first || last >= numFrames()) {
    setStatus(`frames ${first}..${last} are not inside 0..${numFrames() - 1} with start <= end`, "error");
    renderSegments();
    return;
  }
  change(() => {
    segment.start_frame = first;
    segment.end_frame = last;
    [segment.start, segment.end] = frameSeconds(first, last);
    sortSegments(segments());
  });
}

// -- rendering -------------------------------------------------------------------------------
export function renderAll() {
  renderVideos();
  renderLabels();
  renderPosition();
  renderSegments();
  renderProposals();
  renderTimeline();
}

/** The videos list (a click on an item opens it: app.js listens on the list). */
function renderVideos() {
  const list = $("videos");
  list.replaceChildren(
    ...st.videos.map((v) => {
      const e = st.ann.videos[v.path];
      const count = e ? e.segments.length : 0;
      return el(
        "li",
        { "data-path": v.path, class: v.path === st.path ? "current" : "", title: v.path },
        el("span", { class: "name", text: v.path }),
        el("span", { class: count ? "count" : "count zero", text: String(count) }),
      );
    }),
  );
}

function frameInput(segment, field) {
  const input = el("input", { type: "number", min: "0", max: String(Math.max(numFrames() - 1, 0)), step: "1", class: "frame-input", "aria-label": field });
  input.value = String(segment[field]);
  input.addEventListener("change", () => editSegment(segment, field, input.value));
  return input;
}

function labelSelect(segment) {
  const select = el("select", { "aria-label": "label" });
  const choices = st.labels.includes(segment.label) ? st.labels : [...st.labels, segment.label];
  for (const label of choices) select.append(el("option", { value: label, text: label }));
  select.value = segment.label;
  select.addEventListener("change", () => {
    select.blur();
    editSegment(segment, "label", select.value);
  });
  return select;
}

function renderSegments() {
  const list = segments();
  $("video-name").textContent = st.path || "";
  $("no-segments").hidden = list.length > 0 || !st.path;
  $("segments").querySelector("tbody").replaceChildren(
    ...list.map((s) => {
      const row = el(
        "tr",
        { class: s === st.selected ? "selected" : "", "data-source": s.source },
        el("td", {}, el("span", { class: `swatch ${labelClass(s.label)}` })),
        el("td", {}, labelSelect(s)),
        el("td", {}, frameInput(s, "start_frame")),
        el("td", {}, frameInput(s, "end_frame")),
        el("td", { class: "num", text: `${s.start.toFixed(3)}–${s.end.toFixed(3)}` }),
        el("td", { class: "muted", text: s.source === "suggested" ? `${s.author} (model)` : s.author, title: s.created }),
        el("td", {}, el("button", { type: "button", class: "small danger", text: "delete", onclick: () => deleteSegment(s) })),
      );
      row.addEventListener("click", (event) => {
        st.selected = s;
        for (const other of row.parentNode.children) other.classList.toggle("selected", other === row);
        if (!event.target.closest("input, select, button")) seekFrame(s.start_frame);
        renderTimeline();
      });
      return row;
    }),
  );
}
