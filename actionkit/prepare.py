"""Transcode a video dataset once into small, fast-seeking files (``actionkit prepare``).

Training decodes every clip of every epoch; from 1080p sources most of that time goes into
decoding pixels the model never sees. :func:`prepare_dataset` decodes each source once and writes
a copy at the training resolution (short side 128 by default) with a short keyframe interval, so
that random clip reads seek to a nearby keyframe and decode small frames.

What is kept, so that a prepared dataset means the same as its source:

* the folder layout (class folders, nested folders) and every non-video file (split lists,
  ``classes.txt``, CSV, annotations), copied as they are;
* every frame, in order: output frame ``i`` is source frame ``i`` (the ``i``-th frame that
  sequential decoding returns), also for variable frame rate sources; the output has a constant
  rate, the source's average unless ``fps`` is given;
* the picture's aspect: frames are scaled so the short side is ``short_side`` (never upscaled),
  in stored pixels, with the sample aspect ratio adjusted so players show the same shape;
* colours: frames are converted to limited-range BT.601 and tagged as such, the convention every
  decoder assumes for small videos.

Audio, subtitles and rotation metadata are not carried over. Hidden files and folders (names
starting with ``.``) are skipped.

Each output is written to a hidden temporary file beside it and renamed when complete, so a
killed run leaves nothing that looks finished, and a rerun skips outputs that exist and are newer
than their source. A source that cannot be decoded is listed in the report, never fatal.

Example::

    report = prepare_dataset("data/hmdb51_org", "data/hmdb51_128", short_side=128)
    print(report)
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
from av.video.reformatter import Interpolation
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from actionkit.atomic import atomic_path
from actionkit.video import VIDEO_EXTENSIONS

__all__ = [
    "PrepareReport",
    "TranscodeError",
    "check_paths",
    "output_size",
    "prepare_dataset",
    "transcode_video",
]

log = logging.getLogger(__name__)

#: Suffix of the temporary files outputs are written to before the rename. Files ending in it are
#: removed from the destination at the start of a run (leftovers of a killed run).
TEMP_SUFFIX = ".actionkit-part"
#: Settings of the run that made a destination folder; a later run with other settings refuses to
#: mix its outputs with these unless ``overwrite=True``.
MANIFEST_NAME = ".actionkit-prepare.json"

_DEFAULT_FPS = Fraction(25)
_BT601_OR_UNSPECIFIED = (2, 5, 6)  # AVCOL_SPC_UNSPECIFIED, BT470BG, SMPTE170M
_RATE_DENOMINATOR = 1001  # enough for NTSC rates (30000/1001) without huge mp4 time scales


class TranscodeError(Exception):
    """A source that cannot be transcoded; the message is a one-line reason."""


@dataclass
class PrepareReport:
    """What :func:`prepare_dataset` did.

    Attributes:
        converted: Videos transcoded in this run.
        skipped_existing: Files (videos or others) whose output already existed and was newer
            than the source.
        copied: Non-video files copied in this run.
        failed: ``(path relative to SRC, reason)`` for each file that could not be prepared.
        seconds: Wall time of the run.
        bytes_in: Size of the sources of every file now prepared in DST (converted, copied or
            skipped); failed files are not counted.
        bytes_out: Size of those files' outputs in DST.
    """

    converted: int = 0
    skipped_existing: int = 0
    copied: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    bytes_in: int = 0
    bytes_out: int = 0

    @property
    def ok(self) -> bool:
        """Whether every file was prepared."""
        return not self.failed

    def __str__(self) -> str:
        lines = [
            f"converted {self.converted}, skipped {self.skipped_existing} (up to date), "
            f"copied {self.copied}, failed {len(self.failed)} in {_format_seconds(self.seconds)}",
        ]
        if self.bytes_in:
            lines.append(
                f"size: {_format_bytes(self.bytes_in)} -> {_format_bytes(self.bytes_out)} "
                f"({100 * self.bytes_out / self.bytes_in:.1f} %)"
            )
        if self.failed:
            lines.append("failed:")
            lines += [f"  {path}: {reason}" for path, reason in self.failed]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Settings:
    short_side: int
    fps: float | None
    codec: str
    crf: int
    gop: int


@dataclass(frozen=True)
class _Job:
    rel: str
    src: Path
    dst: Path
    settings: _Settings
    threads: int


@dataclass(frozen=True)
class _Result:
    rel: str
    error: str | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    frames: int = 0
    warning: str | None = None


# -- one file -------------------------------------------------------------------------------------
def transcode_video(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    short_side: int = 128,
    fps: float | None = None,
    codec: str = "libx264",
    crf: int = 23,
    gop: int = 8,
) -> None:
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

    Raises:
        TranscodeError: The source holds no decodable video, or decoding it stopped early.
        av.FFmpegError: FFmpeg could not open, decode or encode it.
    """
    settings = _Settings(short_side, fps, codec, crf, gop)
    _check_settings(settings)
    _transcode(Path(src), Path(dst), settings, threads=os.cpu_count() or 1)


def _check_settings(s: _Settings) -> None:
    if not isinstance(s.short_side, int) or s.short_side < 2:
        raise ValueError(f"short_side={s.short_side!r} must be an integer of at least 2")
    if s.fps is not None and not (0 < s.fps <= 1000):
        raise ValueError(f"fps={s.fps!r} must be positive (and at most 1000)")
    if not isinstance(s.gop, int) or s.gop < 1:
        raise ValueError(f"gop={s.gop!r} must be a positive integer")
    if not isinstance(s.crf, int) or not 0 <= s.crf <= 51:
        raise ValueError(f"crf={s.crf!r} must be an integer from 0 to 51")
    try:
        av.codec.Codec(s.codec, "w")
    except Exception:
        raise ValueError(f"codec={s.codec!r} is not an encoder this FFmpeg build has") from None


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


def _transcode(src: Path, dst: Path, s: _Settings, threads: int) -> tuple[int, str | None]:
    """Write ``dst`` from ``src``; returns the frame count and an optional warning."""
    with (
        atomic_path(dst, suffix=TEMP_SUFFIX) as tmp,
        av.open(str(src), metadata_errors="ignore") as source,
    ):
        frames, warning = _transcode_open(source, str(tmp), s, threads)
    return frames, warning


def _transcode_open(
    source: av.container.InputContainer, tmp_name: str, s: _Settings, threads: int
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


def _add_output_stream(out, in_stream, frame, rate: Fraction, s: _Settings, threads: int):
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


def _reason(exc: BaseException) -> str:
    """A one-line reason for the report."""
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


def _work(job: _Job) -> _Result:
    """Transcode one file (runs in a worker process); never raises for a bad source."""
    try:
        bytes_in = job.src.stat().st_size
        frames, warning = _transcode(job.src, job.dst, job.settings, job.threads)
        return _Result(job.rel, None, bytes_in, job.dst.stat().st_size, frames, warning)
    except Exception as exc:
        return _Result(job.rel, _reason(exc))


# -- the dataset ----------------------------------------------------------------------------------
def check_paths(src: str | os.PathLike, dst: str | os.PathLike) -> tuple[Path, Path]:
    """Validate a SRC/DST pair; returns both resolved.

    Raises:
        FileNotFoundError: SRC does not exist.
        NotADirectoryError: SRC or DST is not a folder.
        ValueError: One folder is inside the other (or they are the same).
    """
    src_path, dst_path = Path(src).expanduser(), Path(dst).expanduser()
    if not src_path.exists():
        raise FileNotFoundError(f"SRC {src} does not exist")
    if not src_path.is_dir():
        raise NotADirectoryError(f"SRC {src} is not a folder")
    if dst_path.exists() and not dst_path.is_dir():
        raise NotADirectoryError(f"DST {dst} exists and is not a folder")
    src_real, dst_real = src_path.resolve(), dst_path.resolve()
    if dst_real == src_real:
        raise ValueError(f"DST {dst} is SRC itself; pick a new folder for the prepared copy")
    if dst_real.is_relative_to(src_real):
        raise ValueError(
            f"DST {dst} is inside SRC {src}; pick a folder outside it "
            "(otherwise the outputs would be read as sources)"
        )
    if src_real.is_relative_to(dst_real):
        raise ValueError(f"SRC {src} is inside DST {dst}; pick a folder outside it")
    return src_real, dst_real


def _walk(root: Path) -> Iterator[Path]:
    """Every non-hidden file under ``root``, following folder links once, in sorted order."""
    seen: set[Path] = set()

    def visit(folder: Path) -> Iterator[Path]:
        real = folder.resolve()
        if real in seen:
            return
        seen.add(real)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            log.warning("cannot list %s: %s", folder, exc.strerror or exc)
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            if entry.is_dir():
                yield from visit(path)
            elif entry.is_file():
                yield path

    yield from visit(root)


def _is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


def _up_to_date(src: Path, dst: Path) -> bool:
    try:
        return dst.stat().st_mtime >= src.stat().st_mtime
    except FileNotFoundError:
        return False


def _remove_stale_temps(dst: Path) -> int:
    removed = 0
    for folder, _, files in os.walk(dst):
        for name in files:
            if name.startswith(".") and name.endswith(TEMP_SUFFIX):
                Path(folder, name).unlink(missing_ok=True)
                removed += 1
    return removed


def _check_manifest(dst: Path, settings: _Settings, overwrite: bool) -> None:
    manifest = dst / MANIFEST_NAME
    wanted = {
        "short_side": settings.short_side,
        "fps": settings.fps,
        "codec": settings.codec,
        "crf": settings.crf,
        "gop": settings.gop,
    }
    try:
        found = json.loads(manifest.read_text())
    except (OSError, ValueError):
        found = None
    if found == wanted:
        return
    if isinstance(found, dict) and not overwrite:
        diff = ", ".join(
            f"{k}={found.get(k)!r} (now {v!r})" for k, v in wanted.items() if found.get(k) != v
        )
        raise ValueError(
            f"DST {dst} was prepared with other settings: {diff}; use overwrite=True "
            "(--overwrite) to redo it, or another folder"
        )
    with atomic_path(manifest, prefix=f"{MANIFEST_NAME}.", suffix=TEMP_SUFFIX) as tmp:
        tmp.write_text(json.dumps(wanted, indent=2))


def _copy(src: Path, dst: Path) -> None:
    """Copy with the modification time, via a temporary file and a rename."""
    with atomic_path(dst, suffix=TEMP_SUFFIX, keep_mode=True) as tmp:
        shutil.copy2(src, tmp)


def prepare_dataset(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    short_side: int = 128,
    fps: float | None = None,
    codec: str = "libx264",
    crf: int = 23,
    gop: int = 8,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> PrepareReport:
    """Transcode every video under ``src`` into ``dst`` (same layout, ``.mp4``), copy the rest.

    Videos are recognised by their suffix (:data:`actionkit.video.VIDEO_EXTENSIONS`); each
    becomes ``dst/<same relative path>.mp4`` made by :func:`transcode_video`; every other file is
    copied. Outputs that exist and are newer than their source are skipped, so an interrupted run
    resumes where it stopped. A file that fails is listed in ``report.failed``; the others still
    go through.

    Args:
        src: The dataset folder.
        dst: Where the prepared copy goes (created; must not be inside ``src`` or hold it).
        short_side, fps, codec, crf, gop: See :func:`transcode_video`.
        workers: Files transcoded in parallel, each in its own process (default: the CPU count).
        overwrite: Redo every file, even up-to-date ones.
        progress: Show a progress bar.

    Returns:
        A :class:`PrepareReport`; ``print`` it for a summary.

    Raises:
        FileNotFoundError, NotADirectoryError, ValueError: Bad folders or settings (see
            :func:`check_paths`), before anything is written.
    """
    start = time.perf_counter()
    settings = _Settings(short_side, fps, codec, crf, gop)
    _check_settings(settings)
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers={workers!r} must be a positive integer")
    src_root, dst_root = check_paths(src, dst)
    _check_manifest(dst_root, settings, overwrite)
    stale = _remove_stale_temps(dst_root)
    if stale:
        log.info("removed %d unfinished file(s) of an earlier run from %s", stale, dst_root)

    report = PrepareReport()
    videos: list[tuple[str, Path, Path]] = []
    copies: list[tuple[str, Path, Path]] = []
    targets: dict[Path, list[str]] = {}
    for path in _walk(src_root):
        rel = path.relative_to(src_root)
        is_video = _is_video(path)
        out = dst_root / (rel.with_suffix(".mp4") if is_video else rel)
        (videos if is_video else copies).append((rel.as_posix(), path, out))
        targets.setdefault(out, []).append(rel.as_posix())
    clashes = {out: rels for out, rels in targets.items() if len(rels) > 1}

    todo: list[tuple[str, Path, Path]] = []
    copy_todo: list[tuple[str, Path, Path]] = []
    for items, queue in ((videos, todo), (copies, copy_todo)):
        for rel, path, out in items:
            if out in clashes:
                others = ", ".join(r for r in clashes[out] if r != rel)
                reason = f"clashes with {others}: both would become {_rel(out, dst_root)}"
                report.failed.append((rel, reason))
            elif not overwrite and _up_to_date(path, out):
                report.skipped_existing += 1
                report.bytes_in += path.stat().st_size
                report.bytes_out += out.stat().st_size
            else:
                queue.append((rel, path, out))
    log.info(
        "%s: videos to convert: %d, other files to copy: %d, up to date: %d",
        src_root,
        len(todo),
        len(copy_todo),
        report.skipped_existing,
    )

    total = len(todo) + len(copy_todo)
    with (
        logging_redirect_tqdm(),
        tqdm(total=total, desc="preparing", unit="file", disable=not progress) as bar,
    ):

        def done(result: _Result) -> None:
            if result.error is not None:
                log.warning("%s: %s", result.rel, result.error)
                report.failed.append((result.rel, result.error))
                bar.set_postfix(failed=len(report.failed))
            else:
                if result.warning:
                    log.warning("%s: %s", result.rel, result.warning)
                report.bytes_in += result.bytes_in
                report.bytes_out += result.bytes_out
            bar.update()

        for rel, path, out in copy_todo:
            try:
                _copy(path, out)
            except OSError as exc:
                done(_Result(rel, _reason(exc)))
                continue
            report.copied += 1
            size = out.stat().st_size
            done(_Result(rel, None, size, size))

        n_workers = min(workers or os.cpu_count() or 1, max(1, len(todo)))
        threads = max(1, (os.cpu_count() or 1) // n_workers)
        jobs = [_Job(rel, path, out, settings, threads) for rel, path, out in todo]

        def converted(result: _Result) -> None:
            if result.error is None:
                report.converted += 1
            done(result)

        _run(jobs, n_workers, converted)

    report.failed.sort()
    report.seconds = time.perf_counter() - start
    log.debug("%s", report)
    return report


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


# -- the process pool -----------------------------------------------------------------------------
# Each worker notes the job it is running in a shared array, so that when a worker dies (an FFmpeg
# crash on a malformed file kills the process, not just the call) the files it held are known:
# they are retried alone, the file that kills its process again is reported as failed, and the
# run goes on with a fresh pool.
#
# Ctrl-C: a worker's SIGINT aborts the file it is on (its temporary file is removed) and makes it
# skip the jobs already queued to it, so the run stops at once. The main process raises a shared
# stop flag and forwards the signal to its busy workers, for when it alone was interrupted
# (``kill -INT``, a notebook's stop button).
_slots = None
_slot = -1
_stop = None
_running = False
_interrupted = False


def _init_worker(slots, pids, counter, stop) -> None:
    global _slots, _slot, _stop
    with counter.get_lock():
        _slot = counter.value
        counter.value += 1
    _slots, _stop = slots, stop
    if _slot < len(pids):
        pids[_slot] = os.getpid()
    signal.signal(signal.SIGINT, _on_interrupt)


def _on_interrupt(signum, frame) -> None:
    global _interrupted
    first = not _interrupted
    _interrupted = True
    if first and _running:
        raise KeyboardInterrupt


def _work_noted(work: Callable[[_Job], _Result], index: int, job: _Job) -> _Result:
    global _running
    if _interrupted or (_stop is not None and _stop.value):
        return _Result(job.rel, "interrupted")
    noted = _slots is not None and 0 <= _slot < len(_slots)
    if noted:
        _slots[_slot] = index + 1
    _running = True
    try:
        return work(job)
    finally:
        _running = False
        if noted:
            _slots[_slot] = 0


@contextlib.contextmanager
def _sigint_ignored_by_new_processes() -> Iterator[None]:
    """Workers start (they are spawned on submit) with SIGINT ignored until their initializer
    installs :func:`_on_interrupt`: a Ctrl-C while they import would print their tracebacks."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _interrupt_workers(pids) -> None:
    """SIGINT to this pool's live workers (children of this process: no pid reuse possible)."""
    ours = set(pids)
    for child in multiprocessing.active_children():
        if child.pid in ours:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGINT)


def _run(
    jobs: Sequence[_Job],
    workers: int,
    on_result: Callable[[_Result], None],
    work: Callable[[_Job], _Result] = _work,
) -> None:
    """``on_result(work(job))`` for every job, over ``workers`` processes; survives their deaths."""
    if not jobs:
        return
    if workers <= 1:
        for job in jobs:
            on_result(work(job))
        return
    pending = dict(enumerate(jobs))
    while pending:
        suspects = _run_pool(pending, workers, on_result, work)
        if suspects is None:
            return
        if not suspects:  # the pool broke outside any job: do not loop forever
            for job in pending.values():
                on_result(_Result(job.rel, "the worker processes failed to start"))
            return
        for index in suspects:
            job = pending.pop(index)
            if _run_pool({index: job}, 1, on_result, work) is not None:
                on_result(_Result(job.rel, "the decoding process crashed on this file"))


def _run_pool(
    pending: dict[int, _Job],
    workers: int,
    on_result: Callable[[_Result], None],
    work: Callable[[_Job], _Result],
) -> list[int] | None:
    """Run ``pending`` (removing finished ones); None, or the jobs running when the pool broke."""
    context = multiprocessing.get_context("spawn")  # no fork: the caller may hold threads
    slots = context.Array("q", workers, lock=False)
    pids = context.Array("q", workers, lock=False)
    counter = context.Value("i", 0)
    stop = context.Value("b", 0, lock=False)
    executor = ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(slots, pids, counter, stop),
    )
    broken = False
    try:
        with _sigint_ignored_by_new_processes():
            futures = {executor.submit(_work_noted, work, i, job): i for i, job in pending.items()}
        for future in as_completed(futures):
            index = futures[future]
            try:
                result = future.result()
            except BrokenProcessPool:
                broken = True
                continue
            except Exception as exc:  # e.g. a result that could not be sent back
                result = _Result(pending[index].rel, _reason(exc))
            del pending[index]
            on_result(result)
    except BaseException:  # Ctrl-C: stop the workers' current files, wait for them to clean up
        stop.value = 1
        _interrupt_workers(pids[:])
        executor.shutdown(wait=True, cancel_futures=True)
        raise
    executor.shutdown(wait=True)
    if not broken:
        return None
    return sorted({v - 1 for v in slots if v and (v - 1) in pending})


def _format_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
