"""Follow :meth:`Learner.fit <actionkit.train.learner.Learner.fit>` without the learner knowing.

A :class:`Callback` gets the training events; subclass it and override the ones you need. The
learner calls every callback in every process (under DDP, check
``learner.accelerator.is_main_process`` before you draw or write). The progress bars
(:class:`ProgressBar`) and ``history.csv`` (:class:`CSVHistory`) are callbacks themselves; a
notebook widget or a logger is one more::

    class PrintAccuracy(Callback):
        def on_epoch_end(self, learner, row):
            print(row["epoch"], row.get("val_top1"))

    Learner(model, train, val, callbacks=[PrintAccuracy()]).fit()
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from actionkit.train.history import history_csv
from actionkit.utils.atomic import write_text
from actionkit.utils.progress import bars_visible

# The learner imports this module, never the other way round (not even for type hints): a
# callback gets the Learner as ``learner`` and reads what it needs from it.
Learner = Any

__all__ = ["CSVHistory", "Callback", "ProgressBar", "epoch_line"]


def epoch_line(row: dict[str, Any]) -> str:
    """One epoch's history row as a line: ``epoch 3: train_loss 0.41, ..., val_top1 0.875``."""
    values = ", ".join(f"{k} {_fmt(v)}" for k, v in row.items() if k != "epoch")
    return f"epoch {row['epoch']}: {values}"


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class Callback:
    """The training events, in the order they come; every method does nothing by default."""

    def on_fit_start(self, learner: Learner, epochs: int) -> None:
        """A :meth:`~actionkit.train.learner.Learner.fit` call starts ``epochs`` epochs
        (the remaining ones when it resumes)."""

    def on_epoch_start(self, learner: Learner, epoch: int, batches: int) -> None:
        """Epoch ``epoch`` (counted over the learner's whole history, from 1) starts."""

    def on_batch_end(self, learner: Learner, batch: int, loss: float, lr: float) -> None:
        """Training batch ``batch`` (from 0) of the epoch is done: its loss, the learning rate."""

    def on_epoch_end(self, learner: Learner, row: dict[str, Any]) -> None:
        """The epoch is done, validated where due and checkpointed; ``row`` is its history row
        (:data:`~actionkit.train.history.HISTORY_FIELDS`), already in ``learner.history``."""

    def on_fit_end(self, learner: Learner) -> None:
        """The fit call is done (also after early stopping)."""

    def on_message(self, learner: Learner, text: str) -> None:
        """A line worth showing to whoever watches (the settings in use at the start)."""


class ProgressBar(Callback):
    """What someone watching a run sees (main process only): the settings at the start, one
    line per epoch with its metrics, and, on a terminal or in a notebook, a bar over each
    epoch's batches with the running loss and learning rate (in a log file, only the lines).

    Args:
        bars: Draw the batch bars; default: where they show as bars (:func:`bars_visible`).
    """

    def __init__(self, bars: bool | None = None) -> None:
        self.bars = bars_visible() if bars is None else bars
        self._bar: Any = None

    def on_message(self, learner: Learner, text: str) -> None:
        self._write(learner, text)

    def on_epoch_start(self, learner: Learner, epoch: int, batches: int) -> None:
        if self.bars:
            self._bar = tqdm(
                total=batches, desc=f"epoch {epoch}", unit="batch", leave=False,
                disable=not learner.accelerator.is_main_process,
            )  # fmt: skip

    def on_batch_end(self, learner: Learner, batch: int, loss: float, lr: float) -> None:
        if self._bar is not None:
            self._bar.update()
            self._bar.set_postfix(loss=f"{loss:.3f}", lr=f"{lr:.2e}")

    def on_epoch_end(self, learner: Learner, row: dict[str, Any]) -> None:
        self._close()
        self._write(learner, epoch_line(row))

    def on_fit_end(self, learner: Learner) -> None:
        self._close()

    def _write(self, learner: Learner, text: str) -> None:
        if learner.accelerator.is_main_process:
            tqdm.write(text, file=sys.stderr)

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class CSVHistory(Callback):
    """Rewrites ``path`` (atomically) with the whole history after every epoch (main process).

    Args:
        path: The CSV file, usually ``<out_dir>/history.csv``.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def on_epoch_end(self, learner: Learner, row: dict[str, Any]) -> None:
        if learner.accelerator.is_main_process:
            write_text(self.path, history_csv(learner.history))
