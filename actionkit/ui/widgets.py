"""Notebook widgets for live recognition: the browser's camera in, predictions out.

:class:`CameraWidget` opens the camera *in the browser* (``getUserMedia``), so it works with a
remote kernel: the camera is on the user's machine, the model wherever the kernel runs. Frames
come to the kernel as JPEG in custom widget messages, are decoded to H×W×3 uint8 RGB arrays and
handed to a sink (anything with ``put(image, timestamp=None)``; by default a
:class:`actionkit.video.stream.PushSource`, which :class:`~actionkit.inference.live.LivePredictor`
reads).

:class:`LiveView` shows what a live predictor makes of them: the newest frame with its label,
the top-k bars, a line of statistics and a start/stop button. It needs only
:meth:`LiveView.update`, called from any thread.

Importing this module imports anywidget (``import actionkit`` does not).
"""

from __future__ import annotations

import io
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import anywidget
import numpy as np
import traitlets
from PIL import Image

if TYPE_CHECKING:
    from actionkit.inference.live import LivePredictor, LiveResult, LiveStats
    from actionkit.video.stream import PushSource

STATIC = Path(__file__).parent / "static"

__all__ = ["CameraWidget", "FrameSink", "LiveDemo", "LiveView", "live_demo"]


class FrameSink(Protocol):
    """Where the camera's frames go: a non-blocking ``put``."""

    def put(self, image: np.ndarray, timestamp: float | None = None) -> None:
        """Take one H×W×3 uint8 RGB frame (``timestamp`` in seconds, or None for now)."""


def default_sink() -> PushSource:
    """A fresh :class:`~actionkit.video.stream.PushSource` for the browser's frames."""
    from actionkit.video.stream import PushSource

    return PushSource(name="browser camera")


def decode_jpeg(data: bytes | memoryview) -> np.ndarray:
    """Decode JPEG bytes to an H×W×3 uint8 RGB array (PIL releases the GIL while decoding)."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


class CameraWidget(anywidget.AnyWidget):
    """The browser's camera, streamed to the kernel at about the model's input size.

    In the browser, frames are drawn to a canvas whose short side is ``size`` (never upscaled)
    and sent as JPEG; at most ``max_in_flight`` frames wait for the kernel's ack, so a slow
    kernel gets fewer frames rather than a growing queue. Where the browser refuses the camera
    (a page that is not https or localhost, VS Code outputs, permission denied, no camera), the
    widget says why and what to do, and :attr:`error` holds the same text.

    Args:
        sink: Where the frames go (``put(image, timestamp)``); default :func:`default_sink`.
        on_frame: Also called with ``(image, timestamp)`` for every frame, in the kernel's
            message thread: keep it quick.
        **kwargs: Trait values (``size``, ``max_in_flight``, ``max_fps``, ``quality``,
            ``running``).

    Attributes:
        frames: The sink, where a live predictor takes the frames from.
        frames_received: Frames decoded so far.
        bytes_received: JPEG bytes received so far.
    """

    _esm = STATIC / "camera.js"
    _css = STATIC / "camera.css"

    size = traitlets.Int(224, help="short side of the frames sent, in pixels").tag(sync=True)
    max_in_flight = traitlets.Int(3, help="frames sent but not yet acked").tag(sync=True)
    max_fps = traitlets.Float(15.0, help="the most frames per second sent").tag(sync=True)
    quality = traitlets.Float(0.85, help="JPEG quality, 0 to 1").tag(sync=True)
    running = traitlets.Bool(True, help="whether the camera is on").tag(sync=True)
    error = traitlets.Unicode("", help="why the camera is unavailable ('' when it works)").tag(
        sync=True
    )

    def __init__(
        self,
        sink: FrameSink | None = None,
        on_frame: Callable[[np.ndarray, float], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.frames: FrameSink = default_sink() if sink is None else sink
        self._on_frame = on_frame
        self._lock = threading.Lock()
        self.frames_received = 0
        self.bytes_received = 0
        self.decode_errors = 0
        self._times: deque[float] = deque(maxlen=60)
        self._clock_offset: float | None = None
        self.on_msg(self._handle_message)

    @property
    def fps(self) -> float:
        """Frames per second received, over the last (up to) 60 frames."""
        with self._lock:
            if len(self._times) < 2 or self._times[-1] <= self._times[0]:
                return 0.0
            return (len(self._times) - 1) / (self._times[-1] - self._times[0])

    def stats(self) -> dict[str, float]:
        """The counters: frames received, bytes received, decode errors, frames/s."""
        with self._lock:
            counts = {
                "frames": self.frames_received,
                "bytes": self.bytes_received,
                "decode_errors": self.decode_errors,
            }
        return {**counts, "fps": self.fps}

    def _timestamp(self, browser_ms: Any) -> float:
        """The frame's capture time on this machine's monotonic clock, from the browser's."""
        now = time.monotonic()
        if not isinstance(browser_ms, (int, float)):
            return now
        t = float(browser_ms) / 1000.0
        with self._lock:
            # Offset to the earliest-arriving frame: latency spikes never move the clock back.
            if self._clock_offset is None or now - t < self._clock_offset:
                self._clock_offset = now - t
            return t + self._clock_offset

    def _handle_message(self, _widget: Any, content: Any, buffers: Sequence[Any]) -> None:
        if not isinstance(content, dict) or content.get("type") != "frame":
            return
        try:
            if buffers:
                data = buffers[0]
                image = decode_jpeg(data)
                timestamp = self._timestamp(content.get("t"))
                with self._lock:
                    self.frames_received += 1
                    self.bytes_received += memoryview(data).nbytes
                    self._times.append(time.monotonic())
                self.frames.put(image, timestamp=timestamp)
                if self._on_frame is not None:
                    self._on_frame(image, timestamp)
        except (OSError, ValueError):  # a corrupt frame is counted and skipped
            with self._lock:
                self.decode_errors += 1
        finally:  # ack even a bad frame, or the browser would stall
            self.send({"type": "ack", "id": content.get("id"), "view": content.get("view")})


def encode_jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    """An H×W×3 uint8 RGB array as JPEG bytes."""
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(
        out, format="JPEG", quality=quality
    )
    return out.getvalue()


class LiveView(anywidget.AnyWidget):
    """The newest frame with its label drawn, the top-k bars, a stats line, start/stop.

    Call :meth:`update` from a predictor's callback (any thread). The button toggles
    :attr:`running`; ``on_toggle`` (or ``observe(..., "running")``) hears it.

    Args:
        on_toggle: Called with the new ``running`` value when the button is pressed.
        max_fps: The most updates per second sent to the browser; extra ones are dropped
            (the newest always wins within ``1 / max_fps`` s).
        **kwargs: Trait values.
    """

    _esm = STATIC / "live.js"
    _css = STATIC / "camera.css"

    image = traitlets.Bytes(b"", help="the newest frame, JPEG").tag(sync=True)
    top = traitlets.List(help="[[label, score], ...], best first").tag(sync=True)
    stats = traitlets.Unicode("", help="predictions/s, latency").tag(sync=True)
    running = traitlets.Bool(False, help="the start/stop button's state").tag(sync=True)

    def __init__(
        self,
        on_toggle: Callable[[bool], Any] | None = None,
        max_fps: float = 15.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._lock = threading.Lock()
        self._min_interval = 1.0 / max_fps if max_fps > 0 else 0.0
        self._last = -float("inf")
        self.updates = 0
        if on_toggle is not None:
            self.observe(lambda change: on_toggle(bool(change["new"])), names="running")

    def update(
        self,
        image: np.ndarray | None,
        top: Sequence[tuple[str, float]],
        stats_text: str = "",
    ) -> bool:
        """Show a frame (or keep the last one, for None), its top-k and a stats line.

        Returns:
            Whether it was shown (False when dropped by the ``max_fps`` limit).
        """
        now = time.monotonic()
        with self._lock:
            if now - self._last < self._min_interval:
                return False
            self._last = now
            jpeg = None if image is None else encode_jpeg(image)
            with self.hold_sync():
                if jpeg is not None:
                    self.image = jpeg
                self.top = [[str(label), float(score)] for label, score in top]
                self.stats = stats_text
            self.updates += 1
        return True


class LiveDemo:
    """A :class:`CameraWidget` feeding a :class:`LivePredictor`, shown in a :class:`LiveView`.

    Made by :func:`live_demo`. The view's button starts and stops the predictor; since a
    stopped predictor closes its source, each start makes a fresh source and predictor.

    Attributes:
        camera: The camera widget.
        view: The live view.
        predictor: The running predictor, or None while stopped.
        stats: The counters of the predictor running or last stopped (None before a start).
        widget: Both, one above the other (what the notebook displays).
    """

    def __init__(self, model: Any, camera: CameraWidget, view: LiveView, **options: Any) -> None:
        import ipywidgets

        self.model, self.camera, self.view, self._options = model, camera, view, options
        self.predictor: LivePredictor | None = None
        self.stats: LiveStats | None = None
        self.widget = ipywidgets.VBox([camera, view])
        self._lock = threading.Lock()
        view.observe(lambda change: self.start() if change["new"] else self.stop(), "running")

    def start(self) -> None:
        """Start predicting on the camera's frames (a no-op while running)."""
        from actionkit.inference.live import LivePredictor

        with self._lock:
            if self.predictor is not None:
                return
            source = default_sink()
            self.camera.frames = source
            self.predictor = LivePredictor(self.model, source, **self._options)
            self.predictor.on_result(self._show)
            self.stats = self.predictor.stats
            self.predictor.start()
        self.view.running = True

    def stop(self) -> None:
        """Stop the predictor (a no-op while stopped); the camera keeps running."""
        with self._lock:
            predictor, self.predictor = self.predictor, None
        if predictor is not None:
            predictor.stop()
        self.view.running = False

    def _show(self, result: LiveResult) -> None:
        predictor = self.predictor
        rate = predictor.stats.predictions_per_second if predictor is not None else 0.0
        text = (
            f"{rate:.1f} predictions/s · latency {result.latency * 1000:.0f} ms · "
            f"camera {self.camera.fps:.1f} frames/s"
        )
        self.view.update(result.frame, result.top, text)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def live_demo(
    model: Any,
    *,
    top_k: int = 5,
    smooth: int = 5,
    size: int | None = None,
    start: bool = True,
    **options: Any,
) -> LiveDemo:
    """The browser's camera, live predictions of ``model`` and a view of them, in a notebook.

    Args:
        model: A classifier with ``input_spec`` and ``classes`` (e.g. ``load_model(path)``).
        top_k: Classes shown as bars.
        smooth: Predictions the scores are averaged over.
        size: Short side of the frames the browser sends (default: the model's resize).
        start: Start predicting at once (else at the view's Start button).
        **options: More :class:`~actionkit.inference.live.LivePredictor` options.

    Returns:
        The :class:`LiveDemo`; display it (the last expression of a cell) to see it.
    """
    camera = CameraWidget(size=size or model.input_spec.resize)
    demo = LiveDemo(model, camera, LiveView(), top_k=top_k, smooth=smooth, **options)
    if start:
        demo.start()
    return demo
