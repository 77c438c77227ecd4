"""Figures of an evaluation: the confusion matrix and the misclassified videos.

They take results (a confusion matrix, an :class:`~actionkit.evaluation.metrics.EvalReport` or its
predictions), never learners; only :func:`plot_misclassified` reads frames, through the test
dataset it is given. Each returns the matplotlib Figure and never calls ``plt.show()``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from actionkit.data.preview import clip_frames
from actionkit.utils.fonts import font_families

__all__ = ["plot_confusion_matrix", "plot_misclassified"]


def plot_confusion_matrix(
    confusion: np.ndarray, classes: Sequence[str], normalize: bool = True, ax=None
):
    """Draw a confusion matrix (rows: true classes, columns: predicted ones).

    Args:
        confusion: ``C×C`` counts.
        classes: The ``C`` class names, shown on both axes.
        normalize: Colour (and label) each row as fractions of its true class; else raw counts.
        ax: Axes to draw in; by default a new figure whose size grows with ``C``.

    Returns:
        The matplotlib Figure. Cells carry their percentage (or count) when ``C <= 30``. Class
        names are drawn in a font that has their glyphs (:mod:`actionkit.utils.fonts`).
    """
    counts = np.asarray(confusion)
    size = len(classes)
    if counts.shape != (size, size):
        raise ValueError(
            f"confusion has shape {counts.shape}; expected ({size}, {size}) for {size} classes"
        )
    totals = counts.sum(axis=1, keepdims=True)
    shown = counts.astype(float)
    if normalize:
        shown = np.divide(shown, totals, out=np.zeros_like(shown), where=totals > 0)
    if ax is None:
        import matplotlib.pyplot as plt

        side = max(4.0, 0.3 * size + 2.5)
        _, ax = plt.subplots(figsize=(side + 1.0, side))
    fig = ax.figure
    top = 1.0 if normalize else max(1.0, float(shown.max()))
    image = ax.imshow(shown, cmap="Blues", vmin=0.0, vmax=top)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    labels = dict(fontsize=8 if size <= 30 else 7, fontfamily=font_families(classes))
    ticks = np.arange(size)
    ax.set_xticks(ticks, labels=list(classes), rotation=90, **labels)
    ax.set_yticks(ticks, labels=list(classes), **labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix (% of each true class)" if normalize else "confusion matrix")
    if size <= 30:
        _cell_labels(ax, counts, shown, top, normalize)
    fig.tight_layout()
    return fig


def _cell_labels(ax, counts: np.ndarray, shown: np.ndarray, top: float, normalize: bool) -> None:
    fontsize = 9 if len(counts) <= 12 else 6
    for (row, col), count in np.ndenumerate(counts):
        if count == 0:
            continue
        text = f"{100 * shown[row, col]:.0f}" if normalize else str(int(count))
        color = "white" if shown[row, col] > top / 2 else "black"
        ax.text(col, row, text, ha="center", va="center", color=color, fontsize=fontsize)


def plot_misclassified(report_or_predictions, data, n: int = 8, frames: int = 4):
    """Frames of up to ``n`` misclassified videos, most confident mistakes first.

    Args:
        report_or_predictions: An :class:`~actionkit.metrics.EvalReport`, or its ``predictions``
            (dicts with ``path``, ``label``, ``pred``, ``score``, ``correct``).
        data: The test-mode :class:`~actionkit.data.VideoDataset` the predictions were made
            on; a video is found by its path among ``data.samples``.
        n: Most videos shown (one row each).
        frames: Frames shown per video, evenly spaced over its first clip.

    Returns:
        The matplotlib Figure; each row is titled ``true → predicted (score)``, in a font that
        has the glyphs of the class names.
    """
    import matplotlib.pyplot as plt

    if n < 1 or frames < 1:
        raise ValueError(f"n={n!r} and frames={frames!r} must both be at least 1")
    if hasattr(report_or_predictions, "misclassified"):
        wrong, classes = report_or_predictions.misclassified(), report_or_predictions.classes
    else:
        wrong = [dict(p) for p in report_or_predictions if not p["correct"]]
        wrong, classes = sorted(wrong, key=lambda p: -p["score"]), data.classes
    if not wrong:
        fig, ax = plt.subplots(figsize=(4, 1))
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no misclassified videos", ha="center", va="center")
        return fig
    wrong = wrong[:n]
    where = {str(sample.path): i for i, sample in enumerate(data.samples)}
    titles = [f"{classes[p['label']]} → {classes[p['pred']]} ({p['score']:.2f})" for p in wrong]
    family = font_families(titles)
    fig, axes = plt.subplots(
        len(wrong), frames, figsize=(2 * frames, 2.3 * len(wrong)), squeeze=False
    )
    for row, prediction, title in zip(axes, wrong, titles, strict=True):
        clip = clip_frames(_first_clip(data, where, prediction), data.spec)
        picks = np.linspace(0, len(clip) - 1, frames).round().astype(int)
        for ax, t in zip(row, picks, strict=True):
            ax.imshow(clip[t])
            ax.set_axis_off()
        row[0].set_title(title, loc="left", fontsize=9, fontfamily=family)
    top = 1 - 0.3 / fig.get_figheight()  # room for the first row's title
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=top, wspace=0.05, hspace=0.3)
    return fig


def _first_clip(data, where: Mapping[str, int], prediction: Mapping[str, Any]) -> torch.Tensor:
    path = prediction.get("path")
    if path is None:
        raise ValueError(
            "the predictions have no video paths: pass paths= to compute_report to plot them"
        )
    if str(path) not in where:
        raise ValueError(
            f"{path} is not in the dataset ({len(where)} videos); "
            "pass the dataset the predictions were made on"
        )
    video = data[where[str(path)]]["video"]
    return video[0] if video.ndim == 5 else video
