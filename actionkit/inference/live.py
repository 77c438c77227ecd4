"""Live predictions from a camera, a stream, a file or pushed frames, with bounded latency.

Two threads. The capture thread drains the source all the time and keeps only the newest
frames: a ring just long enough for one window, ``input_spec.frames_per_sample`` frames
``stride`` source frames apart (the model's frame step for 3D models, the segment spacing for
TSN/TSM). The inference thread runs at its own pace on the window that ends at the newest
frame. A model ten times too slow for the camera makes fewer predictions, never older ones:
latency and memory stay bounded whatever the model's speed.

Frames go through the model's eval preset exactly as in :func:`~actionkit.inference.predict`
(so a live prediction on a window equals ``predict`` on the same frames with one clip)::

    with LivePredictor(load_model("runs/demo/model.pt"), 0, smooth=5) as live:
        for result in live:            # or live.on_result(callback)
            print(result.top[:3], f"{result.latency * 1000:.0f} ms")
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from actionkit.data.presets import eval_transform
from actionkit.inference.events import Event, EventTracker
from actionkit.inference.predict import _class_names, _clip_probs, _evaluating, _positive_int
from actionkit.models.export import ExportedModel
from actionkit.models.runtime import RUNTIMES, with_runtime
from actionkit.utils.threads import ensure_passive_omp

__all__ = ["SMOOTHING", "Event", "LivePredictor", "LiveResult", "LiveStats"]

log = logging.getLogger(__name__)

#: How scores are smoothed over the last predictions.
SMOOTHING = ("mean", "ema")


@dataclass(frozen=True)
class LiveResult:
    """One prediction on the newest window of frames.

    Attributes:
        top: The ``top_k`` classes of the smoothed scores, best first, with their scores.
        scores: Smoothed probabilities of every class ``(C,)``.
        raw: This window's own probabilities ``(C,)``.
        label: The best class when it passes ``threshold`` and is one of ``labels``; else None.
        time: Seconds since the source started, of the newest frame behind the prediction
            (the media time for files).
        latency: Seconds from the capture of that newest frame to this result.
        frame_age: Seconds from the capture of the oldest frame in the window to this result.
        frame_index: Source index of the newest frame.
        window: Source indices of the frames in the window, oldest first.
        frame: That frame (``H×W×3`` RGB), for drawing.
    """

    top: list[tuple[str, float]]
    scores: np.ndarray
    raw: np.ndarray
    label: str | None
    time: float
    latency: float
    frame_age: float
    frame_index: int
    window: tuple[int, ...] = ()
    frame: np.ndarray | None = field(default=None, repr=False)


@dataclass
class LiveStats:
    """Counters of a live run (read them while it runs or after)."""

    frames_captured: int = 0
    frames_dropped: int = 0
    predictions: int = 0
    reconnects: int = 0
    seconds: float = 0.0
    latencies: collections.deque = field(default_factory=lambda: collections.deque(maxlen=1000))

    @property
    def capture_fps(self) -> float:
        return self.frames_captured / self.seconds if self.seconds else 0.0

    @property
    def predictions_per_second(self) -> float:
        return self.predictions / self.seconds if self.seconds else 0.0

    def latency(self, q: float) -> float:
        """The ``q`` quantile (0.5: median) of the recent end-to-end latencies, seconds."""
        return float(np.quantile(list(self.latencies), q)) if self.latencies else float("nan")

    def __str__(self) -> str:
        return (
            f"capture {self.capture_fps:.1f} fps, {self.predictions_per_second:.1f} predictions/s, "
            f"latency median {self.latency(0.5) * 1000:.0f} ms p95 {self.latency(0.95) * 1000:.0f}"
            f" ms, {self.frames_dropped} of {self.frames_captured} frames dropped, "
            f"{self.reconnects} reconnects"
        )


class LivePredictor:
    """Predict continuously on the newest frames of ``source``.

    Args:
        model: A classifier (or an exported model) with ``input_spec`` and ``classes``.
        source: What :func:`actionkit.video.stream.open_source` takes (a camera index, a URL, a
            file, an iterable of frames) or an open ``FrameSource`` / ``PushSource``.
        top_k: Classes in each result's ``top``.
        smooth: Predictions the scores are smoothed over (1: none).
        smoothing: ``"mean"`` of the last ``smooth`` predictions or ``"ema"`` (weight
            ``2 / (smooth + 1)`` on the newest).
        threshold: A result's ``label`` needs at least this smoothed score.
        labels: Only these classes become a ``label`` (and events); ``None``: all.
        min_event: An event is a label held at least this many seconds.
        stride: Source frames between the frames the model sees; default: the model's frame
            step (3D models) or ``segment_spacing`` (TSN/TSM).
        segment_spacing: Source frames between TSN/TSM segments (default 4: 8 segments span
            about a second at 30 fps).
        realtime: A file source plays at its own frame rate (else as fast as it decodes).
        device: Where the model runs (default: where it is).
        runtime: ``"auto"`` (ONNX Runtime on a CPU where the ``onnx`` extra is installed:
            5-6x faster measured; the model is exported once when the engine starts),
            ``"torch"`` or ``"onnx"`` (:func:`~actionkit.models.runtime.with_runtime`).
        on_frame: Called in the capture thread with every source frame (keep it quick).

    Raises:
        ValueError: a bad option (named, with the valid choices).
    """

    def __init__(
        self,
        model,
        source: Any,
        *,
        top_k: int = 5,
        smooth: int = 1,
        smoothing: str = "mean",
        threshold: float = 0.0,
        labels: Sequence[str] | None = None,
        min_event: float = 1.0,
        stride: int | None = None,
        segment_spacing: int = 4,
        realtime: bool = True,
        device: str | torch.device | None = None,
        runtime: str = "auto",
        on_frame: Callable[[Any], None] | None = None,
    ) -> None:
        spec = model.input_spec
        self.classes = _class_names(
            model, getattr(model, "num_classes", None) or len(model.classes)
        )
        _check_options(top_k, smooth, smoothing, threshold, labels, self.classes, stride)
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime={runtime!r} is not one of {', '.join(RUNTIMES)}")
        self.model, self.spec, self.device, self.runtime = model, spec, device, runtime
        self.top_k, self.smooth, self.smoothing = top_k, smooth, smoothing
        self.threshold, self.labels = threshold, set(labels) if labels else None
        self.stride = stride or (segment_spacing if spec.uses_segments else spec.frame_step)
        self._source_arg, self._realtime, self._on_frame = source, realtime, on_frame
        self.stats = LiveStats()
        self.events: list[Event] = []
        self._tracker = EventTracker(min_event)
        span = (spec.frames_per_sample - 1) * self.stride + 1
        self._ring: collections.deque = collections.deque(maxlen=span)
        self._new = threading.Condition()
        self._version = 0  # windows appended so far
        self._version_seen = -1  # the window last predicted
        self._ended = False  # the source has no more frames
        self._stop = threading.Event()
        self._callbacks: list[Callable[[LiveResult], None]] = []
        self._event_callbacks: list[Callable[[Event], None]] = []
        self._results: queue.Queue = queue.Queue(maxsize=64)
        self._threads: list[threading.Thread] = []
        #: What stopped a thread (the source failed, the model raised), or None.
        self.error: BaseException | None = None
        self.latest: LiveResult | None = None
        self.latest_frame: np.ndarray | None = None

    # -- control ------------------------------------------------------------------------------
    def on_result(self, callback: Callable[[LiveResult], None]) -> None:
        """Call ``callback(result)`` for every result (in the inference thread)."""
        self._callbacks.append(callback)

    def on_event(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback(event)`` when an event ends (a label held at least ``min_event``)."""
        self._event_callbacks.append(callback)

    def start(self) -> LivePredictor:
        """Open the source and start both threads."""
        from actionkit.video.stream import FrameSource, PushSource, open_source

        ensure_passive_omp()
        self.model = with_runtime(self.model, self.runtime, self.device)
        src = self._source_arg
        self.source = src if isinstance(src, (FrameSource, PushSource)) else open_source(
            src, realtime=self._realtime
        )  # fmt: skip
        self._t0 = time.monotonic()
        for target in (self._capture, self._infer):
            thread = threading.Thread(target=self._guard(target), name=target.__name__, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop both threads and close the source; an event still open is closed."""
        self._stop.set()
        with self._new:
            self._new.notify_all()
        source = getattr(self, "source", None)
        if source is not None:
            source.close()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=10)
        last = self.latest.time if self.latest is not None else 0.0
        self._keep_event(self._tracker.close(last))
        self._offer(None)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the source ends (a file) or ``stop``; True when it has ended."""
        for thread in self._threads:
            thread.join(timeout)
        return not any(t.is_alive() for t in self._threads)

    def __enter__(self) -> LivePredictor:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __iter__(self) -> Iterator[LiveResult]:
        """The results as they come (older ones are dropped when the loop is slow)."""
        if not self._threads:
            self.start()
        while True:
            result = self._results.get()
            if result is None:
                if self.error is not None:
                    raise self.error
                return
            yield result

    # -- the two threads ----------------------------------------------------------------------
    def _guard(self, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as error:  # shown to the caller of __iter__ / stop
                self.error = error
                log.error("live %s stopped: %s", target.__name__.strip("_"), error)
            finally:
                self._stop.set()
                with self._new:
                    self._new.notify_all()
                if target == self._infer:
                    self._offer(None)

        return run

    def _capture(self) -> None:
        for frame in self.source:
            if self._stop.is_set():
                break
            self.stats.frames_captured += 1
            self.stats.reconnects = getattr(self.source, "reconnects", 0)
            self.stats.seconds = time.monotonic() - self._t0
            self.latest_frame = frame.image
            if self._on_frame is not None:
                self._on_frame(frame)
            with self._new:
                if len(self._ring) == self._ring.maxlen and not self._ring[0][1]:
                    self.stats.frames_dropped += 1  # it leaves the ring never seen by the model
                self._ring.append([frame, False])
                self._version += 1
                self._new.notify_all()
        with self._new:  # a file ended: the last window is still predicted, then it stops
            self._ended = True
            self._new.notify_all()

    def _infer(self) -> None:
        transform = eval_transform(self.spec)
        history: collections.deque = collections.deque(maxlen=self.smooth)
        ema = None
        device = None if isinstance(self.model, ExportedModel) else self.device
        with _evaluating(self.model, device) as run_on:
            while True:
                with self._new:
                    while not self._ready() and not (self._stop.is_set() or self._ended):
                        self._new.wait(0.5)
                    if not self._ready():
                        return
                    chosen = list(self._ring)[:: -self.stride][::-1]  # ends at the newest
                    for entry in chosen:
                        entry[1] = True
                    window = [entry[0] for entry in chosen]
                    self._version_seen = self._version
                clip = transform(_stack([f.image for f in window]))
                raw = _clip_probs(self.model, clip.unsqueeze(0), run_on, 1)[0]
                if self.smoothing == "ema":
                    alpha = 2.0 / (self.smooth + 1)
                    ema = raw if ema is None else alpha * raw + (1 - alpha) * ema
                    scores = ema
                else:
                    history.append(raw)
                    scores = np.mean(history, axis=0)
                self._publish(window, raw, scores)

    def _ready(self) -> bool:
        return len(self._ring) == self._ring.maxlen and self._version != self._version_seen

    def _publish(self, window: list, raw: np.ndarray, scores: np.ndarray) -> None:
        now = time.monotonic()
        newest = window[-1]
        order = np.argsort(-scores, kind="stable")[: self.top_k]
        top = [(self.classes[int(i)], float(scores[i])) for i in order]
        name, score = top[0]
        label = (
            name
            if score >= self.threshold and (self.labels is None or name in self.labels)
            else None
        )
        media = newest.pts if newest.pts is not None else newest.timestamp - self._t0
        result = LiveResult(
            top=top, scores=scores, raw=raw, label=label, time=float(media),
            latency=now - newest.timestamp, frame_age=now - window[0].timestamp,
            frame_index=newest.index, window=tuple(f.index for f in window), frame=newest.image,
        )  # fmt: skip
        self.stats.predictions += 1
        self.stats.latencies.append(result.latency)
        self.stats.seconds = now - self._t0
        self.latest = result
        self._keep_event(self._tracker.update(label, score, result.time))
        for callback in self._callbacks:
            callback(result)
        self._offer(result)

    def _offer(self, item: LiveResult | None) -> None:
        """Queue ``item`` for the iterator; when nobody iterates fast enough, keep the newest
        (never blocks: an engine used through callbacks alone has nobody reading the queue)."""
        while True:
            try:
                self._results.put_nowait(item)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._results.get_nowait()

    def _keep_event(self, event: Event | None) -> None:
        if event is not None:
            self.events.append(event)
            log.debug("event: %s", event)
            for callback in self._event_callbacks:
                callback(event)


# -- helpers ----------------------------------------------------------------------------------
def resize_frame(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` (``H×W×3`` uint8) at ``size`` ``(h, w)`` (bilinear); as it is when it has it."""
    if image.shape[:2] == tuple(size):
        return image
    tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
    tensor = torch.nn.functional.interpolate(tensor, size=tuple(size), mode="bilinear")
    return tensor[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


def _stack(images: Iterable[np.ndarray]) -> np.ndarray:
    """Frames as one ``T×H×W×3`` array; frames of another size (a source that changed size
    mid-stream) are resized to the newest frame's size."""
    images = list(images)
    size = images[-1].shape[:2]
    return np.stack([resize_frame(image, size) for image in images])


def _check_options(top_k, smooth, smoothing, threshold, labels, classes, stride) -> None:
    for name, value in (("top_k", top_k), ("smooth", smooth)):
        _positive_int(name, value)
    if stride is not None:
        _positive_int("stride", stride)
    if smoothing not in SMOOTHING:
        raise ValueError(f"smoothing={smoothing!r} is not one of {', '.join(SMOOTHING)}")
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold={threshold!r} must be in [0, 1]")
    unknown = sorted(set(labels or ()) - set(classes))
    if unknown:
        raise ValueError(
            f"labels {', '.join(map(repr, unknown))} are not classes of the model; its classes: "
            f"{', '.join(classes)}"
        )
