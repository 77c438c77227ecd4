"""Learner: fine-tune a video model on a VideoDataset, validate, checkpoint, resume.

One plain training loop on Hugging Face Accelerate: the same code runs on a CPU, on one GPU with
bf16/fp16 mixed precision, and on several GPUs or machines (DDP) when started with
``accelerate launch`` / ``torchrun`` or from a notebook with ``accelerate.notebook_launcher``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from actionkit.data import VideoDataset
from actionkit.evaluation.evaluate import evaluate
from actionkit.evaluation.report import EvalReport
from actionkit.models.io import read_model_file, save_model
from actionkit.train import checkpoint as ckpt
from actionkit.train.callbacks import Callback, CSVHistory, ProgressBar
from actionkit.train.config import TrainConfig, existing_run_files
from actionkit.train.history import HISTORY_FIELDS
from actionkit.train.loop import Run, warn_upscaling
from actionkit.utils.threads import ensure_passive_omp

log = logging.getLogger(__name__)

__all__ = ["HISTORY_FIELDS", "Learner", "TrainConfig", "make_accelerator"]


def make_accelerator(config: TrainConfig):
    """An ``accelerate.Accelerator`` for ``config`` (device, mixed precision, DDP on CPU or GPU)."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    cuda = torch.cuda.is_available() and not config.cpu
    precision = config.mixed_precision
    if precision == "auto":
        precision = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "no"
    if precision != "no" and not cuda:
        raise ValueError(f"mixed_precision={precision!r} needs a CUDA GPU; use 'no' on the CPU")
    # Parameters frozen for the first epochs get no gradient: DDP must be told to expect that.
    ddp = DistributedDataParallelKwargs(find_unused_parameters=config.freeze_epochs > 0)
    return Accelerator(cpu=not cuda, mixed_precision=precision, kwargs_handlers=[ddp])


class Learner:
    """Fine-tunes ``model`` on ``train_data`` and validates on ``val_data`` every epoch.

    Args:
        model: A classifier from :func:`actionkit.models.create_model` whose outputs match
            ``train_data.classes`` (use ``num_classes=`` or ``model.reset_classifier``).
        train_data: The training videos (a :class:`~actionkit.data.VideoDataset` in train mode).
        val_data: Validation videos; ``None`` to train without validation.
        config: Training settings; keyword arguments override single fields.
        out_dir: Where checkpoints, ``history.csv`` and the models go; ``None`` keeps nothing
            on disk (no resume).
        progress: Show progress bars (a :class:`~actionkit.train.callbacks.ProgressBar`).
        callbacks: More :class:`~actionkit.train.callbacks.Callback` s to follow training
            (a notebook widget, a logger); they run after the built-in ones.

    Files in ``out_dir``: ``checkpoint.pt`` (after every epoch; what ``fit(resume=True)`` reads),
    ``history.csv``, ``best_model.pt`` (the best validation top-1 so far) and ``model.pt`` (the
    model at the end of :meth:`fit`).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        train_data: VideoDataset,
        val_data: VideoDataset | None = None,
        *,
        config: TrainConfig | None = None,
        out_dir: str | Path | None = None,
        progress: bool = True,
        callbacks: Sequence[Callback] = (),
        **settings: Any,
    ) -> None:
        if len(train_data.classes) < 2:
            raise ValueError(
                f"the training data has {len(train_data.classes)} class "
                f"({', '.join(map(repr, train_data.classes)) or 'none'}): a classifier needs at "
                "least two. Add a class of clips without the action (e.g. 'background')."
            )
        num_classes = getattr(model, "num_classes", None)
        if num_classes is not None and num_classes != len(train_data.classes):
            raise ValueError(
                f"the model has {num_classes} outputs but the data has {len(train_data.classes)} "
                f"classes; create it with num_classes={len(train_data.classes)} "
                "(or call model.reset_classifier)"
            )
        if hasattr(model, "classes"):
            model.classes = list(train_data.classes)
        self.model = model
        self.train_data, self.val_data = train_data, val_data
        config = (config or TrainConfig()).replace(**settings)
        self.accelerator = make_accelerator(config)
        #: The recipe the unset settings came from, and the settings in use.
        self.recipe = getattr(model, "recipe", None)
        self.config = config.resolve(self.recipe, self.accelerator.device.type)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.progress = progress
        self.history: list[dict[str, Any]] = []
        self.best_score: float | None = None
        self.best_epoch: int | None = None
        self._fitted = False
        self.callbacks: list[Callback] = [ProgressBar()] if progress else []
        if self.out_dir is not None:
            self.callbacks.append(CSVHistory(self.out_dir / "history.csv"))
        self.callbacks += list(callbacks)

    # -- paths ---------------------------------------------------------------------------------
    def _path(self, name: str) -> Path | None:
        return None if self.out_dir is None else self.out_dir / name

    @property
    def checkpoint_path(self) -> Path | None:
        return self._path("checkpoint.pt")

    # -- public --------------------------------------------------------------------------------
    def fit(
        self,
        epochs: int | None = None,
        lr: float | None = None,
        *,
        resume: bool = False,
        overwrite: bool = False,
    ) -> list[dict[str, Any]]:
        """Train for ``epochs`` (default ``config.epochs``) at peak learning rate ``lr``.

        Each call is one run with its own warm-up and decay. With ``resume=True`` the run saved
        in ``out_dir/checkpoint.pt`` continues where its last finished epoch left it (same
        settings, same data order); without a checkpoint it starts fresh. Resuming a run that
        has finished with a larger ``epochs`` extends it: the extra epochs train from its last
        state with a warm-up and decay of their own (a warm restart); the history goes on.

        Args:
            epochs: Epochs of this run; with ``resume``, the run's total.
            lr: Peak learning rate (not with ``resume``).
            resume: Continue (or extend) the run saved in ``out_dir``.
            overwrite: Start a new run in an ``out_dir`` that holds another run's files
                (they are replaced); without it that is refused.

        Returns:
            The history: one dict per epoch (``HISTORY_FIELDS``), also in ``out_dir/history.csv``.

        Raises:
            FileExistsError: ``out_dir`` holds an earlier run and neither ``resume`` nor
                ``overwrite`` is set.
            ValueError: ``resume`` with settings that differ from the saved run's.
        """
        ensure_passive_omp()
        self._remove_stale_temp_files()
        if not resume:
            self._check_out_dir(overwrite)
        state = self._resume_state() if resume else None
        changes = {k: v for k, v in (("epochs", epochs), ("lr", lr)) if v is not None}
        if state is None:
            cfg = self.config.replace(**changes)
        else:
            cfg, state = ckpt.resume_config(state, changes)
        self._log_settings(cfg)
        warn_upscaling(self.train_data)
        self._fitted = True
        run = Run(self, cfg, state)
        run.train()
        if self.out_dir is not None and self.accelerator.is_main_process:
            self.save(self._path("model.pt"))
        return self.history

    def _emit(self, event: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, event)(self, *args)

    def evaluate(
        self,
        data: VideoDataset | None = None,
        *,
        num_clips: int = 10,
        three_crop: bool = False,
        batch_size: int | None = None,
    ) -> EvalReport:
        """Video-level evaluation of the current model (default on the validation data)."""
        data = data if data is not None else self.val_data
        if data is None:
            raise ValueError("no data to evaluate: pass a dataset or give the learner val_data")
        return evaluate(
            self.model, data, num_clips=num_clips, three_crop=three_crop,
            batch_size=batch_size or max(1, self.config.batch_size // 2),
            workers=self.config.workers, accelerator=self.accelerator, progress=self.progress,
        )  # fmt: skip

    def save(self, path: str | Path) -> Path:
        """Save the model with its classes, input spec, history and settings (one file)."""
        model = self.accelerator.unwrap_model(self.model)
        extra = {"history": self.history, "config": self.config.to_dict()}
        if self.recipe is not None:
            extra["recipe"] = self.recipe.to_dict()
        return save_model(model, path, extra=extra)

    def load_best(self) -> None:
        """Put the weights of the best validated epoch back into the model."""
        path = self._path("best_model.pt")
        if path is None or not path.exists():
            raise FileNotFoundError(f"no best model saved yet (looked for {path})")
        state = read_model_file(path)["state_dict"]
        self.accelerator.unwrap_model(self.model).load_state_dict(state)

    # -- internals -----------------------------------------------------------------------------
    @property
    def _quiet_level(self) -> int:
        """Log level of the lines a :class:`ProgressBar` already shows (no line twice)."""
        shown = any(isinstance(c, ProgressBar) for c in self.callbacks)
        return logging.DEBUG if shown else logging.INFO

    def _log_settings(self, cfg: TrainConfig) -> None:
        text = cfg.explain(self.recipe)
        log.log(self._quiet_level, "%s", text)
        self._emit("on_message", text)

    def _check_out_dir(self, overwrite: bool) -> None:
        """Refuse to start a new run over another run's files (this learner's own are fine)."""
        if self.out_dir is None or self._fitted:
            return
        found = existing_run_files(self.out_dir)
        if not found:
            return
        if not overwrite:
            raise FileExistsError(
                f"{self.out_dir} already holds a training run ({', '.join(found)}): continue it "
                "with resume=True (--resume), replace it with overwrite=True (--overwrite), or "
                "choose another folder"
            )
        if self.accelerator.is_main_process:
            log.info("overwriting the run in %s", self.out_dir)
            for name in found:
                (self.out_dir / name).unlink(missing_ok=True)
        self.accelerator.wait_for_everyone()

    def _resume_state(self) -> dict[str, Any] | None:
        path = self.checkpoint_path
        if path is None:
            raise ValueError("resume=True needs the learner's out_dir (where checkpoints are)")
        if not path.exists():
            log.info("no checkpoint at %s: starting a new run", path)
            return None
        return ckpt.load_checkpoint(path)

    def _remove_stale_temp_files(self) -> None:
        """Temporary files a killed save left behind (the files they were for are intact)."""
        if self.out_dir is None or not self.accelerator.is_main_process:
            return
        for name in ("checkpoint.pt", "history.csv", "best_model.pt", "model.pt"):
            for stale in self.out_dir.glob(f".{name}.*.tmp"):
                log.info("removing %s, left by an interrupted save", stale)
                stale.unlink(missing_ok=True)
