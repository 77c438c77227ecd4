"""What the video layer hands out: file suffixes, :class:`VideoInfo` and :class:`VideoReadError`.

:func:`is_video_file` is the one answer to "is this a video?" for every folder scan in actionkit
(datasets, ``prepare``, ``check``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["VIDEO_EXTENSIONS", "VideoInfo", "VideoReadError", "is_video_file"]

#: Lowercase file suffixes treated as videos when scanning folders.
VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".m2v", ".wmv",
        ".asf", ".flv", ".3gp", ".3g2", ".ogv", ".ts", ".mts", ".m2ts", ".vob", ".mxf",
        ".divx", ".dv",
    }
)  # fmt: skip


class VideoReadError(Exception):
    """A video file that cannot be opened or decoded.

    Attributes:
        path: The file.
        reason: What is wrong with it, in words.
    """

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read video {self.path}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:  # survives pickling (e.g. out of a worker process)
        return (type(self), (self.path, self.reason))


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds.

    Attributes:
        path: The file.
        num_frames: Exact number of decodable frames (not the container's claim).
        fps: Average frame rate.
        duration: Seconds from the first frame's start to the last frame's end.
        width: Frame width in pixels, as stored.
        height: Frame height in pixels, as stored.
        codec: FFmpeg codec name (``h264``, ``mpeg4``...).
        backend: The backend that decodes this file (``pyav`` or ``torchcodec``).
    """

    path: str
    num_frames: int
    fps: float
    duration: float
    width: int
    height: int
    codec: str
    backend: str


def is_video_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a video: its suffix is one of :data:`VIDEO_EXTENSIONS`
    (case-insensitive) and its name is not hidden (``.`` first: temporary files, macOS ``._``
    resource forks)."""
    name = Path(path).name
    return not name.startswith(".") and Path(name).suffix.lower() in VIDEO_EXTENSIONS
