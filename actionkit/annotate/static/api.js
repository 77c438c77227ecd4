// Talking to the server: JSON requests with the session token, and the save queue (one PUT of
// the whole file at a time, with the revision it was loaded at; a 409 stops saving for good).

import { TOKEN, setStatus, st } from "./state.js";

/** One request; resolves {ok, status, data} (data: the JSON answer, or {error: text}). */
export async function api(method, path, body) {
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

/** The query string that names a video. */
export const q = (path) => `video=${encodeURIComponent(path)}`;
/** A URL (with a query already) that also carries the token: for <video src>. */
export const withToken = (url) => (TOKEN ? `${url}&token=${encodeURIComponent(TOKEN)}` : url);

/** Save the whole file now, or once the save in flight is answered. */
export async function save() {
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
}
