// The page's state, its small DOM helpers, and the frame <-> seconds arithmetic. Every other
// module reads and changes `st`; this one imports nothing.

export const TOKEN = new URLSearchParams(location.search).get("token");
export const USER_KEY = "actionkit-annotate-user";
export const MAX_UNDO = 200;
export const $ = (id) => document.getElementById(id);
export const video = $("video");

export const st = {
  labels: [], // the label set; keys 1-9 pick the first nine
  ann: null, // the annotations dict (Annotations.to_dict() shape)
  revision: 0,
  videos: [], // [{path, segments}]
  suggest: false,
  path: null, // the open video
  probe: null, // its /api/probe answer
  loaded: false, // the video element has its first frame
  frame: 0, // the frame shown (kept by the page, never read back from currentTime)
  marks: { start: null, end: null },
  label: null, // the picked label
  selected: null, // the selected segment (object in st.ann)
  adjusting: null, // the proposal whose marks are being adjusted
  proposals: { status: "off", error: null, segments: [] },
  hidden: new Set(), // proposals rejected or accepted (per video: "path|label|a|b")
  undo: [],
  saving: false,
  dirty: false,
  stopped: false, // a 409: another tab saved; nothing more is saved until reload
  seekSeq: 0,
  mediaTime: 0, // metadata.mediaTime of the last frame presented after a seek
  settled: true,
};

/** A new element; attrs "class", "text" (textContent, never HTML), "on<event>", or attributes. */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

export function setStatus(text, kind) {
  if (st.stopped && kind !== "stopped") return; // the 409 message stays
  const status = $("status");
  status.textContent = text;
  status.dataset.kind = kind || "info";
}

export const fps = () => (st.probe ? st.probe.fps : 25);
export const numFrames = () => (st.probe ? st.probe.num_frames : 0);
export const entry = (path) => st.ann.videos[path || st.path];
export const segments = () => (entry() ? entry().segments : []);
export const labelClass = (label) => `c${Math.max(st.labels.indexOf(label), 0) % 9}`;

// -- proposals not yet accepted, rejected or already a segment ------------------------------------
export const proposalKey = (p) => `${st.path}|${p.label}|${p.start_frame}|${p.end_frame}`;

export function visibleProposals() {
  const taken = new Set(segments().map((s) => `${st.path}|${s.label}|${s.start_frame}|${s.end_frame}`));
  return (st.proposals.segments || []).filter((p) => !st.hidden.has(proposalKey(p)) && !taken.has(proposalKey(p)));
}

// -- frames and seconds (as annotations.frames_to_seconds) -----------------------------------
function round6(x) {
  return Math.round(x * 1e6) / 1e6;
}

/** [start, end] seconds of frames first..last (inclusive): when first is shown, when last ends. */
export function frameSeconds(first, last) {
  const times = st.probe && st.probe.frame_times;
  if (times && times.length > last) {
    const end = last + 1 < times.length ? times[last + 1] : times[times.length - 1] + 1 / fps();
    return [round6(times[first]), round6(end)];
  }
  return [round6(first / fps()), round6((last + 1) / fps())];
}

/** The time to seek to for frame i: the middle of its display interval. */
export function frameTime(i) {
  const times = st.probe && st.probe.frame_times;
  if (times && times.length) {
    if (i + 1 < times.length) return (times[i] + times[i + 1]) / 2;
    return times[i] + 0.5 / fps();
  }
  return (i + 0.5) / fps();
}

/** The frame whose presentation time is mediaTime (while playing). */
export function frameAt(mediaTime) {
  const times = st.probe && st.probe.frame_times;
  let i;
  if (times && times.length) {
    let lo = 0;
    let hi = times.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (times[mid] <= mediaTime + 1e-4) lo = mid;
      else hi = mid - 1;
    }
    i = lo;
  } else {
    i = Math.round(mediaTime * fps());
  }
  return Math.min(Math.max(i, 0), Math.max(numFrames() - 1, 0));
}
