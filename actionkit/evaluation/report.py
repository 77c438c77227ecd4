"""The evaluation report: what a model scored, printed, saved, loaded back and drawn.

An :class:`EvalReport` (made by :func:`~actionkit.evaluation.metrics.compute_report`) prints as a
table, shows itself in notebooks, saves to JSON, loads back and draws its confusion matrix and
its mistakes (:mod:`actionkit.evaluation.plots`).
"""

from __future__ import annotations

import html
import json
import os
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from actionkit.evaluation import plots
from actionkit.utils.atomic import write_bytes

__all__ = ["FORMAT_VERSION", "EvalReport", "display_width", "pad"]

FORMAT_VERSION = 1
"""Version of the JSON written by :meth:`EvalReport.save`."""


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: 2 per wide (CJK) character, 0 per combining mark."""
    return sum(map(_char_width, text))


def _char_width(char: str) -> int:
    if unicodedata.category(char) in ("Mn", "Me", "Cc", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def pad(text: str, width: int) -> str:
    """``text`` left-aligned in ``width`` terminal columns (:func:`display_width`)."""
    return text + " " * max(0, width - display_width(text))


@dataclass(eq=False)
class EvalReport:
    """What a model scored on a test set (see :func:`compute_report`).

    Accuracies are fractions in ``[0, 1]``; the text and HTML views show percentages.

    Attributes:
        classes: Class names.
        num_videos: Videos scored (unreadable ones excluded).
        unreadable: Paths (or row indices as strings) of the videos that could not be read.
        top1: Video-level top-1 accuracy.
        top5: Video-level top-k accuracy with ``k = min(5, len(classes))`` (always 1 with five
            classes or fewer: the text views then leave it out, see :attr:`topk_label`).
        mean_class_accuracy: Mean per-class recall over the classes that have test videos.
        clip_top1: Clip-level top-1 accuracy, or ``None`` without clip scores.
        per_class: One dict per class: ``class``, ``precision``, ``recall``, ``f1``, ``support``.
        confusion: ``C×C`` int counts; rows are true classes, columns predicted ones.
        seconds_per_video: Evaluation wall time per video (unreadable ones included), or ``None``.
        predictions: One dict per scored video: ``index`` (row in the inputs), ``path`` (or
            ``None``), ``label``, ``pred``, ``score`` (of ``pred``), ``correct``.
        settings: Free-form JSON description of the run.
    """

    classes: list[str]
    num_videos: int
    unreadable: list[str]
    top1: float
    top5: float
    mean_class_accuracy: float
    clip_top1: float | None
    per_class: list[dict[str, Any]]
    confusion: np.ndarray
    seconds_per_video: float | None
    predictions: list[dict[str, Any]]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def topk(self) -> int:
        """The ``k`` of :attr:`top5`: ``min(5, number of classes)``."""
        return min(5, len(self.classes))

    @property
    def topk_label(self) -> str | None:
        """``"top-5"`` when :attr:`top5` says something, i.e. with more than five classes.

        ``None`` with five classes or fewer, where every video is among its top ``k`` and
        :attr:`top5` is 100 %: summaries then show top-1 only.
        """
        return f"top-{self.topk}" if self.topk < len(self.classes) else None

    # -- queries -----------------------------------------------------------------------------
    def most_confused(self, k: int = 5, min_count: int = 1) -> list[tuple[str, str, int]]:
        """The ``k`` largest off-diagonal cells of the confusion matrix.

        Returns:
            ``(true class, predicted class, count)`` tuples, largest count first (ties in class
            order), only cells with at least ``min_count`` videos.
        """
        cells = [
            (-int(count), t, p)
            for (t, p), count in np.ndenumerate(self.confusion)
            if t != p and count >= max(min_count, 1)
        ]
        return [(self.classes[t], self.classes[p], -neg) for neg, t, p in sorted(cells)[:k]]

    def misclassified(self) -> list[dict[str, Any]]:
        """The wrong predictions, most confident first (dicts as in :attr:`predictions`)."""
        wrong = [dict(p) for p in self.predictions if not p["correct"]]
        return sorted(wrong, key=lambda p: -p["score"])

    # -- views -------------------------------------------------------------------------------
    def _headline(self) -> list[tuple[str, str]]:
        pct = "{:.2f} %".format
        topk = [] if self.topk_label is None else [(self.topk_label, pct(100 * self.top5))]
        return [
            ("top-1", pct(100 * self.top1)),
            *topk,
            ("mean class accuracy", pct(100 * self.mean_class_accuracy)),
            ("clip top-1", "n/a" if self.clip_top1 is None else pct(100 * self.clip_top1)),
            ("videos", str(self.num_videos)),
            ("unreadable", str(len(self.unreadable))),
            (
                "seconds per video",
                "n/a" if self.seconds_per_video is None else f"{self.seconds_per_video:.3f}",
            ),
        ]

    def table(self, max_confused: int = 10) -> str:
        """Plain-text summary: headline numbers, per-class table, most confused pairs."""
        lines = [f"{name:<20} {value}" for name, value in self._headline()]
        width = max(display_width("class"), *(display_width(c) for c in self.classes))
        lines += ["", f"{pad('class', width)}  precision  recall      f1  support"]
        for row in self.per_class:
            lines.append(
                f"{pad(row['class'], width)}  {100 * row['precision']:8.1f}%"
                f"  {100 * row['recall']:5.1f}%  {100 * row['f1']:5.1f}%  {row['support']:7d}"
            )
        confused = self.most_confused(max_confused)
        lines += ["", "most confused (true → predicted: videos)"]
        lines += [f"  {t} → {p}: {n}" for t, p, n in confused] or ["  none"]
        if self.unreadable:
            lines += ["", "unreadable videos"] + [f"  {p}" for p in self.unreadable[:10]]
            if len(self.unreadable) > 10:
                lines.append(f"  ... and {len(self.unreadable) - 10} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        """The :meth:`table`, as ``report.txt`` holds it."""
        return self.table()

    def __repr__(self) -> str:
        topk = "" if self.topk_label is None else f"top{self.topk}={self.top5:.4f}, "
        return (
            f"EvalReport({self.num_videos} videos, {len(self.classes)} classes, "
            f"top1={self.top1:.4f}, {topk}"
            f"mean_class_accuracy={self.mean_class_accuracy:.4f})"
        )

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in self._headline())
        body = "".join(
            f"<tr><td>{esc(r['class'])}</td><td>{100 * r['precision']:.1f} %</td>"
            f"<td>{100 * r['recall']:.1f} %</td><td>{100 * r['f1']:.1f} %</td>"
            f"<td>{r['support']}</td></tr>"
            for r in self.per_class
        )
        confused = "".join(
            f"<li>{esc(t)} → {esc(p)}: {n}</li>" for t, p, n in self.most_confused(10)
        )
        return (
            f"<table>{head}</table>"
            "<table><tr><th>class</th><th>precision</th><th>recall</th><th>f1</th>"
            f"<th>support</th></tr>{body}</table>"
            f"<p>most confused (true → predicted: videos)</p><ul>{confused or '<li>none</li>'}</ul>"
        )

    # -- files -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (lists, not arrays); :meth:`from_dict` is its inverse."""
        return {
            "format_version": FORMAT_VERSION,
            "classes": list(self.classes),
            "num_videos": int(self.num_videos),
            "unreadable": list(self.unreadable),
            "top1": float(self.top1),
            "top5": float(self.top5),
            "mean_class_accuracy": float(self.mean_class_accuracy),
            "clip_top1": None if self.clip_top1 is None else float(self.clip_top1),
            "per_class": [dict(row) for row in self.per_class],
            "confusion": np.asarray(self.confusion).astype(int).tolist(),
            "seconds_per_video": self.seconds_per_video,
            "predictions": [dict(p) for p in self.predictions],
            "settings": json.loads(json.dumps(self.settings)),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalReport:
        """Rebuild a report from :meth:`to_dict` output."""
        data = dict(data)
        version = data.pop("format_version", FORMAT_VERSION)
        if version > FORMAT_VERSION:
            raise ValueError(
                f"report format_version={version} is newer than this actionkit reads "
                f"({FORMAT_VERSION}); upgrade actionkit"
            )
        size = len(data["classes"])
        data["confusion"] = np.asarray(data["confusion"], dtype=np.int64).reshape(size, size)
        return cls(**data)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the report as JSON (atomically: temporary file, then rename). Returns the path."""
        text = json.dumps(self.to_dict(), indent=1, ensure_ascii=False, allow_nan=False)
        return write_bytes(path, text.encode("utf-8"))

    @classmethod
    def load(cls, path: str | os.PathLike) -> EvalReport:
        """Read a report written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EvalReport):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    # -- figures -----------------------------------------------------------------------------
    def plot_confusion(self, normalize: bool = True):
        """The confusion matrix as a figure (:func:`~.plots.plot_confusion_matrix`)."""
        return plots.plot_confusion_matrix(self.confusion, self.classes, normalize=normalize)

    def plot_misclassified(self, data, n: int = 8, frames: int = 4):
        """Frames of the wrong predictions (:func:`~.plots.plot_misclassified`)."""
        return plots.plot_misclassified(self, data, n=n, frames=frames)
