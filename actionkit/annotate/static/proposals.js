// Model proposals for the open video: polled from /api/suggestions, then accepted (a segment
// with source "suggested"), adjusted (its frames become the marks) or rejected (hidden).

import { api, q } from "./api.js";
import { ensureLabel } from "./labels.js";
import { renderTimeline, seekFrame } from "./player.js";
import { addSegment, renderAll } from "./segments.js";
import { $, el, proposalKey, st, visibleProposals } from "./state.js";

/** Ask for the proposals of path until the model is done (or another video is opened). */
export async function pollSuggestions(path) {
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

export function renderProposals() {
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
