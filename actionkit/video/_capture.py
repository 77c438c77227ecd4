"""The sources that capture: network streams and files (PyAV) and cameras (OpenCV), reopened
with back-off when they drop (:func:`actionkit.video.stream.open_source` opens them)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import av
import numpy as np

from actionkit.video._frame import Frame, FrameSource, SourceError

log = logging.getLogger("actionkit.video.stream")

#: Seconds to wait for a stream or a camera to open, and for each read.
OPEN_TIMEOUT = 10.0
READ_TIMEOUT = 5.0


class _Retry(NamedTuple):
    """When and how often a dropped source is reopened (see :func:`open_source`)."""

    reconnect: bool
    max_reconnects: int | None
    backoff: tuple[float, float]


class _Reconnecting(FrameSource):
    """A source that reopens itself with exponential back-off when it drops."""

    def __init__(self, name: str, live: bool, retry: _Retry) -> None:
        super().__init__(name, None, live)
        self._retry = retry
        self._attempts = 0  # reconnection attempts since the last frame

    def _reopen(self, why: str, reopen: Callable[[], None]) -> None:
        """Call ``reopen`` with back-off until it works; SourceError after ``max_reconnects``."""
        self._release()
        while not self._closed.is_set():
            most, (first, longest) = self._retry.max_reconnects, self._retry.backoff
            if most is not None and self._attempts >= most:
                raise SourceError(
                    f"{self.name}: gave up after {most} reconnection attempts (last: {why}); "
                    "check that the stream or camera is up, or raise max_reconnects"
                )
            self._attempts += 1
            delay = min(first * 2 ** (self._attempts - 1), longest)
            of = f"/{most}" if most is not None else ""
            msg = "%s: %s; reconnecting in %.1f s (attempt %d%s)"
            log.warning(msg, self.name, why, delay, self._attempts, of)
            if self._closed.wait(delay):
                return
            try:
                reopen()
            except SourceError as exc:
                why = str(exc)
                continue
            self.reconnects += 1
            log.info("%s: reconnected (attempt %d)", self.name, self._attempts)
            return


def _redact(url: str) -> str:
    """The URL without a password (``rtsp://user:secret@host`` -> ``rtsp://user:***@host``)."""
    return re.sub(r"^([^:/]+://[^:/@]+):[^@/]*@", r"\1:***@", url)


def _stream_options(url: str) -> dict[str, str]:
    """FFmpeg options for low delay and bounded waits on a network stream."""
    micro = str(int(READ_TIMEOUT * 1e6))
    opts = dict(fflags="nobuffer", flags="low_delay", rw_timeout=micro)
    opts.update(analyzeduration="1000000", probesize="1000000")  # start within about 1 s
    scheme = url.split(":", 1)[0].lower()
    if scheme in ("rtsp", "rtsps"):
        opts["rtsp_transport"] = "tcp"
    if scheme in ("rtsp", "rtsps", "http", "https", "tcp", "udp"):
        opts["timeout"] = micro  # socket I/O timeout, microseconds
    return opts


class _AVSource(_Reconnecting):
    """A file or a network stream, decoded by PyAV."""

    def __init__(self, target: str, *, url: bool, realtime: bool, retry: _Retry) -> None:
        super().__init__(_redact(target) if url else target, url or realtime, retry)
        self._target, self._url, self._realtime = target, url, realtime and not url
        self._container: Any = None
        self._frames: Iterator[av.VideoFrame] = iter(())
        self._t0: float | None = None
        self._pts0 = 0.0
        self._open()

    def _open(self) -> None:
        try:
            if self._url:
                opts = _stream_options(self._target)
                container = av.open(
                    self._target, options=opts, timeout=(OPEN_TIMEOUT, READ_TIMEOUT)
                )
            else:
                container = av.open(self._target)
        except (av.FFmpegError, OSError) as exc:
            hint = "check it is a video file (try it in a player)"
            if self._url:
                hint = "check the URL, that the server is up and reachable from here"
            raise SourceError(f"cannot open {self.name}: {exc}; {hint}") from exc
        if not container.streams.video:
            container.close()
            raise SourceError(f"{self.name} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "SLICE" if self._url else "AUTO"  # frame threads add delay
        rate = stream.average_rate or stream.guessed_rate
        self.fps = float(rate) if rate else self.fps
        self._container, self._frames = container, _decoded(container, stream, self.name)

    def _next(self) -> Frame | None:
        while True:
            try:
                frame = next(self._frames)
            except StopIteration:
                if not (self._url and self._retry.reconnect):
                    return None
                why = "the stream ended"
            except (av.FFmpegError, OSError) as exc:
                if not (self._url and self._retry.reconnect):
                    where = "the stream" if self._url else "the file (is it damaged?)"
                    raise SourceError(f"{self.name}: reading {where} failed: {exc}") from exc
                why = f"the stream dropped ({exc})"
                if isinstance(exc, av.ExitError):  # PyAV's read timeout
                    why = f"no data for {READ_TIMEOUT:g} s"
            else:
                self._attempts = 0
                return self._deliver(frame)
            self._reopen(why, self._open)
            if self._closed.is_set():
                return None

    def _deliver(self, frame: av.VideoFrame) -> Frame | None:
        image = frame.to_ndarray(format="rgb24", threads=1)
        pts = float(frame.time) if frame.time is not None else None
        if not self._realtime:
            return self._frame(image, None, pts)
        now = time.monotonic()
        if self._t0 is None:
            self._t0, self._pts0 = now, pts or 0.0
        offset = pts - self._pts0 if pts is not None else self._count / (self.fps or 25.0)
        due = self._t0 + offset  # fixed schedule: a slow consumer does not make it drift
        if due > now and self._closed.wait(due - now):
            return None
        return self._frame(image, due, pts)

    def _release(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container, self._frames = None, iter(())


def _decoded(container: Any, stream: Any, name: str) -> Iterator[av.VideoFrame]:
    """The frames of ``stream``, skipping packets the decoder rejects."""
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.InvalidDataError as exc:
            log.debug("%s: skipping an undecodable packet: %s", name, exc)
            continue
        yield from frames


class _CameraSource(_Reconnecting):
    """A local camera through OpenCV."""

    def __init__(self, index: int, retry: _Retry) -> None:
        super().__init__(f"camera {index}", True, retry)
        try:
            import cv2  # lazy: OpenCV is heavy, and only cameras need it
        except ImportError as exc:
            raise SourceError(
                f"camera {index} needs OpenCV: pip install opencv-python-headless "
                "(or use the browser webcam widget)"
            ) from exc
        self._cv2, self._index, self._cap = cv2, index, None
        self._open()
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 else None

    def _open(self) -> None:
        cv2 = self._cv2
        ms = int(OPEN_TIMEOUT * 1000), int(READ_TIMEOUT * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms[0], cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms[1]]
        cap = cv2.VideoCapture(self._index, cv2.CAP_ANY, params)
        if not cap.isOpened():
            cap.release()
            raise SourceError(
                f"camera {self._index} did not open. Try another index (open_source(0), "
                "open_source(1)...); check permissions (the user needs to be in the 'video' "
                "group); list the cameras with `ls /dev/video*`; on a remote kernel (Colab, a "
                "server) there is no local camera: use the browser webcam widget (PushSource)"
            )
        self._cap = cap

    def _next(self) -> Frame | None:
        while True:
            ok, bgr = self._cap.read() if self._cap is not None else (False, None)
            if ok and bgr is not None:
                self._attempts = 0
                rgb = bgr[..., 2::-1] if bgr.ndim == 3 else np.repeat(bgr[..., None], 3, 2)
                return self._frame(np.ascontiguousarray(rgb), None, None)
            if not self._retry.reconnect:
                raise SourceError(
                    f"camera {self._index} stopped delivering frames "
                    "(unplugged, or taken by another program?)"
                )
            self._reopen("no frame from the camera", self._open)
            if self._closed.is_set():
                return None

    def _release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
