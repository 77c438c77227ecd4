"""Model-assisted labeling: a trained model's segments, proposed on the annotation page.

A :class:`Suggester` runs in one background thread: it loads the model once, then runs
:func:`~actionkit.inference.predict_timeline` on each video in turn and keeps the merged
segments of its top labels (without a ``background`` class) as proposals. The page asks for
one video's proposals at a time; that video moves to the front of the queue. A video that
fails keeps its error; the others go on.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from pathlib import Path
from typing import Any

from actionkit.annotate.annotations import frames_to_seconds, seconds_to_frames

__all__ = ["BACKGROUND", "STATUSES", "Suggester"]

log = logging.getLogger(__name__)

#: The negative class ``actionkit clips --negatives`` makes: never proposed.
BACKGROUND = "background"
STATUSES = ("pending", "running", "done", "error")


class Suggester:
    """Proposals of a saved model for each video of a folder, computed in a daemon thread.

    Args:
        model_file: A model saved by training (:func:`~actionkit.models.save_model`).
        video_dir: The folder the video paths are relative to.
        videos: Relative paths (with ``/``) in the order to work through them.
        min_score: Windows whose top score is below this propose nothing.
        start: Start the thread now (else call :meth:`start`).
    """

    def __init__(
        self,
        model_file: str | os.PathLike,
        video_dir: str | os.PathLike,
        videos: list[str],
        *,
        min_score: float = 0.5,
        start: bool = True,
    ) -> None:
        self.model_file = Path(model_file)
        self.video_dir = Path(video_dir)
        self.min_score = min_score
        self._queue: deque[str] = deque(videos)
        self._results: dict[str, dict[str, Any]] = {
            v: {"status": "pending", "error": None, "segments": []} for v in videos
        }
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="actionkit-suggest", daemon=True)
        if start:
            self.start()

    def start(self) -> Suggester:
        """Start the background thread; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the video being worked on (the thread is a daemon: it never blocks exit)."""
        with self._wake:
            self._stopped = True
            self._wake.notify_all()

    def status(self, video: str) -> dict[str, Any]:
        """``{"status", "error", "segments"}`` of ``video`` (``status`` is one of
        :data:`STATUSES`); an unknown video is queued (at the front)."""
        self.prioritize(video)
        with self._lock:
            entry = self._results[video]
            return {**entry, "segments": list(entry["segments"])}

    def prioritize(self, video: str) -> None:
        """Work on ``video`` next, unless it is done or being worked on."""
        with self._wake:
            entry = self._results.setdefault(
                video, {"status": "pending", "error": None, "segments": []}
            )
            if entry["status"] == "pending":
                if video in self._queue:
                    self._queue.remove(video)
                self._queue.appendleft(video)
                self._wake.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every queued video is done or failed; whether that happened in time."""
        with self._wake:
            return self._wake.wait_for(
                lambda: not self._queue and not self._running(), timeout=timeout
            )

    # -- the thread ---------------------------------------------------------------------------
    def _running(self) -> bool:
        return any(e["status"] == "running" for e in self._results.values())

    def _next(self) -> str | None:
        with self._wake:
            while not self._queue and not self._stopped:
                self._wake.wait()
            if self._stopped:
                return None
            video = self._queue.popleft()
            self._results[video]["status"] = "running"
            return video

    def _finish(self, video: str, segments: list[dict] | None, error: str | None) -> None:
        with self._wake:
            self._results[video] = {
                "status": "error" if error else "done",
                "error": error,
                "segments": segments or [],
            }
            self._wake.notify_all()

    def _run(self) -> None:
        error = None
        try:
            from actionkit.models import load_model

            model = load_model(self.model_file)
        except Exception as exc:  # every video then says why
            error = f"cannot load the model {self.model_file}: {exc}"
            log.warning("%s", error)
            model = None
        while (video := self._next()) is not None:
            if model is None:
                self._finish(video, None, error)
                continue
            try:
                segments = self._suggest(model, video)
            except Exception as exc:  # one bad video must not end the thread
                log.debug("suggestions for %s failed", video, exc_info=True)
                self._finish(video, None, f"{type(exc).__name__}: {exc}")
            else:
                self._finish(video, segments, None)

    def _suggest(self, model: Any, video: str) -> list[dict[str, Any]]:
        """The proposals for one video: segments of the timeline's top labels."""
        from actionkit.annotate.proxy import frame_times, needs_proxy
        from actionkit.inference import predict_timeline
        from actionkit.video import probe

        path = self.video_dir / video
        info = probe(path)
        window = clip_seconds(model.input_spec, info.fps)
        timeline = predict_timeline(
            model, path, window=window, stride=window / 2, progress=False, on_short="ignore"
        )
        # The page steps through the played file: a proxy is constant-rate, an original
        # variable-rate file has its own frame times.
        times = None if needs_proxy(path) else frame_times(path)
        centres = (timeline.starts + timeline.ends) / 2
        out = []
        for start, end, label in timeline.segments(min_score=self.min_score):
            if label == BACKGROUND:
                continue
            first, last = seconds_to_frames(start, end, info.fps, info.num_frames)
            inside = (centres >= start) & (centres < end)
            column = timeline.classes.index(label)
            score = float(timeline.scores[inside, column].mean()) if inside.any() else 0.0
            seconds = frames_to_seconds(first, last, info.fps, times)
            out.append({
                "label": label, "start": seconds[0], "end": seconds[1],
                "start_frame": first, "end_frame": last, "score": round(score, 4),
            })  # fmt: skip
        return out


def clip_seconds(spec: Any, fps: float) -> float:
    """The window a model scores at once: a 3D model's clip span (at least 1 s), 2 s for a
    segment model (its segments spread over the window)."""
    if spec.uses_segments:
        return 2.0
    return max(1.0, spec.clip_len * spec.frame_step / fps)
