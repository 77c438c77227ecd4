"""Segments to a training set: frame-exact clips, background clips, split files by source video.

:func:`cut_clips` cuts every labeled segment of an annotation file out of its video, exactly the
frames ``start_frame..end_frame`` (decoded with :func:`~actionkit.video.open_video`, which maps
frame ``i`` exactly, also in variable-frame-rate and AVI files, and re-encoded as H.264 MP4: a
stream copy would start at a keyframe), into a folder per class::

    OUT/<label>/<video stem>__<start_frame>-<end_frame>.mp4
    OUT/train.csv, val.csv, test.csv   (path,label; paths relative to OUT)
    OUT/clips.csv                      (every clip: source video, frames, seconds, split)
    OUT/classes.txt

The split is stratified by class and grouped by source video: all clips of one video sit in one
split, so a model is never tested on the video it trained on. ``negatives=N`` adds clips of a
``background`` class from the parts of the videos no segment covers (only videos with at least
one segment: an unlabeled video may hold anything).

Clips are written atomically and an existing clip is skipped, so a killed run is resumed by
running it again; the split is seeded and the same on every run. A clip that cannot be cut (an
unreadable video, a segment past the end) is reported, never fatal for the others.

Example::

    result = cut_clips("videos/annotations.json", "videos", "clips", negatives=20)
    print(result)
    dataset = VideoDataset.from_list("clips/train.csv")
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from tqdm.contrib.logging import logging_redirect_tqdm

from actionkit.annotate._clip_plan import SPLITS, Clip, assign_splits, make_clip, negatives_for
from actionkit.annotate.annotations import Annotations, load_annotations
from actionkit.utils.atomic import write_text
from actionkit.utils.pool import JobFailed, run_jobs
from actionkit.utils.progress import progress_bar
from actionkit.video import is_video_file

__all__ = ["SPLITS", "ClipsResult", "cut_clips", "safe_name"]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike
_UNSAFE = re.compile(r'[/\\:*?"<>|\x00-\x1f\x7f]')
_CHUNK_BYTES = 128 * 2**20  # decoded frames held at once by each worker


@dataclass
class ClipsResult:
    """What :func:`cut_clips` did.

    Attributes:
        out: The output folder.
        written: Clips written by this run.
        skipped: Clips that existed already (an earlier run's), kept.
        failed: ``(source video, reason)`` of each clip that could not be cut.
        classes: Clips per class in the output (written or kept).
        splits: Per split ``(clips, source videos)``.
        negatives: Background clips planned; ``negatives_wanted`` were asked for.
    """

    out: Path
    written: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    classes: dict[str, int] = field(default_factory=dict)
    splits: dict[str, tuple[int, int]] = field(default_factory=dict)
    negatives: int = 0
    negatives_wanted: int = 0

    @property
    def ok(self) -> bool:
        """Whether every clip was cut."""
        return not self.failed

    def __str__(self) -> str:
        lines = [
            f"clips: {self.written} written, {self.skipped} skipped (already there), "
            f"{len(self.failed)} failed",
            "per class: " + ", ".join(f"{k} {n}" for k, n in self.classes.items()),
            "per split: "
            + ", ".join(
                f"{s} {c} clips from {v} video{'s' if v != 1 else ''}"
                if c
                else f"{s} none ({s}.csv not written)"
                for s, (c, v) in self.splits.items()
            ),
            "split grouped by source video: no video in two splits",
        ]
        if self.negatives < self.negatives_wanted:
            lines.append(
                f"background: {self.negatives} of the {self.negatives_wanted} negatives asked "
                "for (not enough unlabeled time away from the segments)"
            )
        lines += [f"failed: {source}: {reason}" for source, reason in self.failed]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Job:
    video: str  # the annotation's key
    source: str
    out: str
    start_frame: int
    end_frame: int
    short_side: int | None


def cut_clips(
    annotations: Annotations | PathLike,
    videos: PathLike,
    out: PathLike,
    *,
    negatives: int = 0,
    margin: float = 1.0,
    background: str = "background",
    splits: Sequence[float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    workers: int | None = None,
    short_side: int | None = None,
    progress: bool = True,
) -> ClipsResult:
    """Cut every segment of ``annotations`` into ``out/<label>/`` and write the split files.

    Args:
        annotations: An :class:`Annotations`, or a file
            :func:`~actionkit.annotate.formats.read_annotations` reads (the tool's
            ``annotations.json``, a VIA 3 export, a ``video,start,end,label`` CSV).
        videos: The folder the annotation's video paths are relative to.
        out: The output folder (created; clips already there are kept).
        negatives: Background clips to add, from time no segment covers, with lengths drawn
            from the segments' lengths; fewer when there is not enough room.
        margin: Seconds between a background clip and any segment.
        background: The background class's name; must not be one of the labels.
        splits: Train, val and test shares of the source videos (summing to 1).
        seed: Seeds the background clips and the split.
        workers: Clips cut in parallel processes (default: the CPU count).
        short_side: Scale clips down to this short side (never up); default: source size.
        progress: Show a progress bar.

    Raises:
        ValueError: A bad argument, an unreadable annotation file (an
            :class:`~actionkit.annotate.annotations.AnnotationError`), no segment at all, or a
            label named like ``background`` while ``negatives`` are asked for. Nothing is
            written then.
    """
    fractions = _check_arguments(negatives, margin, splits, workers, short_side)
    videos, out = Path(videos), Path(out)
    if not videos.is_dir():
        raise ValueError(f"videos={str(videos)!r} is not a folder")
    if not isinstance(annotations, Annotations):
        annotations = _read(Path(annotations), videos)
    classes = _class_names(annotations, background if negatives else None)
    stems = _stems(annotations)
    clips = _positives(annotations, classes, stems)
    if not clips:
        raise ValueError("the annotations hold no segment: nothing to cut")
    result = ClipsResult(out.resolve(), negatives_wanted=negatives)
    if negatives:
        made = negatives_for(
            annotations, videos, stems, clips, negatives, margin, background, seed, workers
        )
        result.negatives = len(made)
        clips += made
    _cut(clips, videos, out, short_side, workers, progress, result)
    present = [c for c in clips if (out / c.path).is_file()]  # the split of what is there
    _write_lists(out, present, assign_splits(present, fractions, seed), result)
    return result


def _read(path: Path, videos: Path) -> Annotations:
    """The tool's own file as it is (it stores frames; a video that is missing or unreadable
    fails its clips alone), other formats through :func:`read_annotations`, which skips the
    segments of a missing or unreadable video with a warning naming it (it needs each video's
    frame rate to turn seconds into frames)."""
    from actionkit.annotate.formats import detect_format, read_annotations

    if detect_format(path) == "actionkit":
        return load_annotations(path)
    return read_annotations(path, videos=videos, on_missing="skip")


def _check_arguments(negatives, margin, splits, workers, short_side) -> tuple[float, ...]:
    if isinstance(negatives, bool) or not isinstance(negatives, int) or negatives < 0:
        raise ValueError(f"negatives={negatives!r} must be a whole number >= 0")
    if not (isinstance(margin, int | float) and math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin={margin!r} must be a number of seconds >= 0")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers={workers!r} must be a positive integer")
    if short_side is not None and (not isinstance(short_side, int) or short_side < 2):
        raise ValueError(f"short_side={short_side!r} must be an integer >= 2 or None")
    fractions = tuple(float(x) for x in splits)
    if (
        len(fractions) != len(SPLITS)
        or any(not (math.isfinite(x) and x >= 0) for x in fractions)
        or fractions[0] <= 0
        or abs(sum(fractions) - 1.0) > 1e-6
    ):
        raise ValueError(
            f"splits={tuple(splits)!r} must be three shares (train, val, test) >= 0 summing "
            "to 1, train > 0, e.g. (0.7, 0.15, 0.15)"
        )
    return fractions


def safe_name(text: str) -> str:
    """``text`` usable as a file or folder name: ``/ \\ : * ? " < > |`` and control characters
    become ``_``, as do a leading dot (a hidden file) and trailing dots; other letters (spaces,
    commas, non-ASCII) are kept."""
    name = _UNSAFE.sub("_", text).strip().rstrip(".")
    if name.startswith("."):
        name = "_" + name[1:]
    return name or "_"


def _class_names(annotations: Annotations, background: str | None) -> dict[str, str]:
    """Each label's class (folder) name; two labels may not share one, nor the background's."""
    classes = {label: safe_name(label) for label in annotations.all_labels()}
    owners: dict[str, str] = {}
    for label, name in classes.items():
        if name in owners:
            raise ValueError(
                f"labels {owners[name]!r} and {label!r} both become the folder {name!r}: "
                "rename one of them"
            )
        owners[name] = label
    if background is not None:
        if safe_name(background) != background:
            raise ValueError(
                f"background={background!r} must be a plain folder name, e.g. "
                f"{safe_name(background)!r}"
            )
        if background in owners:
            raise ValueError(
                f"background={background!r} is also one of your labels "
                f"({', '.join(repr(x) for x in owners.values())}): give the negatives another "
                "class name (background=..., --background NAME)"
            )
    for label, name in classes.items():
        if name != label:
            log.warning("label %r is written as the class (folder) %r", label, name)
    return classes


def _stems(annotations: Annotations) -> dict[str, str]:
    """Each video's part of its clips' names: its path without the suffix, folders folded in
    (``kitchen/take 1.mp4`` -> ``kitchen__take 1``); with the suffix where two would clash."""
    plain = {}
    for key in annotations.videos:
        path = PurePosixPath(key)
        plain[key] = "__".join(safe_name(p) for p in (*path.parent.parts, path.stem))
    counts = Counter(plain.values())
    stems = {
        k: (s if counts[s] == 1 else safe_name(k.replace("/", "__"))) for k, s in plain.items()
    }
    if len(set(stems.values())) != len(stems):
        clash = sorted(k for k in stems if list(stems.values()).count(stems[k]) > 1)
        raise ValueError(f"videos {clash[:2]} would give clips of the same name: rename one")
    return stems


def _positives(annotations: Annotations, classes: dict[str, str], stems: dict[str, str]):
    clips = []
    for key, entry in sorted(annotations.videos.items()):
        for s in entry.segments:
            clips.append(make_clip(key, classes[s.label], stems[key], s.start_frame, s.end_frame,
                               s.start, s.end))  # fmt: skip
    return sorted(set(clips), key=lambda c: (c.video, c.start_frame, c.end_frame, c.label))


# -- cutting ------------------------------------------------------------------------------------
def _cut(clips, videos: Path, out: Path, short_side, workers, progress, result) -> None:
    jobs = []
    for c in clips:
        if (out / c.path).is_file():
            result.skipped += 1
        else:
            jobs.append(_Job(c.video, str(videos / c.video), str(out / c.path),
                             c.start_frame, c.end_frame, short_side))  # fmt: skip
    log.info("%d clips to cut, %d already there", len(jobs), result.skipped)
    with (
        logging_redirect_tqdm(),
        progress_bar(total=len(jobs), desc="cutting clips", unit="clip", show=progress) as bar,
    ):

        def done(job: _Job, reason: str | JobFailed | None) -> None:
            if reason is None:
                result.written += 1
            else:
                text = reason.reason if isinstance(reason, JobFailed) else reason
                where = f"{job.video} frames {job.start_frame}-{job.end_frame}"
                log.warning("%s: %s", where, text)
                result.failed.append((where, text))
                bar.set_postfix(failed=len(result.failed))
            bar.update()

        n_workers = min(workers or os.cpu_count() or 1, max(1, len(jobs)))
        run_jobs(_cut_one, jobs, done, workers=n_workers,
                 crash_reason="the decoding process crashed on this clip")  # fmt: skip
    result.failed.sort()


def _cut_one(job: _Job) -> str | None:
    """Write one clip; ``None``, or why it could not be cut."""
    from actionkit.video import VideoReadError, open_video, write_video
    from actionkit.video.transcode import output_size

    try:
        # PyAV by name: "auto" imports torch to test TorchCodec, seconds per worker process
        with open_video(job.source, backend="pyav") as video:
            info = video.info
            if job.end_frame >= info.num_frames:
                return (f"the segment ends at frame {job.end_frame}, past the video's last "
                        f"frame {info.num_frames - 1}")  # fmt: skip
            side = None
            if job.short_side is not None and min(info.width, info.height) > job.short_side:
                side = min(output_size(info.width, info.height, job.short_side))
            scale = (side / min(info.width, info.height)) ** 2 if side else 1.0
            chunk = max(8, int(_CHUNK_BYTES / (3 * info.width * info.height * scale)))
            frames = _frames(video, job.start_frame, job.end_frame, chunk, side)
            write_video(job.out, frames, info.fps, crf=20, gop=16)
    except VideoReadError as exc:
        return exc.reason
    except IndexError as exc:  # the file holds fewer frames than its packets promised
        return str(exc)
    return None


def _frames(video, first: int, last: int, chunk: int, side: int | None):
    """Frames ``first..last`` in chunks; even sizes when scaled (H.264 4:2:0 wants them)."""
    for start in range(first, last + 1, chunk):
        block = video.read(np.arange(start, min(start + chunk, last + 1)), short_side=side)
        if side is not None:
            block = block[:, : block.shape[1] // 2 * 2, : block.shape[2] // 2 * 2]
        yield from block


# -- the lists ----------------------------------------------------------------------------------
def _write_lists(out: Path, clips: list[Clip], split_of: dict[str, str], result) -> None:
    out.mkdir(parents=True, exist_ok=True)
    classes = sorted({c.label for c in clips})
    result.classes = {name: sum(c.label == name for c in clips) for name in classes}
    for split in SPLITS:
        chosen = [c for c in clips if split_of[c.video] == split]
        result.splits[split] = (len(chosen), len({c.video for c in chosen}))
        target = out / f"{split}.csv"
        if chosen:
            write_text(target, _csv(["path", "label"], [[c.path, c.label] for c in chosen]))
            continue
        if target.exists():  # an earlier run's, which no longer matches
            target.unlink()
        log.warning("no clips for the %s split (%d source videos in all): %s not written",
                    split, len(set(split_of)), target.name)  # fmt: skip
    listed = {c.path for c in clips}
    found = (p.relative_to(out).as_posix() for p in out.glob("*/*.mp4") if is_video_file(p))
    others = [p for p in found if p not in listed]
    if others:
        log.warning("%s: %d clips there are not in these annotations (an earlier run's?), e.g. "
                    "%s: the split files leave them out, a folder scan would not",
                    out, len(others), others[0])  # fmt: skip
    rows = [[c.path, c.label, c.video, c.start_frame, c.end_frame, f"{c.start:.6f}",
             f"{c.end:.6f}", split_of[c.video]] for c in clips]  # fmt: skip
    header = ["path", "label", "video", "start_frame", "end_frame", "start", "end", "split"]
    write_text(out / "clips.csv", _csv(header, rows))
    numbered = any(re.match(r"\d+\s", name) for name in classes)  # else read back as "1 Name"
    lines = [f"{i} {name}" if numbered else name for i, name in enumerate(classes, 1)]
    write_text(out / "classes.txt", "".join(f"{line}\n" for line in lines))


def _csv(header: list[str], rows: list[list]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()
