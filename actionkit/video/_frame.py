"""A frame and a frame source: what every live source yields (:mod:`actionkit.video.stream`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np


class SourceError(OSError):
    """A frame source cannot be opened or is gone for good; the message says what to try."""


@dataclass(frozen=True)
class Frame:
    """One captured frame.

    Attributes:
        image: ``H×W×3`` uint8 RGB.
        timestamp: ``time.monotonic()`` when it was captured (a file played in real time: when
            it was due).
        index: Frame number from the start of the source (across reconnections).
        pts: Media time in seconds, where the source knows it.
    """

    image: np.ndarray
    timestamp: float
    index: int
    pts: float | None


class FrameSource:
    """An iterable of :class:`Frame`; ends at the end of a file or after :meth:`close`.

    Attributes:
        name: What it reads (camera index, URL without credentials, path).
        fps: Nominal frame rate, where known.
        live: Frames come at their own pace (camera, stream, a file played in real time).
        reconnects: How many times a dropped stream or camera was reopened.
    """

    def __init__(self, name: str, fps: float | None, live: bool) -> None:
        self.name = name
        self.fps = fps
        self.live = live
        self.reconnects = 0
        self._count = 0
        self._closed = threading.Event()
        self._io = threading.Lock()  # held while reading: close() never frees a busy decoder
        self._released = False

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (or the source ended)."""
        return self._closed.is_set()

    def __iter__(self) -> Iterator[Frame]:
        return self

    def __next__(self) -> Frame:
        with self._io:
            try:
                frame = None if self._closed.is_set() else self._next()
            except BaseException:  # a source that failed is closed
                self._closed.set()
                self._release_once()
                raise
            if frame is None or self._closed.is_set():
                self._closed.set()
                self._release_once()
                raise StopIteration
        return frame

    def close(self) -> None:
        """Stop the source (idempotent, thread-safe): a blocked iteration ends soon after."""
        self._closed.set()
        self._wake()
        if self._io.acquire(blocking=False):  # else the reading thread releases it
            try:
                self._release_once()
            finally:
                self._io.release()

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"{type(self).__name__}({self.name!r}, fps={self.fps}, live={self.live}, {state})"

    # -- for subclasses --------------------------------------------------------------------------
    def _next(self) -> Frame | None:
        """The next frame, or ``None`` at the end."""
        raise NotImplementedError

    def _release(self) -> None:
        """Free the device, connection or file."""

    def _wake(self) -> None:
        """Wake a reader blocked in :meth:`_next` (after ``_closed`` is set)."""

    def _release_once(self) -> None:
        if not self._released:
            self._released = True
            self._release()

    def _frame(self, image: np.ndarray, timestamp: float | None, pts: float | None) -> Frame:
        index, self._count = self._count, self._count + 1
        stamp = time.monotonic() if timestamp is None else float(timestamp)
        return Frame(image=image, timestamp=stamp, index=index, pts=pts)


def _as_rgb(image: Any, where: str) -> np.ndarray:
    """``image`` as ``H×W×3`` uint8 (gray is repeated, alpha dropped); ValueError otherwise."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise ValueError(
            f"{where}: frames must be uint8, got {a.dtype} (for floats in [0, 1]: "
            "(x * 255).clip(0, 255).astype(np.uint8))"
        )
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[..., :3]
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"{where}: frames must be H×W×3 RGB (or H×W gray), got {a.shape}")
    return np.ascontiguousarray(a)
