"""Evaluation results: top-k, mean class accuracy, per-class scores, confusion matrix, report.

:func:`compute_report` turns the scores a model gave a test set into an :class:`EvalReport`,
which prints as a table, shows itself in notebooks, saves to JSON, loads back and draws its
confusion matrix and its mistakes (:mod:`actionkit.plots`).
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from actionkit.evaluation import plots
from actionkit.utils.atomic import write_bytes

__all__ = ["FORMAT_VERSION", "EvalReport", "compute_report", "topk_accuracy"]

FORMAT_VERSION = 1
"""Version of the JSON written by :meth:`EvalReport.save`."""


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of rows whose true label is among the ``k`` highest scores.

    Ties are broken towards the lower class index (as ``argmax`` does), so ``k=1`` equals the
    accuracy of ``scores.argmax(1)``. ``k`` larger than the number of classes counts as all.

    Args:
        scores: ``(N, C)`` class scores.
        labels: ``(N,)`` true classes in ``[0, C)``.
        k: How many top classes count as a hit (at least 1).

    Returns:
        The accuracy in ``[0, 1]``.
    """
    if not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k={k!r} must be a positive integer")
    scores, labels = np.asarray(scores), np.asarray(labels)
    _check_scores(scores, labels, scores.shape[1] if scores.ndim == 2 else 0)
    if len(labels) == 0:
        raise ValueError("no rows to score: scores and labels are empty")
    if labels.min() < 0:
        raise ValueError(f"label {int(labels.min())} is out of range; expected 0..C-1")
    return float(_topk_hits(scores, labels, k).mean())


def _topk_hits(scores: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    top = np.argsort(-scores, axis=1, kind="stable")[:, : min(k, scores.shape[1])]
    return (top == labels[:, None]).any(axis=1)


def _check_scores(scores: np.ndarray, labels: np.ndarray, num_classes: int) -> None:
    """Shapes and label range (labels may be -1 for unreadable videos)."""
    if scores.ndim != 2:
        raise ValueError(f"video_scores must be (N, C), got shape {scores.shape}")
    if scores.shape[1] != num_classes or num_classes < 1:
        raise ValueError(
            f"video_scores has {scores.shape[1]} class columns; expected {num_classes} "
            "(one per class name)"
        )
    if labels.ndim != 1 or len(labels) != len(scores):
        raise ValueError(
            f"labels must have shape ({len(scores)},), one per row of video_scores; "
            f"got {labels.shape}"
        )
    if labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    bad = labels[(labels < -1) | (labels >= num_classes)]
    if len(bad):
        raise ValueError(
            f"label {int(bad[0])} is out of range; expected 0..{num_classes - 1} "
            "(or -1 for an unreadable video)"
        )


def _check_optional(
    n: int, num_classes: int, clip_scores: np.ndarray | None, paths: Sequence[str] | None
) -> None:
    if clip_scores is not None and (
        clip_scores.ndim != 3
        or clip_scores.shape[0] != n
        or clip_scores.shape[2] != num_classes
        or clip_scores.shape[1] < 1
    ):
        raise ValueError(
            f"clip_scores must be (N, K, C) = ({n}, K, {num_classes}); "
            f"got shape {clip_scores.shape}"
        )
    if paths is not None and len(paths) != n:
        raise ValueError(f"paths has {len(paths)} entries; expected {n}, one per video")


def _json_settings(settings: dict | None) -> dict[str, Any]:
    """``settings`` as it will read back from JSON (tuples become lists), or a ValueError."""
    try:
        return json.loads(json.dumps(dict(settings or {}), allow_nan=False))
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"settings must hold plain JSON values (str, number, bool, None, list, dict): {err}"
        ) from None


def compute_report(
    video_scores: np.ndarray,
    labels: np.ndarray,
    classes: Sequence[str],
    *,
    clip_scores: np.ndarray | None = None,
    paths: Sequence[str] | None = None,
    seconds: float | None = None,
    settings: dict | None = None,
) -> EvalReport:
    """Score a test set: accuracies, per-class precision/recall/F1, confusion matrix.

    Rows with label ``-1`` (videos that could not be read) are listed in
    :attr:`EvalReport.unreadable` and left out of every number.

    Args:
        video_scores: ``(N, C)`` averaged softmax per video.
        labels: ``(N,)`` true class per video; ``-1`` for an unreadable video.
        classes: The ``C`` class names.
        clip_scores: ``(N, K, C)`` per-clip softmax, for clip-level top-1 (optional).
        paths: ``(N,)`` video paths (optional; without them videos are named by row index).
        seconds: Wall time of the whole evaluation; gives seconds per video (all ``N`` rows).
        settings: JSON-able description of the run (model, num_clips, three_crop...).

    Returns:
        The :class:`EvalReport`.

    Raises:
        ValueError: inconsistent shapes, a class count that does not match ``classes``, labels
            out of range, non-finite scores, or no readable video at all.
    """
    classes = [str(c) for c in classes]
    scores, labels, clips = _validated(video_scores, labels, len(classes), clip_scores, paths)
    if seconds is not None and not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"seconds={seconds!r} must be a finite number >= 0")
    keep = labels >= 0
    names = [str(p) for p in paths] if paths is not None else [str(i) for i in range(len(labels))]
    scored, truth = scores[keep], labels[keep]
    pred = scored.argmax(axis=1)
    confusion, per_class = _per_class(truth, pred, classes)
    clip_hits = None if clips is None else clips[keep].argmax(axis=2) == truth[:, None]
    return EvalReport(
        classes=classes,
        num_videos=len(truth),
        unreadable=[names[i] for i in np.flatnonzero(~keep)],
        top1=float((pred == truth).mean()),
        top5=float(_topk_hits(scored, truth, 5).mean()),
        mean_class_accuracy=float(np.mean([r["recall"] for r in per_class if r["support"]])),
        clip_top1=None if clip_hits is None else float(clip_hits.mean()),
        per_class=per_class,
        confusion=confusion,
        seconds_per_video=None if seconds is None else float(seconds) / len(labels),
        predictions=[
            {
                "index": int(i),
                "path": names[i] if paths is not None else None,
                "label": int(truth[j]),
                "pred": int(pred[j]),
                "score": float(scored[j, pred[j]]),
                "correct": bool(truth[j] == pred[j]),
            }
            for j, i in enumerate(np.flatnonzero(keep))
        ],
        settings=_json_settings(settings),
    )


def _validated(
    video_scores: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    clip_scores: np.ndarray | None,
    paths: Sequence[str] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The inputs of :func:`compute_report` as arrays, checked."""
    scores, labels = np.asarray(video_scores, dtype=np.float64), np.asarray(labels)
    _check_scores(scores, labels, num_classes)
    clips = None if clip_scores is None else np.asarray(clip_scores, dtype=np.float64)
    _check_optional(len(scores), num_classes, clips, paths)
    keep = labels >= 0
    if not keep.any():
        raise ValueError(
            f"no video to score: all {len(labels)} rows have label -1 (unreadable)"
            if len(labels)
            else "no video to score: video_scores and labels are empty"
        )
    for name, values in (("video_scores", scores), ("clip_scores", clips)):
        if values is not None and not np.isfinite(values[keep]).all():
            raise ValueError(f"{name} holds NaN or infinite values for readable videos")
    return scores, labels.astype(np.int64), clips


def _per_class(
    truth: np.ndarray, pred: np.ndarray, classes: list[str]
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    ids = np.arange(len(classes))
    confusion = confusion_matrix(truth, pred, labels=ids).astype(np.int64)
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, pred, labels=ids, zero_division=0
    )
    rows = [
        {
            "class": name,
            "precision": float(p),
            "recall": float(r),
            "f1": float(f),
            "support": int(s),
        }
        for name, p, r, f, s in zip(classes, precision, recall, f1, support, strict=True)
    ]
    return confusion, rows


@dataclass(eq=False)
class EvalReport:
    """What a model scored on a test set (see :func:`compute_report`).

    Accuracies are fractions in ``[0, 1]``; the text and HTML views show percentages.

    Attributes:
        classes: Class names.
        num_videos: Videos scored (unreadable ones excluded).
        unreadable: Paths (or row indices as strings) of the videos that could not be read.
        top1: Video-level top-1 accuracy.
        top5: Video-level top-k accuracy with ``k = min(5, len(classes))``.
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
        return [
            ("top-1", pct(100 * self.top1)),
            (f"top-{self.topk}", pct(100 * self.top5)),
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
        width = max(len("class"), *(len(c) for c in self.classes))
        lines += ["", f"{'class':<{width}}  precision  recall      f1  support"]
        for row in self.per_class:
            lines.append(
                f"{row['class']:<{width}}  {100 * row['precision']:8.1f}%"
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
        return self.table()

    def __repr__(self) -> str:
        return (
            f"EvalReport({self.num_videos} videos, {len(self.classes)} classes, "
            f"top1={self.top1:.4f}, top{self.topk}={self.top5:.4f}, "
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
