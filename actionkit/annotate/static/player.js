// The player: frame-exact stepping (seek to the middle of a frame, count it shown when
// requestVideoFrameCallback fires), play/pause, the frame counter and the timeline.

import {
  $,
  el,
  frameAt,
  frameSeconds,
  frameTime,
  labelClass,
  numFrames,
  segments,
  setStatus,
  st,
  video,
  visibleProposals,
} from "./state.js";

/** Show frame i: seek to its middle; it counts as shown when the video presents a frame. */
export function seekFrame(i) {
  if (!st.loaded) return;
  i = Math.min(Math.max(Math.round(i), 0), numFrames() - 1);
  if (!video.paused) video.pause();
  st.frame = i;
  const seq = ++st.seekSeq;
  st.settled = false;
  const target = frameTime(i);
  const settle = () => {
    if (seq === st.seekSeq) st.settled = true;
  };
  if (Math.abs(video.currentTime - target) < 1e-6 && !video.seeking) {
    settle();
  } else {
    const onFrame = (_now, meta) => {
      if (seq !== st.seekSeq) return;
      if (video.seeking) return video.requestVideoFrameCallback(onFrame); // an older frame
      st.mediaTime = meta.mediaTime;
      settle();
    };
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(onFrame);
    // a seek inside the frame already shown presents nothing new: settle on "seeked" then
    video.addEventListener("seeked", () => setTimeout(settle, 250), { once: true });
    video.currentTime = target;
  }
  renderPosition();
}

export function step(delta) {
  seekFrame(st.frame + delta);
}

export function togglePlay() {
  if (!st.loaded) return;
  if (video.paused) {
    if (st.frame >= numFrames() - 1) seekFrame(0);
    st.settled = false;
    video.play().catch((err) => setStatus(`cannot play: ${err.message}`, "error"));
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(onPlayingFrame);
  } else {
    video.pause();
  }
}

function onPlayingFrame(_now, meta) {
  if (video.paused) return;
  st.frame = frameAt(meta.mediaTime);
  renderPosition();
  video.requestVideoFrameCallback(onPlayingFrame);
}

/** The <video> element's listeners: snap onto a whole frame on pause, say why it cannot play. */
export function bindVideo() {
  video.addEventListener("pause", () => {
    $("play").textContent = "play";
    if (st.probe && !st.settled) seekFrame(st.frame); // snap onto the frame exactly
  });
  video.addEventListener("play", () => {
    $("play").textContent = "pause";
  });
  video.addEventListener("error", () => {
    const err = video.error;
    if (st.path) setStatus(`the browser cannot play ${st.path} (${err ? err.message || err.code : "?"})`, "error");
  });
}

// -- the frame counter, the marks and the timeline ----------------------------------------------
export function renderPosition() {
  $("frame").textContent = String(st.frame);
  $("total").textContent = String(numFrames());
  const seconds = st.probe ? frameSeconds(st.frame, st.frame)[0] : 0;
  $("time").textContent = `${seconds.toFixed(3)} s`;
  $("start-mark").textContent = st.marks.start === null ? "–" : String(st.marks.start);
  $("end-mark").textContent = st.marks.end === null ? "–" : String(st.marks.end);
  const n = numFrames();
  const cursor = $("tl-cursor");
  cursor.style.left = n ? `${((st.frame + 0.5) / n) * 100}%` : "0";
  const marks = $("tl-marks");
  const { start, end } = st.marks;
  marks.hidden = !n || (start === null && end === null);
  if (!marks.hidden) {
    const a = Math.min(start ?? end, end ?? start);
    const b = Math.max(start ?? end, end ?? start);
    marks.style.left = `${(a / n) * 100}%`;
    marks.style.width = `${((b - a + 1) / n) * 100}%`;
  }
}

function bar(segment, cls) {
  const n = numFrames();
  const node = el("div", { class: cls, title: `${segment.label}: ${segment.start_frame}–${segment.end_frame}` });
  node.style.left = `${(segment.start_frame / n) * 100}%`;
  node.style.width = `${((segment.end_frame - segment.start_frame + 1) / n) * 100}%`;
  return node;
}

export function renderTimeline() {
  const n = numFrames();
  const segs = n ? segments() : [];
  $("tl-segments").replaceChildren(
    ...segs.map((s) => bar(s, `tl-seg ${labelClass(s.label)}${s === st.selected ? " selected" : ""}`)),
  );
  const props = n && st.suggest ? visibleProposals() : [];
  $("tl-proposals").replaceChildren(...props.map((s) => bar(s, "tl-prop")));
  renderPosition();
}
