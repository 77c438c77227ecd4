"""Read video files: metadata, and frames at given indices, exactly.

One small reader interface over two decoding backends:

* ``pyav`` (the default, always available): PyAV wheels bundle FFmpeg, so nothing is needed
  from the system. It builds the frame table from the demuxed packets (cheap: no decoding), seeks
  to the keyframe at or before the first wanted frame and decodes forward. Measured faster than
  TorchCodec on the CPU (see :func:`available_backends`).
* ``torchcodec`` (by name, or ``ACTIONKIT_VIDEO_BACKEND=torchcodec``): TorchCodec's decoder, in
  exact seek mode. It needs FFmpeg's shared libraries from the system; where they are missing,
  ``import torchcodec`` works but creating a decoder fails, which :func:`available_backends`
  detects once per process.

Frame ``i`` is always the ``i``-th frame that decoding the whole file sequentially returns
(presentation order), whatever the container metadata says, and both backends return the same
frame count and, at stored size, bit-identical frames (``short_side`` resizing is done by each
backend's own FFmpeg: about one grey level apart on average).

Readers hold no threads and are meant to be opened where they are used: inside a Dataset's
``__getitem__``, i.e. in the DataLoader worker, not in the parent process (unlike decord,
nothing here hangs when a worker is forked, but an open file handle is not something to share
between processes anyway).

Example::

    with open_video("clip.mp4") as video:
        print(video.info.num_frames, video.info.fps)
        frames = video.read([0, 8, 16], short_side=128)   # (3, 128, W, 3) uint8 RGB
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from actionkit.video import _pyav, _torchcodec
from actionkit.video._types import VideoInfo, VideoReadError

__all__ = [
    "BACKENDS",
    "VideoReader",
    "available_backends",
    "open_video",
    "probe",
    "read_frames",
]

log = logging.getLogger(__name__)

BACKENDS = ("pyav", "torchcodec")  # in order of preference (measured: PyAV is faster on CPU)
ENV_BACKEND = "ACTIONKIT_VIDEO_BACKEND"


class _Backend(Protocol):
    """What a backend module's reader implements; :class:`VideoReader` does the rest."""

    info: VideoInfo

    def decode(self, indices: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
        """Frames at sorted, unique, in-range ``indices``: ``(n, H, W, 3)`` uint8 RGB."""
        ...

    def close(self) -> None: ...


def available_backends() -> list[str]:
    """The backends that work on this machine, preferred first.

    PyAV comes first: measured on CPU (see benchmarks/BENCHMARKS.md) it was faster than TorchCodec
    0.17 on every file (H.264 14.5 vs 9 clips/s, MJPEG 142 vs 105, 1360×1024 5.5 vs 3), because it
    skips decoding unreferenced B-frames. TorchCodec stays available by name.
    """
    return ["pyav", "torchcodec"] if _torchcodec.is_available() else ["pyav"]


def _resolve_backend(backend: str) -> str:
    if backend == "auto":
        backend = os.environ.get(ENV_BACKEND, "").strip().lower() or "auto"
        source = f"the environment variable {ENV_BACKEND}"
    else:
        source = "backend"
    if backend == "auto":
        return available_backends()[0]
    if backend not in BACKENDS:
        raise ValueError(f"{source}={backend!r} is not a video backend: use 'auto' or {BACKENDS}")
    if backend == "torchcodec" and "torchcodec" not in available_backends():
        raise RuntimeError(
            f"video backend {backend!r} ({source}) does not work here: "
            f"{_torchcodec.unavailable_reason()}; use 'pyav' or 'auto'"
        )
    return backend


def _check_file(path: str) -> None:
    """Clear errors for the failures that need no decoder to diagnose."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise VideoReadError(path, "no such file") from None
    except OSError as exc:
        raise VideoReadError(path, exc.strerror or str(exc)) from None
    if os.path.isdir(path):
        raise VideoReadError(path, "is a directory, not a video file")
    if st.st_size == 0:
        raise VideoReadError(path, "the file is empty (0 bytes)")


def open_video(path: str | os.PathLike, backend: str = "auto") -> VideoReader:
    """Open a video file for reading frames by index.

    Args:
        path: The video file.
        backend: ``"auto"`` (the first of :func:`available_backends`, or the backend named by the
            ``ACTIONKIT_VIDEO_BACKEND`` environment variable), ``"pyav"`` or ``"torchcodec"``.

    Returns:
        A :class:`VideoReader`; close it, or use it as a context manager.

    Raises:
        VideoReadError: The file is missing, empty, not a video, or has no decodable frame.
    """
    path = os.fspath(path)
    if not isinstance(path, str):
        path = os.fsdecode(path)
    name = _resolve_backend(backend)
    _check_file(path)
    reader = _torchcodec.TorchCodecReader if name == "torchcodec" else _pyav.PyAVReader
    return VideoReader(path, reader(path))


class VideoReader:
    """Random access to the frames of one video file. Use :func:`open_video` to create one.

    Attributes:
        info: The video's :class:`VideoInfo`.
    """

    def __init__(self, path: str, impl: _Backend) -> None:
        self.path = path
        self._impl: _Backend | None = impl
        self._info = impl.info

    @property
    def info(self) -> VideoInfo:
        # A backend may correct its frame count if a read finds the packet table was wrong.
        return self._impl.info if self._impl is not None else self._info

    def __len__(self) -> int:
        return self.info.num_frames

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        i = self.info
        state = "closed" if self._impl is None else i.backend
        return (
            f"VideoReader({self.path!r}, {i.num_frames} frames, {i.width}x{i.height}, "
            f"{i.fps:g} fps, {state})"
        )

    def close(self) -> None:
        """Release the file and the decoder (idempotent)."""
        if self._impl is not None:
            self._info = self._impl.info
            self._impl.close()
            self._impl = None

    def read(
        self, indices: Sequence[int] | np.ndarray, short_side: int | None = None
    ) -> np.ndarray:
        """Decode the frames at ``indices``.

        Args:
            indices: Frame indices, in any order; duplicates allowed.
            short_side: Scale frames while decoding so their short side has this length (aspect
                ratio kept, the long side rounded to an integer). ``None``: stored size. Much
                faster than decoding 1080p frames and resizing them afterwards.

        Returns:
            ``(len(indices), H, W, 3)`` uint8 RGB array, frames in the requested order.

        Raises:
            IndexError: An index is negative or not below the frame count.
            VideoReadError: The file cannot be decoded (or disappeared since it was opened).
        """
        if self._impl is None:
            raise ValueError(f"read from a closed VideoReader ({self.path})")
        idx = np.asarray(indices)
        if idx.ndim != 1:
            raise ValueError(f"indices must be one-dimensional, got shape {idx.shape}")
        if idx.size and idx.dtype.kind not in "iu":
            raise TypeError(f"frame indices must be integers, got dtype {idx.dtype}")
        info = self._impl.info
        size = _output_size(info.width, info.height, short_side)
        if idx.size == 0:
            h, w = size or (info.height, info.width)
            return np.empty((0, h, w, 3), dtype=np.uint8)
        self._check_range(idx, info.num_frames)
        if not os.path.exists(self.path):
            raise VideoReadError(self.path, "the file was deleted or moved after it was opened")
        unique, inverse = np.unique(idx.astype(np.int64), return_inverse=True)
        try:
            frames = self._impl.decode(unique, size)
        except IndexError:
            # the file turned out to hold fewer frames than its packets promised
            self._check_range(idx, self._impl.info.num_frames)
            raise
        if len(unique) == len(idx) and np.array_equal(unique, idx):
            return frames
        return frames[inverse.reshape(-1)]

    def _check_range(self, idx: np.ndarray, n: int) -> None:
        bad = idx[(idx < 0) | (idx >= n)]
        if bad.size:
            raise IndexError(
                f"frame index {int(bad[0])} is out of range for {self.path}, which has "
                f"{n} frames (valid: 0..{n - 1})"
            )


def _output_size(width: int, height: int, short_side: int | None) -> tuple[int, int] | None:
    """``(height, width)`` with the short side scaled to ``short_side``, or ``None``."""
    if short_side is None:
        return None
    if isinstance(short_side, bool) or not isinstance(short_side, (int, np.integer)):
        raise TypeError(f"short_side must be an int or None, got {short_side!r}")
    if short_side < 1:
        raise ValueError(f"short_side must be positive, got {short_side}")
    if min(width, height) == short_side:
        return None
    if height <= width:
        return int(short_side), max(1, round(width * short_side / height))
    return max(1, round(height * short_side / width)), int(short_side)


def probe(path: str | os.PathLike, backend: str = "auto") -> VideoInfo:
    """The :class:`VideoInfo` of a file (opens it, builds the frame table, closes it)."""
    with open_video(path, backend) as video:
        return video.info


def read_frames(
    path: str | os.PathLike,
    indices: Sequence[int] | np.ndarray,
    backend: str = "auto",
    short_side: int | None = None,
) -> np.ndarray:
    """Open a file, read ``indices`` (see :meth:`VideoReader.read`) and close it."""
    with open_video(path, backend) as video:
        return video.read(indices, short_side=short_side)
