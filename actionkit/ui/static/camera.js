// actionkit CameraWidget: the browser's camera, frames sent to the kernel as JPEG.
// Plain ES module for anywidget; no build step. User-visible text goes in with textContent.

const KERNEL_CAMERA =
  " If the kernel runs on the machine the camera is on, it can read the camera itself, " +
  "without the browser: LivePredictor(model, 0) in Python, or actionkit live MODEL --source 0.";

const TUNNEL_HELP =
  "Browsers give camera access only to secure pages: https://, or http://localhost. " +
  "Serve Jupyter over https, or open an SSH tunnel from your machine " +
  "(ssh -L 8888:localhost:8888 you@server) and open http://localhost:8888 instead." +
  KERNEL_CAMERA;

const VSCODE_HELP =
  "VS Code notebook outputs cannot use the camera (microsoft/vscode#119127): open this " +
  "notebook in JupyterLab in a browser (jupyter lab, then http://localhost:8888)." +
  KERNEL_CAMERA;

/** Whether this page is a VS Code webview (notebook output). */
function inVSCode() {
  return window.location.protocol === "vscode-webview:" ||
    (/Electron\//.test(navigator.userAgent) && /\bCode\/\d/.test(navigator.userAgent));
}

/** Why the camera cannot be used here, or null when getUserMedia is available. */
function unavailableReason() {
  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    if (inVSCode()) return VSCODE_HELP;
    return "No camera API on this page (" + window.location.origin + " is not a secure context). " +
      TUNNEL_HELP;
  }
  return null;
}

/** A person-readable explanation of a getUserMedia failure. */
function explain(err) {
  if (inVSCode()) return VSCODE_HELP + " (" + ((err && err.name) || "Error") + ")";
  const name = (err && err.name) || "Error";
  const detail = (err && err.message) || String(err);
  if (name === "NotAllowedError" || name === "SecurityError") {
    return "Camera permission was denied (" + detail + "). Allow the camera for this site " +
      "(the camera icon in the address bar) and press Retry.";
  }
  if (name === "NotFoundError" || name === "OverconstrainedError") {
    return "No camera was found (" + detail + "). Connect a camera and press Retry.";
  }
  if (name === "NotReadableError" || name === "AbortError") {
    return "The camera is in use by another application or failed to start (" + detail +
      "). Close the other application and press Retry.";
  }
  return "The camera could not be opened: " + name + ": " + detail;
}

let viewCounter = 0;

function render({ model, el }) {
  const view = `v${Date.now().toString(36)}-${viewCounter++}`;
  el.classList.add("actionkit-camera");
  const video = document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  video.autoplay = true;
  video.className = "actionkit-camera-video";
  const bar = document.createElement("div");
  bar.className = "actionkit-camera-bar";
  const button = document.createElement("button");
  button.className = "actionkit-camera-button";
  const status = document.createElement("span");
  status.className = "actionkit-camera-status";
  const message = document.createElement("div");
  message.className = "actionkit-camera-error";
  message.hidden = true;
  bar.append(button, status);
  el.append(video, bar, message);
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d");

  let stream = null;
  let timer = null;
  let inFlight = new Map(); // frame id -> time sent
  let nextId = 0;
  let sent = 0;
  let acked = 0;
  let windowStart = performance.now();
  let windowCount = 0;
  let fps = 0;
  let closed = false;

  function showError(text) {
    message.textContent = text;
    message.hidden = false;
    status.textContent = "camera unavailable";
    model.set("error", text);
    model.save_changes();
  }

  function clearError() {
    message.hidden = true;
    message.textContent = "";
    if (model.get("error")) {
      model.set("error", "");
      model.save_changes();
    }
  }

  function updateButton() {
    button.textContent = stream ? "Stop camera" : (model.get("error") ? "Retry" : "Start camera");
  }

  function stopCamera() {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    video.srcObject = null;
    inFlight.clear();
    if (!closed) {
      status.textContent = "stopped";
      updateButton();
    }
  }

  async function startCamera() {
    const reason = unavailableReason();
    if (reason) {
      showError(reason);
      updateButton();
      return;
    }
    status.textContent = "asking for the camera…";
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
    } catch (err) {
      stream = null;
      showError(explain(err));
      updateButton();
      return;
    }
    if (closed) {
      stream.getTracks().forEach((track) => track.stop());
      return;
    }
    clearError();
    video.srcObject = stream;
    try {
      await video.play();
    } catch (err) {
      // autoplay of a muted stream is allowed; a failure here is reported but not fatal
      status.textContent = "video.play(): " + err;
    }
    updateButton();
    generation++;
    schedule(0);
  }

  function frameSize() {
    const w = video.videoWidth;
    const h = video.videoHeight;
    const size = model.get("size");
    const scale = size > 0 ? Math.min(1, size / Math.min(w, h)) : 1;
    return [Math.max(1, Math.round(w * scale)), Math.max(1, Math.round(h * scale))];
  }

  function expire(now) {
    // A frame whose ack never comes (kernel restarted or busy) stops blocking after a while.
    for (const [id, t] of inFlight) if (now - t > 10000) inFlight.delete(id);
  }

  // Each new video frame is sent at most once (requestVideoFrameCallback, where the browser
  // has it): a model sampling frames in time must not see duplicates.
  const perFrame = "requestVideoFrameCallback" in HTMLVideoElement.prototype;
  let lastSent = -Infinity;

  let generation = 0; // bumped by each start: a callback of an older stream does nothing

  function schedule(delay) {
    if (!stream || closed) return;
    const gen = generation;
    if (perFrame) video.requestVideoFrameCallback((now, meta) => tick(gen, now, meta));
    else timer = setTimeout(() => tick(gen, performance.now(), null), delay);
  }

  function tick(gen, now, meta) {
    timer = null;
    if (!stream || closed || gen !== generation) return;
    const period = 1000 / Math.max(0.1, model.get("max_fps"));
    expire(now);
    const due = now - lastSent >= period * 0.9;
    if (due && video.videoWidth > 0 && inFlight.size < model.get("max_in_flight")) {
      lastSent = now;
      send(meta && meta.captureTime ? meta.captureTime : now);
    }
    schedule(Math.max(0, period - (performance.now() - now)));
  }

  function send(captured) {
    const [w, h] = frameSize();
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    ctx.drawImage(video, 0, 0, w, h);
    const id = nextId++;
    inFlight.set(id, performance.now());
    canvas.toBlob(async (blob) => {
      if (!blob || !stream) {
        inFlight.delete(id);
        return;
      }
      const buffer = await blob.arrayBuffer();
      model.send({ type: "frame", t: captured, id: id, view: view, width: w, height: h },
        undefined, [buffer]);
      sent++;
    }, "image/jpeg", model.get("quality"));
  }

  function onMessage(msg) {
    if (!msg || msg.type !== "ack" || msg.view !== view) return;
    if (inFlight.delete(msg.id)) acked++;
    windowCount++;
    const now = performance.now();
    if (now - windowStart >= 1000) {
      fps = (1000 * windowCount) / (now - windowStart);
      windowStart = now;
      windowCount = 0;
    }
    status.textContent = `${video.videoWidth}×${video.videoHeight} → ${canvas.width}×${canvas.height}` +
      ` · ${acked} frames · ${fps.toFixed(1)} frames/s`;
  }

  button.addEventListener("click", () => {
    if (stream) {
      stopCamera();
      model.set("running", false);
    } else {
      model.set("running", true);
      startCamera();
    }
    model.save_changes();
  });
  model.on("msg:custom", onMessage);
  model.on("change:running", () => {
    if (model.get("running") && !stream) startCamera();
    if (!model.get("running") && stream) stopCamera();
  });

  updateButton();
  if (model.get("running")) startCamera();
  else status.textContent = "stopped";

  return () => {
    closed = true;
    model.off("msg:custom", onMessage);
    stopCamera();
  };
}

export default { render };
