"""Transcode one video into a small, fast-seeking MP4 with the same frames.

:func:`transcode_video` decodes a source once and writes a copy at the training resolution
(short side 128 by default) with a short keyframe interval, so that random clip reads seek to a
nearby keyframe and decode small frames. What is kept, so that the copy means the same as its
source:

* every frame, in order: output frame ``i`` is source frame ``i`` (the ``i``-th frame that
  sequential decoding returns), also for variable frame rate sources; the output has a constant
  rate, the source's average unless ``fps`` is given;
* the picture's aspect: frames are scaled so the short side is ``short_side`` (never upscaled),
  in stored pixels, with the sample aspect ratio adjusted so players show the same shape;
* colours: frames are converted to limited-range BT.601 and tagged as such, the convention every
  decoder assumes for small videos.

Audio, subtitles and rotation metadata are not carried over. The output is written to a hidden
temporary file beside it (ending in :data:`TEMP_SUFFIX`) and renamed when complete, so a killed
transcode leaves nothing that looks finished. :mod:`actionkit.data.prepare` runs it over a
whole dataset.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

import av
from av.video.reformatter import Interpolation

from actionkit.utils.atomic import atomic_path

__all__ = [
    "TEMP_SUFFIX",
    "TranscodeError",
    "TranscodeSettings",
    "Transcoded",
    "describe_error",
    "output_size",
    "transcode_video",
]

#: Suffix of the temporary files outputs are written to before the rename.
TEMP_SUFFIX = ".actionkit-part"

_DEFAULT_FPS = Fraction(25)
_BT601_OR_UNSPECIFIED = (2, 5, 6)  # AVCOL_SPC_UNSPECIFIED, BT470BG, SMPTE170M
_RATE_DENOMINATOR = 1001  # enough for NTSC rates (30000/1001) without huge mp4 time scales


class TranscodeError(Exception):
    """A source that cannot be transcoded; the message is a one-line reason."""


@dataclass(frozen=True)
class TranscodeSettings:
    """How to transcode (see :func:`transcode_video`); checked when made.

    Raises:
        ValueError: A setting out of range, or an encoder this FFmpeg build lacks.
    """

    short_side: int = 128
    fps: float | None = None
    codec: str = "libx264"
    crf: int = 23
    gop: int = 8

    def __post_init__(self) -> None:
        if not isinstance(self.short_side, int) or self.short_side < 2:
            raise ValueError(f"short_side={self.short_side!r} must be an integer of at least 2")
        if self.fps is not None and not (0 < self.fps <= 1000):
            raise ValueError(f"fps={self.fps!r} must be positive (and at most 1000)")
        if not isinstance(self.gop, int) or self.gop < 1:
            raise ValueError(f"gop={self.gop!r} must be a positive integer")
        if not isinstance(self.crf, int) or not 0 <= self.crf <= 51:
            raise ValueError(f"crf={self.crf!r} must be an integer from 0 to 51")
        try:
            av.codec.Codec(self.codec, "w")
        except Exception:
            raise ValueError(
                f"codec={self.codec!r} is not an encoder this FFmpeg build has"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Transcoded:
    """What :func:`transcode_video` wrote: the frame count, and a warning worth showing."""

    frames: int
    warning: str | None = None


def transcode_video(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    short_side: int = 128,
    fps: float | None = None,
    codec: str = "libx264",
    crf: int = 23,
    gop: int = 8,
    threads: int | None = None,
) -> Transcoded:
    """Transcode one video to a small MP4 with the same frames, written atomically.

    Args:
        src: Source video (any container and codec FFmpeg decodes).
        dst: Output file (an MP4 container whatever its suffix); its folder is created.
        short_side: Short side of the output frames; a smaller source keeps its size (rounded
            down to even numbers, which 4:2:0 chroma needs).
        fps: Frame rate stamped on the output; default the source's average rate. Frames are
            never dropped or duplicated, so a rate other than the source's changes the playback
            speed, not the frame count.
        codec: FFmpeg encoder (``libx264``; ``libx265``, ``mpeg4``... work too).
        crf: Constant rate factor for x264/x265 (lower: better quality, bigger files).
        gop: Keyframe interval in frames; short means cheap seeks for random clip reads.
        threads: Decoder and encoder threads (default: the CPU count).

    Returns:
        The frame count and, for a source that decoded with errors, a warning.

    Raises:
        TranscodeError: The source holds no decodable video, or decoding it stopped early.
        av.FFmpegError: FFmpeg could not open, decode or encode it.
        ValueError: A bad setting (see :class:`TranscodeSettings`).
    """
    settings = TranscodeSettings(short_side, fps, codec, crf, gop)
    with (
        atomic_path(dst, suffix=TEMP_SUFFIX) as tmp,
        av.open(str(src), metadata_errors="ignore") as source,
    ):
        frames, warning = _transcode_open(
            source, str(tmp), settings, threads or os.cpu_count() or 1
        )
    return Transcoded(frames, warning)


def output_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """Output ``(width, height)``: short side ``short_side`` (never upscaled), both even."""
    short, long_ = min(width, height), max(width, height)
    target = min(short_side, short)
    target = max(2, target - target % 2)
    other = max(2, 2 * round(long_ * target / short / 2))
    return (other, target) if width >= height else (target, other)


def _source_rate(stream: av.video.stream.VideoStream) -> Fraction:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and 0 < rate <= 1000:
            return Fraction(rate).limit_denominator(_RATE_DENOMINATOR)
    return _DEFAULT_FPS


def _transcode_open(
    source: av.container.InputContainer, tmp_name: str, s: TranscodeSettings, threads: int
) -> tuple[int, str | None]:
    if not source.streams.video:
        kinds = sorted({st.type for st in source.streams if st.type})
        raise TranscodeError("no video stream" + (f" (only {', '.join(kinds)})" if kinds else ""))
    in_stream = source.streams.video[0]
    if in_stream.codec_context is None:
        raise TranscodeError("FFmpeg has no decoder for its video codec")
    in_stream.thread_type = "AUTO"
    in_stream.codec_context.thread_count = threads
    declared = in_stream.frames or 0
    rate = (
        Fraction(s.fps).limit_denominator(_RATE_DENOMINATOR) if s.fps else _source_rate(in_stream)
    )

    count = corrupt = written = 0
    with av.open(tmp_name, mode="w", format="mp4") as out:
        out_stream = None
        try:
            for frame in source.decode(in_stream):
                if out_stream is None:
                    out_stream, size = _add_output_stream(out, in_stream, frame, rate, s, threads)
                    interpolation = _interpolation(frame)
                corrupt += bool(frame.is_corrupt)
                small = frame.reformat(
                    width=size[0],
                    height=size[1],
                    format="yuv420p",
                    dst_colorspace="ITU601",
                    src_color_range=_color_range(frame),
                    dst_color_range="MPEG",
                    interpolation=interpolation,
                    threads=1,
                )
                small.pts = count
                small.time_base = out_stream.codec_context.time_base
                count += 1
                packets = out_stream.encode(small)
                written += len(packets)
                out.mux(packets)
        except av.FFmpegError as exc:
            raise TranscodeError(
                f"decoding failed after {count} frames: {_ffmpeg_text(exc)}"
            ) from exc
        if out_stream is None:
            raise TranscodeError("no decodable video frames")
        packets = out_stream.encode(None)
        written += len(packets)
        out.mux(packets)
    if written != count:  # would break "output frame i is source frame i"
        raise TranscodeError(f"the encoder wrote {written} frames for {count} decoded")
    if declared and count + max(2, declared // 20) < declared:
        raise TranscodeError(
            f"truncated or corrupt: decoded {count} of the {declared} frames the container declares"
        )
    warning = None
    if corrupt:
        warning = f"{corrupt} of {count} frames decoded with errors (kept in place)"
    elif declared and count != declared:
        warning = f"decoded {count} frames, the container declares {declared} (kept {count})"
    return count, warning


def _add_output_stream(out, in_stream, frame, rate: Fraction, s: TranscodeSettings, threads: int):
    width, height = output_size(frame.width, frame.height, s.short_side)
    options = {"threads": str(threads)}
    if s.codec in ("libx264", "libx265"):
        options |= {"crf": str(s.crf), "preset": "fast"}
    if s.codec == "libx264":
        # No B-frames: decoding order is display order and every packet is one frame. Scene-cut
        # keyframes may come on top of the fixed interval; they only make seeks cheaper.
        options["bf"] = "0"
    stream = out.add_stream(s.codec, rate=rate, options=options)
    ctx = stream.codec_context
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv420p"
    ctx.gop_size = s.gop
    ctx.max_b_frames = 0
    ctx.time_base = 1 / rate
    stream.time_base = 1 / rate
    ctx.colorspace = 6  # SMPTE 170M (BT.601 matrix), what the frames are converted to
    ctx.color_range = 1  # MPEG (limited)
    sar = in_stream.sample_aspect_ratio or in_stream.codec_context.sample_aspect_ratio
    if sar and sar != 1 and sar > 0:
        # Same display shape as the source: DAR = SAR · w / h, solved for the output's SAR.
        dar = Fraction(sar) * frame.width / frame.height
        ctx.sample_aspect_ratio = (dar * height / width).limit_denominator(10_000)
    return stream, (width, height)


def _interpolation(frame: av.VideoFrame) -> Interpolation:
    """Area averaging (downscaling by large factors without aliasing); with exact rounding and
    full chroma when colours are converted (BT.709 or full range or another pixel format to
    limited BT.601), where swscale's fast path is off by 1–1.5 levels on average."""
    plain = (
        frame.format.name == "yuv420p"
        and frame.colorspace in _BT601_OR_UNSPECIFIED
        and _color_range(frame) == "MPEG"
    )
    if plain:
        return Interpolation.AREA
    return Interpolation.AREA | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT


def _color_range(frame: av.VideoFrame) -> str:
    if frame.color_range == 2 or frame.format.name.startswith("yuvj"):
        return "JPEG"
    return "MPEG"


def _ffmpeg_text(exc: BaseException) -> str:
    if isinstance(exc, av.FFmpegError) and exc.strerror:
        return exc.strerror
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def describe_error(exc: BaseException) -> str:
    """A one-line reason why a file could not be transcoded (for reports)."""
    if isinstance(exc, TranscodeError):
        return str(exc)
    if isinstance(exc, av.error.InvalidDataError):
        return f"not a video FFmpeg can read ({_ffmpeg_text(exc)})"
    if isinstance(exc, av.FFmpegError):
        return _ffmpeg_text(exc)
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
