"""Figures for notebooks: batches of clips, training curves, confusion matrices, mistakes.

Plots take results (items, tensors, reports, training histories), never learners; only
:func:`plot_misclassified` reads frames, through the test dataset it is given. Every function
returns the matplotlib Figure and never calls ``plt.show()``; :func:`save_figure` writes one to
a file atomically.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from actionkit.atomic import write_bytes
from actionkit.spec import InputSpec
from actionkit.transforms import denormalize

HISTORY_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_top1", "lr")
"""The columns of a training history (``history.csv``); ``val_*`` may be empty."""


def clip_frames(video: torch.Tensor, spec: InputSpec) -> np.ndarray:
    """One normalized clip (C×T×H×W or K×C×H×W) back to displayable T×H×W×3 floats in [0, 1]."""
    video = denormalize(video.detach().float().cpu(), spec.mean, spec.std, layout=spec.layout)
    if spec.layout == "CTHW":
        video = video.permute(1, 0, 2, 3)  # T×C×H×W
    return video.clamp(0, 1).permute(0, 2, 3, 1).numpy()


def _items(batch: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    if isinstance(batch, Mapping):  # a collated batch
        return [
            {"video": batch["video"][i], "label": int(batch["label"][i])}
            for i in range(len(batch["label"]))
        ]
    return list(batch)


def show_batch(
    batch: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    classes: Sequence[str],
    spec: InputSpec,
    frames: int = 4,
):
    """Plot a few frames of each clip with its label.

    Args:
        batch: Dataset items, or a batch collated by a DataLoader.
        classes: Class names for the labels.
        spec: The input spec the clips were made with (layout, mean and std).
        frames: Frames shown per clip, evenly spaced.

    Returns:
        The matplotlib Figure (one row per clip).
    """
    import matplotlib.pyplot as plt

    items = _items(batch)
    fig, axes = plt.subplots(
        len(items), frames, figsize=(2 * frames, 2 * len(items)), squeeze=False
    )
    for row, item in zip(axes, items, strict=True):
        video = item["video"]
        if video.ndim == 5:  # several clips: show the first
            video = video[0]
        clip = clip_frames(video, spec)
        picks = np.linspace(0, len(clip) - 1, frames).round().astype(int)
        label = int(item["label"])
        name = classes[label] if 0 <= label < len(classes) else "unreadable"
        for ax, t in zip(row, picks, strict=True):
            ax.imshow(clip[t])
            ax.set_axis_off()
            ax.set_title(f"{name} · t={t}", fontsize=8)
    fig.tight_layout()
    return fig


def save_figure(
    fig, path: str | os.PathLike, dpi: int = 100, bbox_inches: str | None = None
) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix, PNG without one), atomically.

    ``bbox_inches="tight"`` trims the margins (as in ``Figure.savefig``).
    """
    path = Path(path)
    buffer = io.BytesIO()
    suffix = path.suffix.lstrip(".").lower() or "png"
    fig.savefig(buffer, format=suffix, dpi=dpi, bbox_inches=bbox_inches)
    return write_bytes(path, buffer.getvalue())


# -- confusion matrix --------------------------------------------------------------------------
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
        The matplotlib Figure. Cells carry their percentage (or count) when ``C <= 30``.
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
    fontsize = 8 if size <= 30 else 7
    ticks = np.arange(size)
    ax.set_xticks(ticks, labels=list(classes), rotation=90, fontsize=fontsize)
    ax.set_yticks(ticks, labels=list(classes), fontsize=fontsize)
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


# -- training history --------------------------------------------------------------------------
def read_history(path: str | os.PathLike) -> list[dict[str, float | None]]:
    """The :data:`HISTORY_COLUMNS` of a ``history.csv``, one dict of floats per row.

    Empty, ``None`` and NaN cells (and missing columns) read as ``None``; other columns are ignored.
    """
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "epoch" not in reader.fieldnames:
            raise ValueError(
                f"{path} has columns {reader.fieldnames}; expected a header with {HISTORY_COLUMNS}"
            )
        return [{k: _number(row.get(k)) for k in HISTORY_COLUMNS} for row in reader]


def _number(text: str | None) -> float | None:
    text = (text or "").strip()
    if text.lower() in ("", "none", "nan"):
        return None
    return float(text)


def _history_columns(history: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Each history column as floats, NaN where a value is missing or ``None``."""

    def column(key: str) -> np.ndarray:
        values = [row.get(key) for row in history]
        return np.array([np.nan if v is None else float(v) for v in values], dtype=float)

    columns = {key: column(key) for key in HISTORY_COLUMNS}
    if np.isnan(columns["epoch"]).any():
        columns["epoch"] = np.arange(1, len(history) + 1, dtype=float)
    return columns


_CURVES = {"train_loss": "train", "val_loss": "validation", "train_acc": "train"}
_CURVES |= {"val_top1": "validation", "lr": "learning rate"}


def plot_history(
    history: Sequence[Mapping[str, Any]] | str | os.PathLike,
    path: str | os.PathLike | None = None,
):
    """Training curves: loss, top-1 accuracy (train and validation) and the learning rate.

    Args:
        history: Per-epoch dicts with keys :data:`HISTORY_COLUMNS` (``val_*`` may be missing or
            ``None`` when no validation ran), or the path of a ``history.csv`` with that header.
        path: Where to save the figure too (format from the suffix), or ``None``.

    Returns:
        The matplotlib Figure: two panels, three when the history has learning rates.
    """
    import matplotlib.pyplot as plt

    rows = read_history(history) if isinstance(history, str | os.PathLike) else list(history)
    if not rows:
        raise ValueError("history is empty: there is no epoch to plot")
    columns = _history_columns(rows)
    panels = [("loss", ("train_loss", "val_loss")), ("top-1 accuracy", ("train_acc", "val_top1"))]
    if not np.isnan(columns["lr"]).all():
        panels.append(("learning rate", ("lr",)))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.5), squeeze=False)
    for ax, (title, keys) in zip(axes[0], panels, strict=True):
        for key in keys:
            known = ~np.isnan(columns[key])  # e.g. validation run every few epochs only
            if known.any():
                x, y = columns["epoch"][known], columns[key][known]
                ax.plot(x, y, marker="o", markersize=3, label=_CURVES[key])
        ax.set_title(title)
        ax.set_xlabel("epoch")
        if len(ax.lines) > 1:
            ax.legend()
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


# -- mistakes ----------------------------------------------------------------------------------
def plot_misclassified(report_or_predictions, dataset, n: int = 8, frames: int = 4):
    """Frames of up to ``n`` misclassified videos, most confident mistakes first.

    Args:
        report_or_predictions: An :class:`~actionkit.metrics.EvalReport`, or its ``predictions``
            (dicts with ``path``, ``label``, ``pred``, ``score``, ``correct``).
        dataset: The test-mode :class:`~actionkit.data.VideoDataset` the predictions were made
            on; a video is found by its path among ``dataset.samples``.
        n: Most videos shown (one row each).
        frames: Frames shown per video, evenly spaced over its first clip.

    Returns:
        The matplotlib Figure; each row is titled ``true → predicted (score)``.
    """
    import matplotlib.pyplot as plt

    if n < 1 or frames < 1:
        raise ValueError(f"n={n!r} and frames={frames!r} must both be at least 1")
    if hasattr(report_or_predictions, "misclassified"):
        wrong, classes = report_or_predictions.misclassified(), report_or_predictions.classes
    else:
        wrong = [dict(p) for p in report_or_predictions if not p["correct"]]
        wrong, classes = sorted(wrong, key=lambda p: -p["score"]), dataset.classes
    if not wrong:
        fig, ax = plt.subplots(figsize=(4, 1))
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no misclassified videos", ha="center", va="center")
        return fig
    wrong = wrong[:n]
    where = {str(sample.path): i for i, sample in enumerate(dataset.samples)}
    fig, axes = plt.subplots(
        len(wrong), frames, figsize=(2 * frames, 2.3 * len(wrong)), squeeze=False
    )
    for row, prediction in zip(axes, wrong, strict=True):
        clip = clip_frames(_first_clip(dataset, where, prediction), dataset.spec)
        picks = np.linspace(0, len(clip) - 1, frames).round().astype(int)
        for ax, t in zip(row, picks, strict=True):
            ax.imshow(clip[t])
            ax.set_axis_off()
        true, predicted = classes[prediction["label"]], classes[prediction["pred"]]
        row[0].set_title(
            f"{true} → {predicted} ({prediction['score']:.2f})", loc="left", fontsize=9
        )
    top = 1 - 0.3 / fig.get_figheight()  # room for the first row's title
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=top, wspace=0.05, hspace=0.3)
    return fig


def _first_clip(dataset, where: Mapping[str, int], prediction: Mapping[str, Any]) -> torch.Tensor:
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
    video = dataset[where[str(path)]]["video"]
    return video[0] if video.ndim == 5 else video
