"""Read and write segments in the formats people label videos with.

:func:`read_annotations` tells the format from the file's content (not its suffix) and reads:

- ``actionkit``: the labeling tool's own ``annotations.json``;
- ``via3-json``: a VIA 3 project ("Save project");
- ``via3-csv``: VIA 3's "Only Temporal Segments as CSV" export;
- ``via3-full-csv``: VIA 3's full CSV export (``temporal_coordinates``);
- ``csv``: a plain CSV with the header ``video,start,end,label`` (seconds; more columns are
  ignored, an ``author`` column is kept).

All but the first give seconds only, so they need the videos (``videos=``): each one is found
in that folder (by its relative path, else by its unique file name) and probed, so every
segment gets the frames it covers (:func:`~actionkit.annotate.annotations.seconds_to_frames`,
with the frame times of a variable-frame-rate file). :func:`write_annotations` writes any of
them, atomically.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from actionkit.annotate import _via3
from actionkit.annotate._via3 import Parsed, RawSegment
from actionkit.annotate.annotations import (
    MAX_LABEL_CHARS,
    AnnotationError,
    Annotations,
    Segment,
    VideoAnnotation,
    frames_to_seconds,
    load_annotations,
    parse_annotations,
    seconds_to_frames,
)
from actionkit.utils.atomic import write_text

__all__ = ["FORMATS", "detect_format", "read_annotations", "write_annotations"]

log = logging.getLogger(__name__)

#: The formats :func:`read_annotations` reads and :func:`write_annotations` writes.
FORMATS = ("actionkit", "via3-json", "via3-csv", "via3-full-csv", "csv")
PLAIN_COLUMNS = ("video", "start", "end", "label")
IMPORT_AUTHOR = "import"
_UNDERSTOOD = (
    "the labeling tool's annotations.json, a VIA 3 project JSON, VIA 3's 'Only Temporal "
    "Segments as CSV' or full CSV export, or a CSV with the header video,start,end,label"
)

PathLike = str | os.PathLike


# -- reading ---------------------------------------------------------------------------------------
def read_annotations(
    path: PathLike,
    videos: PathLike | None = None,
    *,
    labels: Sequence[str] | Mapping[str, str] | None = None,
    on_missing: str = "error",
) -> Annotations:
    """Segments from any of :data:`FORMATS`, told apart by the file's content.

    Args:
        path: The file.
        videos: The folder holding the videos the file names. Needed by every format but
            ``actionkit`` (which stores frames); with it, video keys become paths relative to
            it and each video must be there.
        labels: A list: the label set, first and in this order. A mapping: VIA option ids to
            labels, for a VIA CSV export that holds option ids but not the option table (its
            values are the label set).
        on_missing: A video the file names that is not in ``videos`` (or cannot be read):
            ``"error"``, or ``"skip"`` its segments with a warning that names it (one bad video
            among many does not stop the others).

    Returns:
        The :class:`~actionkit.annotate.annotations.Annotations`: imported segments have
        source ``imported``, the file's author or ``import``, and the time of the import.

    Raises:
        AnnotationError: An unknown format (the message lists those understood), a malformed
            row or segment (named by file and line, or VIA metadata id), a video missing from
            ``videos``, or no ``videos`` for a format that gives seconds only.
    """
    if on_missing not in ("error", "skip"):
        raise ValueError(f"on_missing={on_missing!r}: choose 'error' or 'skip'")
    path = Path(path)
    fmt, text = _detect(path)
    options = dict(labels) if isinstance(labels, Mapping) else None
    head = list(options.values()) if options is not None else list(labels or [])
    if fmt == "actionkit":
        ann = load_annotations(path)
        if videos is not None:
            ann = _place_ours(ann, path, Path(videos))
    else:
        parsed = _parse(fmt, text, path, options)
        if videos is None:
            raise AnnotationError(
                f"{path}: a {fmt} file gives seconds only, and segments are stored as frames: "
                "pass the folder of its videos (videos=..., or --videos) to read their frame rates"
            )
        ann = _build(parsed, path, Path(videos), skip_missing=on_missing == "skip")
    ann.labels = list(dict.fromkeys([*head, *ann.labels, *ann.all_labels()]))
    return parse_annotations(ann.to_dict(), str(path))


def detect_format(path: PathLike) -> str:
    """The format of ``path``, one of :data:`FORMATS`, from its content."""
    return _detect(Path(path))[0]


def _detect(path: Path) -> tuple[str, str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise AnnotationError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise AnnotationError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AnnotationError(
                f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from None
        if _via3.is_project(data):
            return "via3-json", text
        if isinstance(data, dict) and (
            data.get("format") == "actionkit-annotations" or "videos" in data
        ):
            return "actionkit", text
        what = (
            "a VIA 2 project (open it in VIA 3 and save the project)"
            if "_via_img_metadata" in data
            else "a JSON object of no known shape"
        )
        raise AnnotationError(f"{path}: {what}; understood: {_UNDERSTOOD}")
    header = _via3.csv_header(text)
    if header == _via3.TEMPORAL_HEADER:
        return "via3-csv", text
    if header == _via3.FULL_HEADER:
        return "via3-full-csv", text
    first = next((line for line in text.splitlines() if line.strip()), "")
    columns = [c.strip().lower() for c in next(csv.reader([first]), [])]
    if header is None and set(PLAIN_COLUMNS) <= set(columns):
        return "csv", text
    raise AnnotationError(f"{path}: unknown annotation format; understood: {_UNDERSTOOD}")


def _parse(fmt: str, text: str, path: Path, options: dict[str, str] | None) -> Parsed:
    if fmt == "via3-json":
        parsed = _via3.parse_project(json.loads(text), str(path), options)
    elif fmt == "csv":
        parsed = _parse_plain(text, str(path))
    else:
        parsed = _via3.parse_csv(text, str(path), options)
    if parsed.skipped:
        log.info("%s: skipped %d entries that are no temporal segments", path, parsed.skipped)
    if parsed.unresolved:
        ids = ", ".join(f"{k!r} ({v})" for k, v in parsed.unresolved.items())
        log.warning(
            "%s: labels %s look like VIA option ids this file has no option table for: kept as "
            "labels. Import the VIA project JSON instead, or pass labels={option id: label}",
            path, ids,
        )  # fmt: skip
    unlabeled = [s.where for s in parsed.segments if not s.label]
    if unlabeled:
        log.warning(
            "%s: %d segments without a label skipped (first: %s)",
            path,
            len(unlabeled),
            unlabeled[0],
        )
        parsed.segments = [s for s in parsed.segments if s.label]
    for seg in parsed.segments:
        _check_label(seg.label, seg.where)
    return parsed


def _parse_plain(text: str, where: str) -> Parsed:
    parsed = Parsed()
    lines = text.splitlines(keepends=True)
    start_line = next(i for i, line in enumerate(lines) if line.strip())
    reader = csv.reader(lines[start_line:], strict=True)
    try:
        columns = [c.strip().lower() for c in next(reader)]
        index = {
            name: columns.index(name) for name in (*PLAIN_COLUMNS, "author") if name in columns
        }
        row_line = start_line + 2  # 1-based, after the header
        for row in reader:
            at, row_line = f"{where}, line {row_line}", start_line + reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(columns):
                raise AnnotationError(
                    f"{at}: {len(row)} cells, expected {len(columns)} ({','.join(columns)})"
                )
            start, end = _via3._seconds(row[index["start"]], row[index["end"]], at)
            author = row[index["author"]].strip() if "author" in index else ""
            video, label = row[index["video"]], row[index["label"]].strip()
            if not video.strip():
                raise AnnotationError(f"{at}: no video named")
            parsed.segments.append(RawSegment(video, label, start, end, at, author))
    except csv.Error as exc:
        raise AnnotationError(
            f"{where}, line {start_line + reader.line_num}: malformed CSV ({exc})"
        ) from None
    return parsed


def _check_label(label: str, where: str) -> None:
    if len(label) > MAX_LABEL_CHARS or any(ord(c) < 32 for c in label):
        raise AnnotationError(
            f"{where}: label {label[:40]!r} must be one line of at most "
            f"{MAX_LABEL_CHARS} characters"
        )


# -- videos ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Facts:
    fps: float
    num_frames: int
    duration: float
    frame_times: list[float] | None


class _Folder:
    """The videos of a folder: names as files state them -> keys relative to the folder."""

    def __init__(self, root: Path, source: Path) -> None:
        if not root.is_dir():
            raise AnnotationError(f"videos={str(root)!r} is not a folder (reading {source})")
        self.root, self.source = root.resolve(), source
        self._by_name: dict[str, list[str]] | None = None
        self._facts: dict[str, _Facts] = {}

    def key(self, name: str, where: str) -> str:
        """The relative path of the video ``name`` names (as written: relative, absolute, URL)."""
        name = name.strip()
        if "://" in name:
            name = urllib.parse.unquote(urllib.parse.urlparse(name).path)
        name = name.replace("\\", "/")
        candidate = Path(name) if os.path.isabs(name) else self.root / name
        try:
            rel = candidate.resolve().relative_to(self.root)
        except (ValueError, OSError):
            rel = None
        if rel is not None and candidate.is_file():
            return rel.as_posix()
        matches = self._index().get(name.rsplit("/", 1)[-1], [])
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise AnnotationError(
                f"{where}: video {name!r} is not at that path in {self.root}, and its file name "
                f"matches {len(matches)} videos there ({', '.join(matches[:5])}): "
                "write its path relative to the folder"
            )
        raise AnnotationError(
            f"{where}: video {name!r} not found in {self.root} (the videos= folder)"
        )

    def _index(self) -> dict[str, list[str]]:
        if self._by_name is None:
            from actionkit.video import is_video_file

            self._by_name = {}
            for file in sorted(self.root.rglob("*")):
                if file.is_file() and is_video_file(file):
                    rel = file.relative_to(self.root).as_posix()
                    self._by_name.setdefault(file.name, []).append(rel)
        return self._by_name

    def facts(self, key: str) -> _Facts:
        if key not in self._facts:
            from actionkit.video import VideoReadError, probe

            try:
                info = probe(self.root / key, backend="pyav")  # metadata only: no torch import
            except VideoReadError as exc:
                raise AnnotationError(f"{self.source}: video {key!r}: {exc.reason}") from None
            times = _frame_times(self.root / key, info.fps, info.num_frames)
            self._facts[key] = _Facts(info.fps, info.num_frames, info.duration, times)
        return self._facts[key]


def _frame_times(path: Path, fps: float, num_frames: int) -> list[float] | None:
    """Presentation times (from 0) of a variable-frame-rate file's frames; ``None`` if constant."""
    import av

    try:
        with av.open(str(path)) as container:
            if container.format.name == "avi":  # no presentation times stored
                return None
            stream = container.streams.video[0]
            base = float(stream.time_base)
            pts = [p.pts for p in container.demux(stream) if p.size and not p.is_discard]
    except (av.FFmpegError, OSError):
        return None
    if len(pts) != num_frames or None in pts or len(set(pts)) != len(pts):
        return None
    pts.sort()
    times = [round((p - pts[0]) * base, 6) for p in pts]
    if max(abs(t - i / fps) for i, t in enumerate(times)) < 0.25 / fps:
        return None
    return times


def _build(parsed: Parsed, path: Path, root: Path, skip_missing: bool = False) -> Annotations:
    folder = _Folder(root, path)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    videos: dict[str, VideoAnnotation] = {}
    skipped: dict[str, list[str]] = {}  # video as named -> [reason, segments...]
    for raw in parsed.segments:
        if raw.video in skipped:
            skipped[raw.video].append(raw.where)
            continue
        try:
            key = folder.key(raw.video, raw.where)
            facts = folder.facts(key)
        except AnnotationError as exc:
            if not skip_missing:
                raise
            skipped[raw.video] = [str(exc), raw.where]
            continue
        if raw.start >= facts.duration:
            raise AnnotationError(
                f"{raw.where}: the segment starts at {raw.start} s, after the end of "
                f"{key!r} ({facts.duration:.3f} s)"
            )
        first, last = seconds_to_frames(
            raw.start, raw.end, facts.fps, facts.num_frames, facts.frame_times
        )
        start, end = frames_to_seconds(first, last, facts.fps, facts.frame_times)
        entry = videos.setdefault(key, VideoAnnotation(facts.fps, facts.num_frames))
        author = raw.author or IMPORT_AUTHOR
        entry.segments.append(Segment(raw.label, first, last, start, end, author, now, "imported"))
    for entry in videos.values():
        entry.segments.sort(key=lambda s: (s.start_frame, s.end_frame))
    for reason, *segments in skipped.values():
        log.warning("%s; its %d segment(s) are skipped", reason, len(segments))
    labels = [*parsed.labels, *(s.label for s in parsed.segments)]
    return Annotations(list(dict.fromkeys(labels)), videos)


def _place_ours(ann: Annotations, path: Path, root: Path) -> Annotations:
    """Our file against a folder: every video there; missing frame rates probed."""
    folder = _Folder(root, path)
    videos = {}
    for name, entry in ann.videos.items():
        key = folder.key(name, f"{path}: video {name!r}")
        if entry.fps is None or entry.num_frames is None:
            facts = folder.facts(key)
            entry.fps, entry.num_frames = facts.fps, facts.num_frames
        if key in videos:  # two names for one video: one entry
            videos[key].segments += entry.segments
        else:
            videos[key] = entry
    return Annotations(ann.labels, videos, ann.revision)


# -- writing ---------------------------------------------------------------------------------------
def write_annotations(annotations: Annotations, path: PathLike, format: str = "via3-json") -> Path:
    """Write ``annotations`` to ``path`` in ``format`` (one of :data:`FORMATS`), atomically.

    The VIA 3 project opens in VIA 3 ("Open project"; point it at the videos' folder): one
    select attribute ``Activity`` on temporal segments whose options are the labels, a view
    per video. Returns ``path``.

    Raises:
        ValueError: ``format`` is not one of :data:`FORMATS`.
    """
    if format not in FORMATS:
        raise ValueError(f"format={format!r}: choose one of {', '.join(FORMATS)}")
    if format == "actionkit":
        text = json.dumps(annotations.to_dict(), indent=1, ensure_ascii=False) + "\n"
    elif format == "via3-json":
        text = json.dumps(_via3.project_json(annotations), ensure_ascii=False)
    elif format == "csv":
        text = _plain_text(annotations)
    else:
        text = _via3.csv_text(annotations, full=format == "via3-full-csv")
    return write_text(Path(path), text)


def _plain_text(annotations: Annotations) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*PLAIN_COLUMNS, "author"])
    for name, entry in sorted(annotations.videos.items()):
        for seg in entry.segments:
            writer.writerow([name, f"{seg.start:.6f}", f"{seg.end:.6f}", seg.label, seg.author])
    return out.getvalue()
