// actionkit annotate: the labeling page. Plain JS, no build step; the server's CSP allows no
// inline code, and every piece of user text (labels, file names, authors) goes in with
// textContent, never innerHTML.
"use strict";

(() => {
  const TOKEN = new URLSearchParams(location.search).get("token");
  const USER_KEY = "actionkit-annotate-user";
  const MAX_UNDO = 200;
  const $ = (id) => document.getElementById(id);
  const video = $("video");

  const st = {
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

  // -- small helpers ---------------------------------------------------------------------------
  function el(tag, attrs, ...children) {
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

  function setStatus(text, kind) {
    if (st.stopped && kind !== "stopped") return; // the 409 message stays
    const status = $("status");
    status.textContent = text;
    status.dataset.kind = kind || "info";
  }

  async function api(method, path, body) {
    const headers = {};
    if (TOKEN) headers["X-Actionkit-Token"] = TOKEN;
    const init = { method, headers, cache: "no-store", credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    let data = null;
    const text = await response.text();
    try {
      data = text ? JSON.parse(text) : null;
    } catch (_) {
      data = { error: text };
    }
    return { ok: response.ok, status: response.status, data };
  }

  const q = (path) => `video=${encodeURIComponent(path)}`;
  const withToken = (url) => (TOKEN ? `${url}&token=${encodeURIComponent(TOKEN)}` : url);
  const fps = () => (st.probe ? st.probe.fps : 25);
  const numFrames = () => (st.probe ? st.probe.num_frames : 0);
  const entry = (path) => st.ann.videos[path || st.path];
  const segments = () => (entry() ? entry().segments : []);
  const labelClass = (label) => `c${Math.max(st.labels.indexOf(label), 0) % 9}`;

  // -- frames and seconds (as annotations.frames_to_seconds) -----------------------------------
  function round6(x) {
    return Math.round(x * 1e6) / 1e6;
  }

  function frameSeconds(first, last) {
    const times = st.probe && st.probe.frame_times;
    if (times && times.length > last) {
      const end = last + 1 < times.length ? times[last + 1] : times[times.length - 1] + 1 / fps();
      return [round6(times[first]), round6(end)];
    }
    return [round6(first / fps()), round6((last + 1) / fps())];
  }

  /** The time to seek to for frame i: the middle of its display interval. */
  function frameTime(i) {
    const times = st.probe && st.probe.frame_times;
    if (times && times.length) {
      if (i + 1 < times.length) return (times[i] + times[i + 1]) / 2;
      return times[i] + 0.5 / fps();
    }
    return (i + 0.5) / fps();
  }

  /** The frame whose presentation time is mediaTime (while playing). */
  function frameAt(mediaTime) {
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

  // -- the player --------------------------------------------------------------------------------
  /** Show frame i: seek to its middle; it counts as shown when the video presents a frame. */
  function seekFrame(i) {
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

  function step(delta) {
    seekFrame(st.frame + delta);
  }

  function togglePlay() {
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

  // -- suggestions ---------------------------------------------------------------------------
  async function pollSuggestions(path) {
    while (st.path === path) {
      const answer = await api("GET", `/api/suggestions?${q(path)}`);
      if (st.path !== path) return;
      st.proposals = answer.ok ? answer.data : { status: "error", error: `HTTP ${answer.status}`, segments: [] };
      renderProposals();
      renderTimeline();
      if (!["pending", "running"].includes(st.proposals.status)) return;
      await new Promise((resolve) => setTimeout(resolve, 1500));
    }
  }

  const proposalKey = (p) => `${st.path}|${p.label}|${p.start_frame}|${p.end_frame}`;

  function visibleProposals() {
    const taken = new Set(segments().map((s) => `${st.path}|${s.label}|${s.start_frame}|${s.end_frame}`));
    return (st.proposals.segments || []).filter((p) => !st.hidden.has(proposalKey(p)) && !taken.has(proposalKey(p)));
  }

  function acceptProposal(p) {
    ensureLabel(p.label);
    st.hidden.add(proposalKey(p));
    addSegment(p.label, p.start_frame, p.end_frame, "suggested");
  }

  function adjustProposal(p) {
    st.marks = { start: p.start_frame, end: p.end_frame };
    st.adjusting = p;
    if (!st.labels.includes(p.label)) ensureLabel(p.label);
    st.label = p.label;
    seekFrame(p.start_frame);
    renderAll();
  }

  function rejectProposal(p) {
    st.hidden.add(proposalKey(p));
    renderProposals();
    renderTimeline();
  }

  // -- changes (each one undoable, then saved) --------------------------------------------------
  function change(what) {
    st.undo.push(JSON.stringify({ labels: st.labels, videos: st.ann.videos }));
    if (st.undo.length > MAX_UNDO) st.undo.shift();
    what();
    renderAll();
    save();
  }

  function undo() {
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

  function addSegment(label, first, last, source) {
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

  function commit() {
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

  function deleteSegment(segment) {
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

  function ensureLabel(label) {
    if (!st.labels.includes(label)) st.labels.push(label);
  }

  function addLabel(text) {
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

  // -- saving ----------------------------------------------------------------------------------
  async function save() {
    if (st.stopped) return;
    if (st.saving) {
      st.dirty = true;
      return;
    }
    st.saving = true;
    st.dirty = false;
    setStatus("saving…", "busy");
    const body = { ...st.ann, labels: st.labels, revision: st.revision };
    let answer;
    try {
      answer = await api("PUT", "/api/annotations", body);
    } catch (err) {
      answer = { ok: false, status: 0, data: { error: `the server does not answer (${err.message})` } };
    }
    st.saving = false;
    if (answer.ok) {
      st.revision = answer.data.revision;
      st.ann.revision = st.revision;
      setStatus(`saved rev ${st.revision}`, "ok");
      if (st.dirty) save();
    } else if (answer.status === 409) {
      st.stopped = true;
      setStatus("changed in another tab — reload the page to get those changes (saving has stopped)", "stopped");
      document.body.classList.add("stopped");
    } else {
      const why = (answer.data && answer.data.error) || `HTTP ${answer.status}`;
      setStatus(`not saved: ${why}`, "error");
    }
    renderVideos();
  }

  // -- rendering -------------------------------------------------------------------------------
  function renderAll() {
    renderVideos();
    renderLabels();
    renderPosition();
    renderSegments();
    renderProposals();
    renderTimeline();
  }

  function renderVideos() {
    const list = $("videos");
    list.replaceChildren(
      ...st.videos.map((v) => {
        const e = st.ann.videos[v.path];
        const count = e ? e.segments.length : 0;
        return el(
          "li",
          { "data-path": v.path, class: v.path === st.path ? "current" : "", title: v.path, onclick: () => openVideo(v.path) },
          el("span", { class: "name", text: v.path }),
          el("span", { class: count ? "count" : "count zero", text: String(count) }),
        );
      }),
    );
  }

  function renderLabels() {
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

  function renderPosition() {
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

  function renderProposals() {
    const panel = $("proposals-panel");
    panel.hidden = !st.suggest || !st.path;
    if (panel.hidden) return;
    const p = st.proposals;
    const visible = visibleProposals();
    const text = { off: "off", pending: "waiting for the model…", running: "the model is running…", error: `error: ${p.error || "?"}` };
    $("suggest-status").textContent = p.status === "done" ? `${visible.length} to review` : text[p.status] || p.status;
    $("proposals").querySelector("tbody").replaceChildren(
      ...visible.map((s) =>
        el(
          "tr",
          { class: st.adjusting === s ? "adjusting" : "" },
          el("td", { text: s.label }),
          el("td", { class: "num", text: `${s.start_frame}–${s.end_frame}` }),
          el("td", { class: "num", text: `${Number(s.start).toFixed(2)}–${Number(s.end).toFixed(2)}` }),
          el("td", { class: "num", text: Number(s.score).toFixed(2) }),
          el(
            "td",
            { class: "actions" },
            el("button", { type: "button", class: "small accept", text: "accept", onclick: () => acceptProposal(s) }),
            el("button", { type: "button", class: "small", text: "adjust", onclick: () => adjustProposal(s) }),
            el("button", { type: "button", class: "small danger reject", text: "reject", onclick: () => rejectProposal(s) }),
          ),
        ),
      ),
    );
  }

  function bar(segment, cls) {
    const n = numFrames();
    const node = el("div", { class: cls, title: `${segment.label}: ${segment.start_frame}–${segment.end_frame}` });
    node.style.left = `${(segment.start_frame / n) * 100}%`;
    node.style.width = `${((segment.end_frame - segment.start_frame + 1) / n) * 100}%`;
    return node;
  }

  function renderTimeline() {
    const n = numFrames();
    const segs = n ? segments() : [];
    $("tl-segments").replaceChildren(
      ...segs.map((s) => bar(s, `tl-seg ${labelClass(s.label)}${s === st.selected ? " selected" : ""}`)),
    );
    const props = n && st.suggest ? visibleProposals() : [];
    $("tl-proposals").replaceChildren(...props.map((s) => bar(s, "tl-prop")));
    renderPosition();
  }

  // -- input -------------------------------------------------------------------------------------
  function typing(target) {
    return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName));
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

  function setMark(which) {
    if (!st.loaded) return;
    st.marks[which] = st.frame;
    renderPosition();
  }

  function bindControls() {
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
})();
