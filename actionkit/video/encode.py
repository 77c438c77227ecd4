"""Write video files (generated datasets, test fixtures, transcoded clips), always atomically."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from actionkit.utils.atomic import atomic_path

# Codecs whose 4:2:0 chroma needs even frame sizes; odd sizes are written in 4:4:4 instead.
_SUBSAMPLED = {"libx264", "libx265", "mpeg4", "libvpx-vp9", "h264"}


def _pick_pix_fmt(codec: str, width: int, height: int, gray: bool) -> str:
    if codec == "mjpeg":
        return "yuvj444p" if (width % 2 or height % 2) else "yuvj420p"
    if codec in ("ffv1", "rawvideo"):
        return "gray" if gray else "yuv444p"
    if gray and codec in ("libx264", "h264"):
        return "gray"
    if codec in _SUBSAMPLED and (width % 2 or height % 2):
        return "yuv444p"
    return "yuv420p"


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray | Iterable[np.ndarray],
    fps: float = 25.0,
    *,
    codec: str = "libx264",
    crf: int | None = 23,
    gop: int | None = None,
    bframes: int | None = None,
    timestamps: Sequence[float] | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode frames to a video file, writing a temporary file first and renaming it.

    Args:
        path: Output file; its extension picks the container (``.mp4``, ``.avi``, ``.mkv``...).
        frames: ``T×H×W×3`` uint8 RGB (or ``T×H×W`` grayscale), as an array or an iterable.
        fps: Nominal frame rate.
        codec: FFmpeg encoder name (``libx264``, ``mpeg4``, ``mjpeg``, ``ffv1``...).
        crf: Constant rate factor for x264/x265 (lower is better quality).
        gop: Keyframe interval in frames (``None``: the encoder's default).
        bframes: Maximum consecutive B-frames (``None``: the encoder's default).
        timestamps: Optional presentation time of each frame in seconds, for variable frame rate.
        options: Extra encoder options.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    iterator = iter(frames)
    try:
        first = np.asarray(next(iterator))
    except StopIteration:
        raise ValueError(f"no frames to write to {path}") from None
    if first.ndim not in (2, 3) or (first.ndim == 3 and first.shape[2] != 3):
        raise ValueError(
            f"frames must be H×W×3 RGB or H×W gray, got a frame of shape {first.shape}"
        )
    # The temporary file keeps the suffix: PyAV picks the container from it.
    with atomic_path(path, prefix=f".{path.stem}.", suffix=path.suffix) as tmp:
        _encode(str(tmp), first, iterator, fps, codec, crf, gop, bframes, timestamps, options)
    return path


def _encode(tmp_name, first, rest, fps, codec, crf, gop, bframes, timestamps, options):
    height, width = first.shape[:2]
    gray = first.ndim == 2
    opts = dict(options or {})
    if crf is not None and codec in ("libx264", "libx265"):
        opts.setdefault("crf", str(crf))
    if bframes is not None:
        opts.setdefault("bf", str(bframes))
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(tmp_name, mode="w") as container:
        stream = container.add_stream(codec, rate=rate, options=opts)
        stream.width, stream.height = width, height
        stream.pix_fmt = _pick_pix_fmt(codec, width, height, gray)
        if gop is not None:
            stream.codec_context.gop_size = gop
        if timestamps is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        for i, array in enumerate(_chain(first, rest)):
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(array, dtype=np.uint8), format="gray" if gray else "rgb24"
            )
            if timestamps is not None:
                frame.pts = round(timestamps[i] * 1000)
                frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _chain(first: np.ndarray, rest: Iterable[np.ndarray]) -> Iterable[np.ndarray]:
    yield first
    yield from rest
