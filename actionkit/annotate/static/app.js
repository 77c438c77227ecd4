// actionkit annotate: the labeling page. Plain JS modules, no build step; the server's CSP
// allows no inline code, and every piece of user text (labels, file names, authors) goes in
// with textContent, never innerHTML. This module wires the page: it opens videos, binds the
// keys and buttons, loads the state and exposes window.ak for the tests. The modules import
// each other's functions (the UI's actions render, and the rendered rows act): nothing but
// state.js runs code at import, so those cycles are safe.
//   state.js     the state, DOM helpers, frames <-> seconds
//   api.js       requests and the save queue (409: saving stops)
//   player.js    frame-exact stepping, play/pause, frame counter, timeline
//   segments.js  segment changes, undo, the videos list and segments table
//   labels.js    the label set editor
//   proposals.js model proposals: accept / adjust / reject

import { api, q, withToken } from "./api.js";
import { addLabel, ensureLabel, renderLabels } from "./labels.js";
import { bindVideo, renderPosition, seekFrame, step, togglePlay } from "./player.js";
import { pollSuggestions } from "./proposals.js";
import { commit, deleteSegment, renderAll, undo } from "./segments.js";
import { $, USER_KEY, fps, frameAt, numFrames, setStatus, st, video } from "./state.js";

async function openVideo(path) {
  if (!st.videos.some((v) => v.path === path)) return;
  st.path = path;
  st.probe = null;
  st.loaded = false;
  st.selected = null;
  st.adjusting = null;
  st.marks = { start: null, end: null };
  st.proposals = { status: "off", error: null, segments: [] };
  history.replaceState(null, "", `${location.pathname}${location.search}#${q(path)}`);
  $("overlay").textContent = "preparing video…";
  $("overlay").hidden = false;
  setStatus("preparing video…", "busy");
  renderAll();
  const answer = await api("GET", `/api/probe?${q(path)}`);
  if (st.path !== path) return; // another video was picked meanwhile
  if (!answer.ok) {
    $("overlay").textContent = "this video cannot be opened";
    setStatus(`cannot open ${path}: ${(answer.data && answer.data.error) || answer.status}`, "error");
    return;
  }
  st.probe = answer.data;
  video.src = withToken(`/media?${q(path)}`);
  await new Promise((resolve) => {
    const done = () => {
      video.removeEventListener("loadeddata", done);
      video.removeEventListener("error", done);
      resolve();
    };
    video.addEventListener("loadeddata", done);
    video.addEventListener("error", done);
  });
  if (st.path !== path || video.error) return;
  $("overlay").hidden = true;
  st.loaded = true;
  setStatus(st.revision ? `saved rev ${st.revision}` : "ready", "ok");
  seekFrame(0);
  renderAll();
  if (st.suggest) pollSuggestions(path);
}

// -- input -------------------------------------------------------------------------------------
function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName));
}

function setMark(which) {
  if (!st.loaded) return;
  st.marks[which] = st.frame;
  renderPosition();
}

function onKey(event) {
  if (typing(event.target) || event.altKey) return;
  const key = event.key;
  if ((event.ctrlKey || event.metaKey) && key.toLowerCase() === "z") {
    event.preventDefault();
    return undo();
  }
  if (event.ctrlKey || event.metaKey) return;
  const second = Math.max(1, Math.round(fps()));
  const actions = {
    ArrowRight: () => step(event.shiftKey ? second : 1),
    ArrowLeft: () => step(event.shiftKey ? -second : -1),
    " ": togglePlay,
    "[": () => setMark("start"),
    "]": () => setMark("end"),
    Enter: commit,
    Backspace: () => st.selected && deleteSegment(st.selected),
    Delete: () => st.selected && deleteSegment(st.selected),
  };
  if (/^[1-9]$/.test(key)) {
    const label = st.labels[Number(key) - 1];
    if (label !== undefined) {
      st.label = label;
      renderLabels();
    }
    event.preventDefault();
    return;
  }
  if (actions[key]) {
    event.preventDefault();
    actions[key]();
  }
}

function bindControls() {
  bindVideo();
  document.addEventListener("keydown", onKey);
  document.addEventListener("keyup", (event) => {
    if (event.key === " " && !typing(event.target)) event.preventDefault(); // no button click
  });
  // a clicked button keeps no focus: Enter and Space stay the page's keys
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (button && !button.closest("form")) button.blur();
  });
  const second = () => Math.max(1, Math.round(fps()));
  const buttons = {
    "back-second": () => step(-second()),
    "back-frame": () => step(-1),
    play: togglePlay,
    "next-frame": () => step(1),
    "next-second": () => step(second()),
    "mark-start": () => setMark("start"),
    "mark-end": () => setMark("end"),
    commit,
    undo,
  };
  for (const [id, action] of Object.entries(buttons)) $(id).addEventListener("click", action);
  $("videos").addEventListener("click", (event) => {
    const item = event.target.closest("li[data-path]");
    if (item) openVideo(item.dataset.path);
  });
  $("label-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (addLabel($("new-label").value)) $("new-label").value = "";
    $("new-label").blur();
  });
  $("timeline").addEventListener("click", (event) => {
    const box = $("timeline").getBoundingClientRect();
    if (numFrames()) seekFrame(Math.floor(((event.clientX - box.left) / box.width) * numFrames()));
  });
  $("user").addEventListener("change", () => localStorage.setItem(USER_KEY, $("user").value.trim()));
}

// -- start ---------------------------------------------------------------------------------------
async function start() {
  bindControls();
  const answer = await api("GET", "/api/state");
  if (!answer.ok) {
    setStatus(`cannot load: ${(answer.data && answer.data.error) || `HTTP ${answer.status}`}`, "error");
    return;
  }
  const state = answer.data;
  st.ann = state.annotations;
  st.ann.videos = st.ann.videos || {};
  st.revision = state.revision;
  st.videos = state.videos;
  st.suggest = Boolean(state.suggest);
  st.labels = [...new Set([...(state.labels || []), ...(st.ann.labels || [])])];
  for (const v of Object.values(st.ann.videos)) for (const s of v.segments) ensureLabel(s.label);
  $("user").value = localStorage.getItem(USER_KEY) || state.user || "";
  setStatus(st.revision ? `saved rev ${st.revision}` : "nothing saved yet", "ok");
  renderAll();
  const wanted = new URLSearchParams(location.hash.slice(1)).get("video");
  if (wanted && st.videos.some((v) => v.path === wanted)) await openVideo(wanted);
}

const ready = start();
window.ak = {
  ready,
  currentFrame: () => st.frame,
  presentedFrame: () => frameAt(st.mediaTime), // from the last rVFC metadata: a cross-check
  path: () => (st.loaded ? st.path : null),
  settled: () => st.loaded && st.settled && !video.seeking && video.readyState >= 2,
  marks: () => ({ ...st.marks }),
  revision: () => st.revision,
  saving: () => st.saving || st.dirty,
  openVideo,
};
