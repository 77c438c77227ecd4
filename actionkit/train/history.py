"""A training history: one row per epoch, its columns, ``history.csv`` and the curves.

:data:`HISTORY_FIELDS` is the one list of what a :class:`~actionkit.train.learner.Learner` records
per epoch; :func:`history_csv` writes rows as ``history.csv`` holds them, :func:`read_history`
reads them back, :func:`plot_history` draws the curves.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from actionkit.utils.atomic import save_figure

__all__ = ["HISTORY_FIELDS", "history_csv", "plot_history", "read_history"]

HISTORY_FIELDS = (
    "epoch", "train_loss", "train_acc", "val_loss", "val_top1", "val_top5",
    "val_mean_class_acc", "lr", "seconds",
)  # fmt: skip
"""The columns of a training history (``history.csv``); ``val_*`` are empty in epochs that did
not validate."""


def history_csv(history: Sequence[Mapping[str, Any]]) -> str:
    """The rows as the text of a ``history.csv`` (header :data:`HISTORY_FIELDS`)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(history)
    return buffer.getvalue()


def read_history(path: str | os.PathLike) -> list[dict[str, float | None]]:
    """The :data:`HISTORY_FIELDS` of a ``history.csv``, one dict of floats per row.

    Empty, ``None`` and NaN cells (and missing columns) read as ``None``; other columns are ignored.
    """
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "epoch" not in reader.fieldnames:
            raise ValueError(
                f"{path} has columns {reader.fieldnames}; expected a header with {HISTORY_FIELDS}"
            )
        return [{k: _number(row.get(k)) for k in HISTORY_FIELDS} for row in reader]


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

    columns = {key: column(key) for key in HISTORY_FIELDS}
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
        history: Per-epoch dicts with keys :data:`HISTORY_FIELDS` (``val_*`` may be missing or
            ``None`` when no validation ran), or the path of a ``history.csv`` with that header.
        path: Where to save the figure too (format from the suffix), or ``None``.

    Returns:
        The matplotlib Figure: two panels, three when the history has learning rates; epoch
        ticks are whole numbers.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

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
        if len(np.unique(columns["epoch"])) == 1:  # MaxNLocator ticks fractions in [0.95, 1.05]
            ax.set_xticks(columns["epoch"][:1])
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if len(ax.lines) > 1:
            ax.legend()
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig
