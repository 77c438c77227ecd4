"""Open every video of a dataset and sort out the ones that cannot be used as they are.

:func:`check_videos` is what :meth:`VideoDataset.check <actionkit.data.VideoDataset.check>` and
``actionkit check`` run; :class:`CheckReport` is what it finds. Each file is in at most one
category, and the counts in the first line of the report are the lengths of the lists under it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from actionkit.data import sampling
from actionkit.spec import InputSpec
from actionkit.utils.progress import progress_bar
from actionkit.video import VideoReadError, open_video

__all__ = ["CheckReport", "check_videos", "frames_needed"]


@dataclass
class CheckReport:
    """What :func:`check_videos` found; every file is in at most one list.

    Attributes:
        total: Files checked (listed files that do not exist included).
        frames_needed: Frames a clip covers (``too_short`` is fewer than this).
        frames_per_clip: Distinct frames one clip reads (``too_few`` is fewer than this).
        unreadable: ``(path, reason)``: missing, not a video, damaged.
        empty: Files without a frame: 0 bytes, or a video stream with no frame.
        still: Single-frame files: still images (a JPEG renamed ``.mp4``...).
        too_few: ``(path, frames)``: more than one frame but fewer than one clip reads; frames
            are repeated to fill a clip.
        too_short: ``(path, frames)``: enough frames for a clip but shorter than the span it
            covers; the clip is looped.
    """

    total: int
    frames_needed: int
    frames_per_clip: int = 1
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    still: list[str] = field(default_factory=list)
    too_few: list[tuple[str, int]] = field(default_factory=list)
    too_short: list[tuple[str, int]] = field(default_factory=list)

    @property
    def bad_paths(self) -> list[str]:
        """Files that cannot be trained on: unreadable, empty or still images (files with too
        few frames, or shorter than a clip, are usable: their frames are repeated or looped)."""
        return [p for p, _ in self.unreadable] + self.empty + self.still

    @property
    def ok(self) -> bool:
        """No file is in :attr:`bad_paths`."""
        return not self.bad_paths

    def __str__(self) -> str:
        lines = [
            f"{self.total} videos checked: {self.total - len(self.bad_paths)} readable, "
            f"{len(self.unreadable)} unreadable, {len(self.empty)} empty, "
            f"{len(self.still)} still images (1 frame), "
            f"{len(self.too_few)} with fewer frames than a clip reads ({self.frames_per_clip}; "
            f"repeated), {len(self.too_short)} shorter than a clip ({self.frames_needed} frames; "
            "looped)"
        ]
        lines += [f"  unreadable  {p}: {why}" for p, why in self.unreadable]
        lines += [f"  empty       {p}" for p in self.empty]
        lines += [f"  still image {p}: 1 frame" for p in self.still]
        lines += [f"  too few     {p}: {n} frames" for p, n in self.too_few]
        lines += [f"  too short   {p}: {n} frames" for p, n in self.too_short]
        return "\n".join(lines)


def frames_needed(spec: InputSpec) -> int:
    """Frames a sample of ``spec`` covers: a clip's span, or one frame per segment."""
    if spec.uses_segments:
        return spec.num_segments * spec.clip_len
    return sampling.clip_span(spec.frames_per_sample, spec.frame_step)


def check_videos(
    paths: Sequence[str | os.PathLike],
    spec: InputSpec,
    *,
    missing: Sequence[str | os.PathLike] = (),
    backend: str = "auto",
    workers: int | None = None,
    progress: bool = True,
) -> CheckReport:
    """Open every file of ``paths`` (in threads), count its frames and read its first and last.

    Args:
        paths: The video files.
        spec: The model input the files are checked against (frames per clip, clip span).
        missing: Files a list named that do not exist (reported as unreadable).
        backend: Video decoding backend.
        workers: Files opened at once; default ``min(8, 2 × CPUs)``.
        progress: Show a progress bar.

    Returns:
        A :class:`CheckReport`.
    """
    report = CheckReport(
        total=len(paths) + len(missing),
        frames_needed=frames_needed(spec),
        frames_per_clip=spec.frames_per_sample,
    )
    report.unreadable += [(str(p), "listed, but there is no such file") for p in missing]
    workers = workers or min(8, (os.cpu_count() or 1) * 2)
    with ThreadPoolExecutor(workers) as pool:
        results = pool.map(lambda p: _check_one(Path(p), backend), paths)
        for path, (frames, error) in progress_bar(
            zip(map(str, paths), results, strict=True),
            total=len(paths),
            desc="checking videos",
            show=progress,
        ):
            if error is not None:
                report.unreadable.append((path, error))
            elif frames == 0:
                report.empty.append(path)
            elif frames == 1 and report.frames_per_clip > 1:
                report.still.append(path)
            elif frames < report.frames_per_clip:
                report.too_few.append((path, frames))
            elif frames < report.frames_needed:
                report.too_short.append((path, frames))
    return report


def _check_one(path: Path, backend: str) -> tuple[int, str | None]:
    """``(frames, None)``, or ``(0, reason)`` when the file cannot be read."""
    try:
        if path.is_file() and path.stat().st_size == 0:
            return 0, None  # empty, not unreadable: there is nothing to read
        with open_video(path, backend=backend) as reader:
            n = len(reader)
            if n:
                reader.read([0, n - 1])
            return n, None
    except VideoReadError as error:
        return 0, error.reason
    except (IndexError, OSError) as error:
        return 0, str(error)
