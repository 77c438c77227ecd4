"""The camera widget in a real Chromium, in a real JupyterLab, with a real kernel.

Chromium's fake camera plays a generated Y4M clip of flat grey frames; the frames that reach the
kernel must have the clip's luma as RGB (Chromium converts limited-range Y as 1.164 * (Y - 16)).
A page on a host name that is not localhost is no secure context: there the widget must say
why there is no camera and what to do, and report it to Python.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from tests import _browser

pytest.importorskip("anywidget", reason="anywidget is not installed (pip install anywidget)")

from actionkit.ui.widgets import STATIC, CameraWidget, LiveView, decode_jpeg, encode_jpeg

#: Luma of the clip's frames; each is held for HOLD frames at 10 fps.
LEVELS = (40, 100, 160, 220)
HOLD = 5
SIZE = 96  # the widget's short side: the 160×120 camera comes as 128×96

RECORDER = """
import time
from actionkit.ui.widgets import CameraWidget

class Recorder:
    def __init__(self):
        self.frames = []
    def put(self, image, timestamp=None):
        self.frames.append((image, timestamp, time.monotonic()))

rec = Recorder()
cam = CameraWidget(sink=rec, size=%d, max_fps=30)
cam
"""

SUMMARY = """
import json, numpy as np
got = rec.frames[-120:]
print(json.dumps({
    "count": len(rec.frames),
    "shapes": sorted({tuple(f[0].shape) for f in got}),
    "means": [[float(c) for c in f[0].reshape(-1, 3).mean(0)] for f in got],
    "stds": [float(f[0].std()) for f in got],
    "stamps": [f[1] for f in got],
    "stats": cam.stats(),
    "error": cam.error,
}))
"""


def expected_rgb(luma: int) -> float:
    """The grey level Chromium shows for limited-range luma ``luma`` (BT.601)."""
    return 1.164 * (luma - 16)


# -- the kernel side, without a browser ------------------------------------------------------------
def test_a_frame_message_is_decoded_counted_handed_on_and_acked():
    got = []
    camera = CameraWidget(sink=None, on_frame=lambda image, t: got.append((image, t)))
    sent = []
    camera.send = sent.append  # the comm is not open without a front end: record what goes back
    image = np.zeros((96, 128, 3), np.uint8)
    image[:, 64:] = (200, 40, 10)
    jpeg = encode_jpeg(image, quality=95)

    camera._handle_message(camera, {"type": "frame", "t": 5.0, "id": 7, "view": "v"}, [jpeg])

    ((frame, stamp),) = got
    assert frame.shape == (96, 128, 3) and frame.dtype == np.uint8
    assert np.abs(frame.astype(int) - image).mean() < 3
    assert camera.frames.put(frame)  # the default sink is an open PushSource
    assert sent == [{"type": "ack", "id": 7, "view": "v"}]
    assert camera.frames_received == 1 and camera.bytes_received == len(jpeg)
    assert stamp == pytest.approx(time.monotonic(), abs=1.0)


def test_a_corrupt_frame_is_counted_and_still_acked():
    camera = CameraWidget()
    sent = []
    camera.send = sent.append
    camera._handle_message(camera, {"type": "frame", "id": 1, "view": "v"}, [b"not a jpeg"])
    assert camera.decode_errors == 1 and camera.frames_received == 0
    assert sent == [{"type": "ack", "id": 1, "view": "v"}]


def test_live_view_update_sends_a_jpeg_and_the_top_classes_and_rate_limits():
    view = LiveView(max_fps=1)
    image = np.full((30, 40, 3), 90, np.uint8)
    assert view.update(image, [("wave", 0.75), ("clap", 0.25)], "2.0 predictions/s")
    assert decode_jpeg(view.image).shape == (30, 40, 3)
    assert view.top == [["wave", 0.75], ["clap", 0.25]]
    assert view.stats == "2.0 predictions/s"
    assert not view.update(image, [("clap", 1.0)], "later")  # within 1 s: dropped
    assert view.top[0][0] == "wave"


def test_the_widgets_web_files_are_package_data():
    import fnmatch

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    root = Path(__file__).resolve().parents[1]
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["actionkit"]
    static = [p.relative_to(root / "actionkit").as_posix() for p in STATIC.iterdir()]
    assert {"ui/static/camera.js", "ui/static/live.js", "ui/static/camera.css"} <= set(static)
    unshipped = [f for f in static if not any(fnmatch.fnmatch(f, g) for g in globs)]
    assert not unshipped, f"add them to [tool.setuptools.package-data]: {unshipped}"


# -- a real browser ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    reason = _browser.missing()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("lab")
    levels = [level for level in LEVELS for _ in range(HOLD)]
    clip = _browser.write_y4m(root / "grey.y4m", levels)
    server = _browser.JupyterLab(root).start()
    try:
        with _browser.launch_chromium(clip) as browser:
            yield server, browser
    finally:
        server.stop()


def wait_for_frames(client, count: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        summary = json.loads(_browser.run_in_kernel(client, SUMMARY))
        if summary["count"] >= count or time.monotonic() > deadline:
            return summary
        time.sleep(1.0)


@pytest.mark.slow
def test_camera_frames_reach_the_kernel_with_the_clips_grey_levels(lab):
    server, browser = lab
    notebook = server.create_notebook("camera.ipynb", [RECORDER % SIZE])
    page = browser.new_page()
    _browser.open_and_run_all(page, server, notebook)
    page.wait_for_selector(".actionkit-camera video", timeout=60_000)
    client = server.kernel_client(notebook)
    try:
        first = wait_for_frames(client, 10, timeout=60)
        time.sleep(3.0)
        summary = wait_for_frames(client, first["count"] + 10, timeout=30)
    finally:
        client.stop_channels()
    status = page.inner_text(".actionkit-camera-status")
    page.close()

    assert summary["error"] == ""
    assert summary["count"] >= 20, summary["count"]
    assert summary["shapes"] == [[SIZE, SIZE * 4 // 3, 3]]
    means = np.array(summary["means"])
    assert np.abs(means - means.mean(1, keepdims=True)).max() < 2, "grey frames came back colored"
    flat = np.array(summary["stds"]) < 3
    assert flat.mean() > 0.9, summary["stds"]
    grey = means.mean(1)[flat]
    expected = np.array([expected_rgb(level) for level in LEVELS])
    off = np.abs(grey[:, None] - expected[None, :]).min(1)
    assert off.max() < 4, list(zip(grey.round(1), off.round(1), strict=True))
    seen = {int(np.abs(expected - g).argmin()) for g in grey}
    assert len(seen) >= 3, f"the frames do not follow the clip over time: levels {seen}"
    stamps = np.array(summary["stamps"])
    assert np.all(np.diff(stamps) > 0), "capture times must increase"
    assert summary["stats"]["frames"] >= summary["count"]  # counted before the sink took it
    fps = summary["stats"]["fps"]
    # each video frame once: not more than the clip's 10 frames/s although max_fps is 30
    assert 3 < fps < 11.5, summary["stats"]
    assert "frames/s" in status
    levels = sorted({round(g) for g in grey})
    print(f"\ncamera: {fps:.1f} frames/s in the kernel; grey levels {levels}; page: {status}")


@pytest.mark.slow
def test_without_a_secure_context_the_widget_says_why_and_tells_python(lab):
    server, browser = lab
    notebook = server.create_notebook("nocamera.ipynb", [RECORDER % SIZE])
    page = browser.new_page()
    _browser.open_and_run_all(page, server, notebook, host=_browser.INSECURE_HOST)
    # the page really is insecure: no camera API at all (nothing was removed by the test)
    assert page.evaluate(
        "() => [window.isSecureContext, navigator.mediaDevices === undefined]"
    ) == [
        False,
        True,
    ]
    message = page.wait_for_selector(".actionkit-camera-error:not([hidden])", timeout=60_000)
    text = message.inner_text()
    assert "not a secure context" in text
    assert "ssh -L 8888:localhost:8888" in text and "http://localhost:8888" in text
    assert "Retry" in page.inner_text(".actionkit-camera-button")
    client = server.kernel_client(notebook)
    try:
        deadline = time.monotonic() + 30
        while True:
            error = _browser.run_in_kernel(client, "print(cam.error)").strip()
            if error or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        frames = _browser.run_in_kernel(client, "print(len(rec.frames))").strip()
    finally:
        client.stop_channels()
    page.close()
    assert error == " ".join(text.split()) or error in text.replace("\n", " ")
    assert "secure context" in error
    assert frames == "0"


LIVE_DEMO = """
from actionkit.models import create_model
from actionkit.ui.widgets import live_demo

model = create_model("tsm_efficientnet_lite0", num_classes=2, num_segments=4, pretrained=False)
model.input_spec = model.input_spec.replace(crop_size=32, resize=36)
demo = live_demo(model, top_k=2, smooth=1)
demo
"""


@pytest.mark.slow
def test_live_demo_shows_predictions_and_its_button_stops_them(lab):
    server, browser = lab
    notebook = server.create_notebook("live.ipynb", [LIVE_DEMO])
    page = browser.new_page()
    _browser.open_and_run_all(page, server, notebook)
    page.wait_for_function(
        "() => document.querySelectorAll('.actionkit-live-row').length === 2 &&"
        " document.querySelector('.actionkit-live-stats').textContent.includes('predictions/s')",
        timeout=120_000,
    )
    stats = page.inner_text(".actionkit-live-stats")
    canvas = page.evaluate(
        "() => { const c = document.querySelector('.actionkit-live-canvas');"
        " return [c.width, c.height]; }"
    )
    assert canvas == [48, 36]  # the newest frame as the camera sent it (short side 36)
    assert page.inner_text(".actionkit-live-button") == "Stop"
    page.click(".actionkit-live-button")
    page.wait_for_function(
        "() => document.querySelector('.actionkit-live-button').textContent === 'Start'"
    )
    client = server.kernel_client(notebook)
    try:
        deadline = time.monotonic() + 30
        while True:
            out = _browser.run_in_kernel(
                client,
                "print(demo.predictor is None, demo.stats.predictions, demo.view.updates)",
            ).split()
            if out[0] == "True" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        client.stop_channels()
    page.close()
    stopped, predictions, updates = out[0] == "True", int(out[1]), int(out[2])
    assert stopped, "the view's Stop button did not stop the predictor"
    assert predictions >= 1 and updates >= 1
    print(f"\nlive view: {stats}; {predictions} predictions")
