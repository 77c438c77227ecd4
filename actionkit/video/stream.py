"""Live frame sources: cameras, network streams, files played in real time, pushed frames.

:func:`open_source` turns a camera index, a URL, a file path or an iterable of arrays into a
:class:`FrameSource`: an iterator of :class:`Frame` (``H×W×3`` uint8 RGB, a monotonic capture
time, a running index, the media time). :class:`PushSource` takes frames pushed from another
thread (a browser webcam widget). Sources only capture: a consumer that falls behind gets every
frame late (the live engine drops them); a frame whose size differs from the previous ones (a
stream that changes resolution) is delivered as is (the engine resizes).

Network streams and cameras that drop are reopened with exponential back-off; every blocking
read has a timeout, so nothing hangs; :meth:`FrameSource.close` (from any thread) ends the
iteration.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from actionkit.video._capture import _AVSource, _CameraSource, _Retry
from actionkit.video._frame import Frame, FrameSource, SourceError, _as_rgb

log = logging.getLogger(__name__)

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


class _IterSource(FrameSource):
    """Arrays, or ``(timestamp, array)`` pairs, from an iterable."""

    def __init__(self, items: Iterable[Any], name: str) -> None:
        super().__init__(name, None, False)
        self._items = iter(items)

    def _next(self) -> Frame | None:
        try:
            item = next(self._items)
        except StopIteration:
            return None
        stamp, image = item if isinstance(item, tuple) and len(item) == 2 else (None, item)
        return self._frame(_as_rgb(image, f"{self.name}, item {self._count}"), stamp, None)


class PushSource(FrameSource):
    """Frames pushed from another thread (a browser webcam widget); keeps the newest few.

    Iteration blocks until a frame arrives or the source is closed; after :meth:`close` it
    ends (frames still queued are discarded). ``index`` counts every frame put, so gaps show
    the frames dropped.

    Args:
        maxsize: Frames kept; putting one more drops the oldest (counted in ``dropped``).
        name: Name for logs and errors.
        fps: Nominal frame rate, where the producer knows it.
    """

    def __init__(self, *, maxsize: int = 2, name: str = "push", fps: float | None = None) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, got {maxsize}")
        super().__init__(name, fps, True)
        self.maxsize = maxsize
        self.dropped = 0
        self._queue: deque[Frame] = deque()
        self._cond = threading.Condition()

    def put(self, image: np.ndarray, timestamp: float | None = None) -> bool:
        """Queue a frame (copied) without blocking; ``False`` if the source is closed.

        Args:
            image: ``H×W×3`` uint8 RGB (``H×W`` gray and ``H×W×4`` RGBA are converted).
            timestamp: ``time.monotonic()`` when it was captured (``None``: now).

        Raises:
            ValueError: ``image`` is not a uint8 image.
        """
        if self.closed:
            return False
        copy = _as_rgb(np.array(image, copy=True), f"{self.name}, frame {self._count}")
        with self._cond:
            if self.closed:
                return False
            if len(self._queue) >= self.maxsize:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(self._frame(copy, timestamp, None))
            self._cond.notify()
        return True

    def _next(self) -> Frame | None:
        with self._cond:
            while not self._queue and not self.closed:
                self._cond.wait(timeout=1.0)
            return None if self.closed else self._queue.popleft()

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _release(self) -> None:
        with self._cond:
            self._queue.clear()


def open_source(
    source: int | str | os.PathLike | Iterable[Any] | FrameSource,
    *,
    realtime: bool = True,
    reconnect: bool = True,
    max_reconnects: int | None = None,
    backoff: tuple[float, float] = (0.5, 8.0),
) -> FrameSource:
    """Open a camera, a stream, a file or an iterable as a :class:`FrameSource`.

    Args:
        source: An int or a digit string: a local camera (OpenCV). A URL (``rtsp://``,
            ``rtmp://``, ``http(s)://``, ``udp://``, ``tcp://``...): a live stream (PyAV, low
            delay); when it ends or drops it is reopened. A path: a video file. An iterable of
            ``H×W×3`` uint8 arrays or ``(timestamp, array)`` pairs. A :class:`FrameSource`
            (e.g. a :class:`PushSource`) is returned as is.
        realtime: Play a file at its own frame rate (the source is then ``live``); ``False``:
            as fast as it decodes. Only for files.
        reconnect: Reopen a stream or camera that drops; ``False``: a drop raises SourceError
            and the end of a stream ends the iteration.
        max_reconnects: Attempts in a row (without a frame between) before giving up with a
            SourceError; ``None``: keep trying until closed.
        backoff: ``(first, longest)`` wait in seconds between attempts, doubling each time.

    Raises:
        SourceError: The camera, stream or file cannot be opened.
        TypeError: ``source`` is none of the above.
    """
    if isinstance(source, FrameSource):
        return source
    first, longest = (float(b) for b in backoff)
    if not 0 < first <= longest:
        raise ValueError(
            f"backoff must be (first, longest) seconds, 0 < first <= longest: {backoff}"
        )
    if max_reconnects is not None and max_reconnects < 0:
        raise ValueError(f"max_reconnects must be None or >= 0, got {max_reconnects}")
    retry = _Retry(bool(reconnect), max_reconnects, (first, longest))
    if isinstance(source, (int, np.integer)) and not isinstance(source, bool):
        return _CameraSource(int(source), retry)
    if isinstance(source, str) and source.strip().isdigit():
        return _CameraSource(int(source), retry)
    if isinstance(source, str) and _URL.match(source) and not source.startswith("file://"):
        return _AVSource(source, url=True, realtime=False, retry=retry)
    if isinstance(source, (str, os.PathLike)):
        path = Path(str(source).removeprefix("file://")).expanduser()
        if not path.is_file():
            what = "is a folder, not a video file" if path.is_dir() else "does not exist"
            raise SourceError(
                f"video file {path} {what}; check the path (relative paths are from {Path.cwd()})"
            )
        return _AVSource(str(path), url=False, realtime=realtime, retry=retry)
    if isinstance(source, Iterable) and not isinstance(source, (bytes, bytearray)):
        return _IterSource(source, name=type(source).__name__)
    raise TypeError(
        f"cannot open {source!r} as a frame source: give a camera index, a URL, a "
        "video file path, an iterable of images or a PushSource"
    )
