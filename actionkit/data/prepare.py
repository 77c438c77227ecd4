"""Transcode a video dataset once into small, fast-seeking files (``actionkit prepare``).

Training decodes every clip of every epoch; from 1080p sources most of that time goes into
decoding pixels the model never sees. :func:`prepare_dataset` runs
:func:`~actionkit.video.transcode.transcode_video` on every video of a dataset (same frames, same
aspect, short side 128 by default, a keyframe every 8 frames), in parallel processes, and keeps
the folder layout and every non-video file (split lists, ``classes.txt``, CSV, annotations),
copied as they are. Hidden files and folders (names starting with ``.``) are skipped.

Each output is written to a hidden temporary file beside it and renamed when complete, so a
killed run leaves nothing that looks finished, and a rerun skips outputs that exist and are newer
than their source. A source that cannot be decoded is listed in the report, never fatal; one that
crashes its decoding process fails alone (:func:`actionkit.utils.pool.run_jobs`).

Example::

    report = prepare_dataset("data/hmdb51_org", "data/hmdb51_128", short_side=128)
    print(report)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.contrib.logging import logging_redirect_tqdm

from actionkit.utils.atomic import atomic_path
from actionkit.utils.pool import JobFailed, run_jobs
from actionkit.utils.progress import progress_bar
from actionkit.video import is_video_file
from actionkit.video.transcode import (
    TEMP_SUFFIX,
    TranscodeSettings,
    describe_error,
    transcode_video,
)

__all__ = ["MANIFEST_NAME", "TEMP_SUFFIX", "PrepareReport", "check_paths", "prepare_dataset"]

log = logging.getLogger(__name__)

#: Settings of the run that made a destination folder; a later run with other settings refuses to
#: mix its outputs with these unless ``overwrite=True``.
MANIFEST_NAME = ".actionkit-prepare.json"
#: What the report says of a file whose decoding process crashed, twice.
CRASHED = "the decoding process crashed on this file"


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
class _Job:
    rel: str
    src: Path
    dst: Path
    settings: TranscodeSettings
    threads: int


@dataclass(frozen=True)
class _Result:
    rel: str
    error: str | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    frames: int = 0
    warning: str | None = None


def _work(job: _Job) -> _Result:
    """Transcode one file (runs in a worker process); never raises for a bad source."""
    try:
        bytes_in = job.src.stat().st_size
        done = transcode_video(job.src, job.dst, threads=job.threads, **job.settings.to_dict())
        return _Result(job.rel, None, bytes_in, job.dst.stat().st_size, done.frames, done.warning)
    except Exception as exc:
        return _Result(job.rel, describe_error(exc))


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


def _check_manifest(dst: Path, settings: TranscodeSettings, overwrite: bool) -> None:
    manifest = dst / MANIFEST_NAME
    wanted = settings.to_dict()
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
    settings = TranscodeSettings(short_side, fps, codec, crf, gop)
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
        is_video = is_video_file(path)
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
        progress_bar(total=total, desc="preparing", unit="file", show=progress) as bar,
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
                done(_Result(rel, describe_error(exc)))
                continue
            report.copied += 1
            size = out.stat().st_size
            done(_Result(rel, None, size, size))

        n_workers = min(workers or os.cpu_count() or 1, max(1, len(todo)))
        threads = max(1, (os.cpu_count() or 1) // n_workers)
        jobs = [_Job(rel, path, out, settings, threads) for rel, path, out in todo]

        def converted(job: _Job, result: _Result | JobFailed) -> None:
            if isinstance(result, JobFailed):
                result = _Result(job.rel, result.reason)
            elif result.error is None:
                report.converted += 1
            done(result)

        run_jobs(_work, jobs, converted, workers=n_workers, crash_reason=CRASHED)

    report.failed.sort()
    report.seconds = time.perf_counter() - start
    log.debug("%s", report)
    return report


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


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
