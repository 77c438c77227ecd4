"""The labeling tool's file, ``annotations.json``: labels and, per video, its segments.

One file per video folder, written by the annotation page after every change and read by
``actionkit clips``. Its shape (``version`` 1)::

    {
      "format": "actionkit-annotations", "version": 1, "revision": 7,
      "labels": ["walk", "wave"],
      "videos": {
        "kitchen/take 1.mp4": {
          "fps": 25.0, "num_frames": 250,
          "segments": [
            {"label": "wave", "start": 1.0, "end": 2.0, "start_frame": 25, "end_frame": 49,
             "author": "ana", "created": "2026-12-07T19:00:00Z", "source": "manual"}
          ]
        }
      }
    }

Video keys are paths relative to the folder, with ``/``. A segment holds both frames
(``start_frame`` to ``end_frame``, both inclusive: the frames a clip of it contains) and seconds
(``start`` is the time frame ``start_frame`` is shown, ``end`` the time frame ``end_frame``
ends). ``revision`` grows by one at each save; :func:`save_annotations` refuses a save made from
an older revision (two tabs editing one folder), writes atomically and keeps the version before
as ``annotations.json.bak``.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from actionkit.utils.atomic import write_text
from actionkit.utils.locks import file_lock

__all__ = [
    "ANNOTATIONS_FILE",
    "AnnotationError",
    "Annotations",
    "Segment",
    "StaleRevisionError",
    "VideoAnnotation",
    "frames_to_seconds",
    "load_annotations",
    "parse_annotations",
    "save_annotations",
    "seconds_to_frames",
]

#: The file's name in a video folder.
ANNOTATIONS_FILE = "annotations.json"
FORMAT = "actionkit-annotations"
VERSION = 1
SOURCES = ("manual", "suggested", "imported")
MAX_LABEL_CHARS = 200

PathLike = str | os.PathLike


class AnnotationError(ValueError):
    """An annotation file or payload that cannot be used; the message says where and why."""


class StaleRevisionError(AnnotationError):
    """A save made from an older revision than the file's (another tab saved in between)."""

    def __init__(self, path: PathLike, expected: int | None, actual: int) -> None:
        super().__init__(
            f"{path} was changed elsewhere (revision {actual}; this save was made from "
            f"revision {expected}): reload to get the other changes, then edit again"
        )
        self.expected, self.actual = expected, actual


@dataclass
class Segment:
    """One labeled stretch of a video: frames ``start_frame..end_frame`` (both inclusive).

    Attributes:
        label: Its label.
        start_frame: First frame (0-based).
        end_frame: Last frame, inclusive.
        start: Seconds at which ``start_frame`` is shown.
        end: Seconds at which ``end_frame`` ends.
        author: Who made it (the page's user name, or the importer).
        created: When, ISO 8601 UTC.
        source: ``manual``, ``suggested`` (a model's proposal a person accepted) or ``imported``.
    """

    label: str
    start_frame: int
    end_frame: int
    start: float
    end: float
    author: str = ""
    created: str = ""
    source: str = "manual"

    @property
    def num_frames(self) -> int:
        return self.end_frame - self.start_frame + 1


@dataclass
class VideoAnnotation:
    """One video's entry: its frame rate and frame count (from a probe) and its segments."""

    fps: float | None = None
    num_frames: int | None = None
    segments: list[Segment] = field(default_factory=list)


@dataclass
class Annotations:
    """A whole annotation file: the label set, per video its segments, and the revision."""

    labels: list[str] = field(default_factory=list)
    videos: dict[str, VideoAnnotation] = field(default_factory=dict)
    revision: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form (the file's content)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "revision": self.revision,
            "labels": list(self.labels),
            "videos": {name: asdict(entry) for name, entry in sorted(self.videos.items())},
        }

    def all_labels(self) -> list[str]:
        """The label set, then labels used by segments but missing from it, in order of use."""
        out = list(self.labels)
        for entry in self.videos.values():
            out += [s.label for s in entry.segments if s.label not in out]
        return out

    def num_segments(self) -> int:
        return sum(len(v.segments) for v in self.videos.values())

    def merge(self, other: Annotations) -> int:
        """Add ``other``'s labels and segments (those not already here: same label and frames)
        to this; returns how many segments were added. Frame rates and counts already here win.
        """
        self.labels = list(dict.fromkeys([*self.labels, *other.all_labels()]))
        added = 0
        for name, theirs in other.videos.items():
            ours = self.videos.setdefault(name, VideoAnnotation(theirs.fps, theirs.num_frames))
            have = {(s.label, s.start_frame, s.end_frame) for s in ours.segments}
            new = [s for s in theirs.segments if (s.label, s.start_frame, s.end_frame) not in have]
            ours.segments = sorted(
                [*ours.segments, *new], key=lambda s: (s.start_frame, s.end_frame)
            )
            added += len(new)
        return added


def frames_to_seconds(
    start_frame: int, end_frame: int, fps: float, frame_times: Sequence[float] | None = None
) -> tuple[float, float]:
    """``(start, end)`` seconds of frames ``start_frame..end_frame`` (inclusive).

    ``frame_times`` (a variable-frame-rate video's presentation times) wins over ``fps``; the
    last frame of such a video ends one average frame interval after it starts.
    """
    if frame_times is not None and len(frame_times) > end_frame:
        times = list(frame_times)
        end = times[end_frame + 1] if end_frame + 1 < len(times) else times[-1] + 1.0 / fps
        return round(float(times[start_frame]), 6), round(float(end), 6)
    return round(start_frame / fps, 6), round((end_frame + 1) / fps, 6)


def seconds_to_frames(
    start: float,
    end: float,
    fps: float,
    num_frames: int | None = None,
    frame_times: Sequence[float] | None = None,
) -> tuple[int, int]:
    """``(start_frame, end_frame)`` (inclusive) of the frames shown from ``start`` to ``end``.

    A frame belongs when it starts in ``[start, end)``, to the nearest frame boundary (so
    seconds written by :func:`frames_to_seconds` give the same frames back). Always at least
    one frame; clamped to the video when ``num_frames`` is known.
    """
    if frame_times is not None and len(frame_times):
        # nearest boundary by the frames' own intervals (not the average's half frame)
        bounds = [float(t) for t in frame_times]
        bounds.append(bounds[-1] + 1.0 / fps)
        mids = [(a + b) / 2 for a, b in itertools.pairwise(bounds)]
        first = bisect.bisect_right(mids, start, hi=len(mids) - 1)
        last = bisect.bisect_right(mids, end) - 1
    else:
        first = math.floor(start * fps + 0.5)
        last = math.floor(end * fps + 0.5) - 1
    last = max(last, first)
    if num_frames is not None:
        first = min(max(first, 0), num_frames - 1)
        last = min(max(last, first), num_frames - 1)
    return max(first, 0), max(last, 0)


# -- reading ---------------------------------------------------------------------------------------
def load_annotations(path: PathLike) -> Annotations:
    """Read an ``annotations.json``; a missing file is an empty :class:`Annotations`.

    Raises:
        AnnotationError: Not valid JSON (the message names the line and column) or not the
            shape above (it names the video and segment).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Annotations()
    except UnicodeDecodeError as exc:
        raise AnnotationError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AnnotationError(
            f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            " (fix it, or restore the .bak beside it; it is never overwritten while invalid)"
        ) from None
    return parse_annotations(data, str(path))


def parse_annotations(data: Any, where: str = "annotations") -> Annotations:
    """An :class:`Annotations` from the file's JSON content, checked field by field.

    Raises:
        AnnotationError: A missing or wrong field, named with its video and segment number.
    """
    if not isinstance(data, dict):
        raise AnnotationError(f"{where}: expected a JSON object, got {type(data).__name__}")
    if data.get("format", FORMAT) != FORMAT:
        raise AnnotationError(f"{where}: format {data.get('format')!r} is not {FORMAT!r}")
    if data.get("version", VERSION) != VERSION:
        raise AnnotationError(f"{where}: version {data.get('version')!r}; this reads {VERSION}")
    revision = data.get("revision", 0)
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 0:
        raise AnnotationError(f"{where}: revision {revision!r} is not a whole number >= 0")
    labels = data.get("labels", [])
    if not isinstance(labels, list):
        raise AnnotationError(f"{where}: 'labels' must be a list of strings")
    labels = [_label(x, f"{where}: labels[{i}]") for i, x in enumerate(labels)]
    videos = data.get("videos", {})
    if not isinstance(videos, dict):
        raise AnnotationError(f"{where}: 'videos' must be an object keyed by video path")
    entries = {}
    for name, entry in videos.items():
        entries[_video_key(name, where)] = _video(entry, f"{where}: video {name!r}")
    return Annotations(list(dict.fromkeys(labels)), entries, revision)


def _video_key(name: str, where: str) -> str:
    """A relative path inside the folder, with ``/``; anything that could leave it is refused."""
    parts = name.split("/")
    if (
        not name
        or "\\" in name
        or "\0" in name
        or name.startswith("/")
        or any(p in ("", ".", "..") for p in parts)
        or (len(parts[0]) >= 2 and parts[0][1] == ":")
    ):
        raise AnnotationError(f"{where}: video {name!r} is not a relative path inside the folder")
    return name


def _label(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise AnnotationError(f"{where}: a label must be a non-empty string, got {value!r}")
    if len(value) > MAX_LABEL_CHARS or any(ord(c) < 32 for c in value):
        raise AnnotationError(
            f"{where}: label {value[:40]!r} must be one line of at most"
            f" {MAX_LABEL_CHARS} characters"
        )
    return value.strip()


def _video(entry: Any, where: str) -> VideoAnnotation:
    if not isinstance(entry, dict):
        raise AnnotationError(f"{where}: expected an object with 'segments'")
    fps, num_frames = entry.get("fps"), entry.get("num_frames")
    if fps is not None and not (_is_number(fps) and fps > 0):
        raise AnnotationError(f"{where}: fps {fps!r} must be a positive number")
    if num_frames is not None and not (_is_int(num_frames) and num_frames > 0):
        raise AnnotationError(f"{where}: num_frames {num_frames!r} must be a positive integer")
    segments = entry.get("segments", [])
    if not isinstance(segments, list):
        raise AnnotationError(f"{where}: 'segments' must be a list")
    out = [_segment(s, num_frames, f"{where}, segment {i + 1}") for i, s in enumerate(segments)]
    return VideoAnnotation(float(fps) if fps is not None else None, num_frames, out)


def _segment(seg: Any, num_frames: int | None, where: str) -> Segment:
    if not isinstance(seg, dict):
        raise AnnotationError(f"{where}: expected an object")
    missing = [k for k in ("label", "start_frame", "end_frame", "start", "end") if k not in seg]
    if missing:
        raise AnnotationError(f"{where}: missing {', '.join(missing)}")
    first, last = seg["start_frame"], seg["end_frame"]
    if not (_is_int(first) and _is_int(last) and 0 <= first <= last):
        raise AnnotationError(
            f"{where}: frames {first!r}..{last!r} must be integers with 0 <= start <= end"
        )
    if num_frames is not None and last >= num_frames:
        raise AnnotationError(f"{where}: end_frame {last} is past the video's {num_frames} frames")
    start, end = seg["start"], seg["end"]
    if not (_is_number(start) and _is_number(end) and 0 <= start < end):
        raise AnnotationError(f"{where}: seconds {start!r}..{end!r} must satisfy 0 <= start < end")
    source = seg.get("source", "manual")
    if source not in SOURCES:
        raise AnnotationError(f"{where}: source {source!r} is not one of {', '.join(SOURCES)}")
    text = {k: seg.get(k, "") for k in ("author", "created")}
    if not all(isinstance(v, str) and len(v) <= MAX_LABEL_CHARS for v in text.values()):
        raise AnnotationError(f"{where}: author and created must be short strings")
    label = _label(seg["label"], where)
    return Segment(label, first, last, float(start), float(end), source=source, **text)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


# -- writing ---------------------------------------------------------------------------------------
def save_annotations(
    path: PathLike, annotations: Annotations, *, expected_revision: int | None
) -> int:
    """Write ``annotations`` as the next revision of ``path``; returns the new revision.

    Under a lock (one writer at a time, also across processes): the file's current revision
    must equal ``expected_revision`` (``None``: no check, for a new file or an import); the
    current file is copied to ``<name>.bak`` and the new one written atomically, so a kill at
    any moment leaves the old or the new file, whole. ``annotations.revision`` is updated.

    Raises:
        StaleRevisionError: The file was saved from elsewhere since ``expected_revision``.
        AnnotationError: The current file is invalid (it is never overwritten blindly).
    """
    path = Path(path)
    with file_lock(path.with_name(f".{path.name}.lock"), what=f"saving {path.name}"):
        _remove_stale_temporaries(path)
        current = load_annotations(path) if path.exists() else None
        actual = current.revision if current is not None else 0
        if expected_revision is not None and expected_revision != actual:
            raise StaleRevisionError(path, expected_revision, actual)
        if current is not None:
            write_text(path.with_name(path.name + ".bak"), path.read_text(encoding="utf-8"))
        annotations.revision = actual + 1
        text = json.dumps(annotations.to_dict(), indent=1, ensure_ascii=False) + "\n"
        write_text(path, text)
    return annotations.revision


def _remove_stale_temporaries(path: Path) -> None:
    """The temporary files of saves that were killed (only savers holding the lock make them)."""
    for pattern in (f".{path.name}.*.tmp", f".{path.name}.bak.*.tmp"):
        for stale in path.parent.glob(pattern):
            stale.unlink(missing_ok=True)
