"""Generated videos whose frames carry their own index, for frame-exactness tests.

Frame ``i`` shows ``i`` in binary as :data:`BITS` vertical stripes (most significant bit on the
left: white is 1, black is 0), big enough to survive any lossy codec and a browser's scaling, so
a test reads which frame a decoder or a ``<video>`` element shows: :func:`read_index`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from actionkit.video.encode import write_video

BITS = 10  # up to 1023 frames
WIDTH, HEIGHT = 160, 120


def indexed_frame(i: int, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """The ``height×width×3`` uint8 frame that shows ``i``."""
    if not 0 <= i < 2**BITS:
        raise ValueError(f"frame index {i} does not fit in {BITS} bits")
    frame = np.zeros((height, width, 3), np.uint8)
    stripe = width // BITS
    for bit in range(BITS):
        if i >> (BITS - 1 - bit) & 1:
            frame[:, bit * stripe : (bit + 1) * stripe] = 255
    return frame


def read_index(frame: np.ndarray) -> int:
    """The index shown by ``frame`` (``H×W×3`` or ``H×W``, any size: it is read in proportion)."""
    frame = np.asarray(frame, dtype=np.float32)
    gray = frame.mean(axis=2) if frame.ndim == 3 else frame
    height, width = gray.shape
    stripe = width / BITS
    value = 0
    for bit in range(BITS):
        lo, hi = int((bit + 0.25) * stripe), int((bit + 0.75) * stripe)
        cell = gray[height // 4 : 3 * height // 4, lo:hi]
        value = value << 1 | int(cell.mean() > 127)
    return value


def write_indexed_video(
    path: str | Path,
    num_frames: int,
    fps: float = 25.0,
    *,
    codec: str = "libx264",
    gop: int | None = 12,
    timestamps: Sequence[float] | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Path:
    """Write ``num_frames`` indexed frames (``.mp4``, ``.avi``, ``.mkv``... from the suffix).

    ``timestamps`` (seconds, one per frame) makes a variable-frame-rate file.
    """
    frames = (indexed_frame(i, width, height) for i in range(num_frames))
    crf = 18 if codec in ("libx264", "libx265") else None
    return write_video(path, frames, fps, codec=codec, crf=crf, gop=gop, timestamps=timestamps)
