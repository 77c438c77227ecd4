// actionkit LiveView: the newest frame with its label, top-k bars, stats, start/stop.
// Plain ES module for anywidget; no build step. User-visible text goes in with textContent.

function render({ model, el }) {
  el.classList.add("actionkit-live");
  const canvas = document.createElement("canvas");
  canvas.className = "actionkit-live-canvas";
  canvas.width = 320;
  canvas.height = 240;
  const ctx = canvas.getContext("2d");
  const bars = document.createElement("div");
  bars.className = "actionkit-live-bars";
  const bar = document.createElement("div");
  bar.className = "actionkit-live-bar";
  const button = document.createElement("button");
  button.className = "actionkit-live-button";
  const stats = document.createElement("span");
  stats.className = "actionkit-live-stats";
  bar.append(button, stats);
  el.append(canvas, bars, bar);
  let closed = false;
  let pending = 0; // only the newest image is drawn

  function label() {
    const top = model.get("top");
    return top && top.length ? `${top[0][0]} ${(100 * top[0][1]).toFixed(0)}%` : "";
  }

  function drawLabel() {
    const text = label();
    if (!text) return;
    const h = Math.max(14, Math.round(canvas.height / 12));
    ctx.font = `bold ${h}px sans-serif`;
    const w = ctx.measureText(text).width;
    ctx.fillStyle = "rgba(0, 0, 0, 0.6)";
    ctx.fillRect(0, 0, w + h, h * 1.5);
    ctx.fillStyle = "#fff";
    ctx.textBaseline = "middle";
    ctx.fillText(text, h / 2, h * 0.75);
  }

  async function drawImage() {
    const view = model.get("image");
    if (!view || !view.byteLength) {
      ctx.fillStyle = "#000";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      drawLabel();
      return;
    }
    const ticket = ++pending;
    const blob = new Blob([view], { type: "image/jpeg" });
    let bitmap;
    try {
      bitmap = await createImageBitmap(blob);
    } catch (err) {
      stats.textContent = "cannot show the frame: " + err;
      return;
    }
    if (closed || ticket !== pending) return;
    if (canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
      canvas.width = bitmap.width;
      canvas.height = bitmap.height;
    }
    ctx.drawImage(bitmap, 0, 0);
    bitmap.close();
    drawLabel();
  }

  function drawBars() {
    const rows = (model.get("top") || []).map(([name, score]) => {
      const row = document.createElement("div");
      row.className = "actionkit-live-row";
      const text = document.createElement("span");
      text.className = "actionkit-live-label";
      text.textContent = name;
      text.title = name;
      const track = document.createElement("div");
      track.className = "actionkit-live-track";
      const fill = document.createElement("div");
      fill.className = "actionkit-live-fill";
      fill.style.width = `${Math.max(0, Math.min(1, Number(score))) * 100}%`;
      track.append(fill);
      const value = document.createElement("span");
      value.className = "actionkit-live-score";
      value.textContent = `${(100 * Number(score)).toFixed(1)}%`;
      row.append(text, track, value);
      return row;
    });
    bars.replaceChildren(...rows);
  }

  function drawButton() {
    button.textContent = model.get("running") ? "Stop" : "Start";
  }

  button.addEventListener("click", () => {
    model.set("running", !model.get("running"));
    model.save_changes();
  });
  const onImage = () => drawImage();
  const onTop = () => { drawBars(); drawImage(); };
  const onStats = () => { stats.textContent = model.get("stats"); };
  model.on("change:image", onImage);
  model.on("change:top", onTop);
  model.on("change:stats", onStats);
  model.on("change:running", drawButton);
  drawButton();
  drawBars();
  drawImage();
  onStats();
  return () => {
    closed = true;
  };
}

export default { render };
