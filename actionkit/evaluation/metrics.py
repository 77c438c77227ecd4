"""Evaluation numbers: top-k, mean class accuracy, per-class scores, confusion matrix.

:func:`compute_report` turns the scores a model gave a test set into an
:class:`~actionkit.evaluation.report.EvalReport`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from actionkit.evaluation.report import FORMAT_VERSION, EvalReport

__all__ = ["FORMAT_VERSION", "EvalReport", "compute_report", "topk_accuracy"]


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
