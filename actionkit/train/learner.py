"""Learner: fine-tune a video model on a VideoDataset, validate, checkpoint, resume.

One plain training loop on Hugging Face Accelerate: the same code runs on a CPU, on one GPU with
bf16/fp16 mixed precision, and on several GPUs or machines (DDP) when started with
``accelerate launch`` / ``torchrun`` or from a notebook with ``accelerate.notebook_launcher``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from actionkit.data import VideoDataset
from actionkit.evaluation.evaluate import eval_dataset, evaluate, score_videos
from actionkit.evaluation.metrics import compute_report
from actionkit.evaluation.report import EvalReport
from actionkit.models.base import uses_segments
from actionkit.models.io import read_model_file, save_model
from actionkit.train import checkpoint as ckpt
from actionkit.train.callbacks import Callback, CSVHistory, ProgressBar
from actionkit.train.config import TrainConfig
from actionkit.train.history import HISTORY_FIELDS
from actionkit.train.optim import make_optimizer, make_scheduler

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
        self.config = (config or TrainConfig()).replace(**settings)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.progress = progress
        self.history: list[dict[str, Any]] = []
        self.best_score: float | None = None
        self.best_epoch: int | None = None
        self.accelerator = make_accelerator(self.config)
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
        self, epochs: int | None = None, lr: float | None = None, *, resume: bool = False
    ) -> list[dict[str, Any]]:
        """Train for ``epochs`` (default ``config.epochs``) at peak learning rate ``lr``.

        Each call is one run with its own warm-up and decay. With ``resume=True`` the run saved
        in ``out_dir/checkpoint.pt`` continues where its last finished epoch left it (same
        settings, same data order); without a checkpoint it starts fresh.

        Returns:
            The history: one dict per epoch (``HISTORY_FIELDS``), also in ``out_dir/history.csv``.
        """
        self._remove_stale_temp_files()
        state = self._resume_state() if resume else None
        changes = {k: v for k, v in (("epochs", epochs), ("lr", lr)) if v is not None}
        cfg = TrainConfig.from_dict(state["config"]) if state else self.config.replace(**changes)
        if state and changes and any(getattr(cfg, k) != v for k, v in changes.items()):
            raise ValueError(
                f"resume continues the saved run ({cfg.epochs} epochs, lr {cfg.lr}); "
                f"{changes} differ from it: drop them or start a new run without resume"
            )
        run = _Run(self, cfg, state)
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
        return save_model(model, path, extra=extra)

    def load_best(self) -> None:
        """Put the weights of the best validated epoch back into the model."""
        path = self._path("best_model.pt")
        if path is None or not path.exists():
            raise FileNotFoundError(f"no best model saved yet (looked for {path})")
        state = read_model_file(path)["state_dict"]
        self.accelerator.unwrap_model(self.model).load_state_dict(state)

    # -- internals -----------------------------------------------------------------------------
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


class _Run:
    """One call of :meth:`Learner.fit`: the prepared objects and the epoch loop."""

    def __init__(self, learner: Learner, cfg: TrainConfig, state: dict[str, Any] | None):
        self.learner, self.cfg, self.acc = learner, cfg, learner.accelerator
        if state is None:
            torch.manual_seed(cfg.seed)
        raw = learner.model
        self.segments = uses_segments(raw)
        if cfg.channels_last:
            fmt = torch.channels_last if self.segments else torch.channels_last_3d
            raw = raw.to(memory_format=fmt)
        self.user_frozen = _frozen_prefix(raw)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        loader = torch.utils.data.DataLoader(
            learner.train_data, batch_size=cfg.batch_size, shuffle=True,
            num_workers=cfg.workers, generator=self.generator,
            drop_last=len(learner.train_data) >= cfg.batch_size * self.acc.num_processes,
            pin_memory=self.acc.device.type == "cuda",
        )  # fmt: skip
        optimizer = make_optimizer(raw, cfg)
        self.model, self.optimizer, self.loader = self.acc.prepare(raw, optimizer, loader)
        steps = math.ceil(len(self.loader) / cfg.accumulate) * cfg.epochs
        self.scheduler = make_scheduler(self.optimizer.optimizer, cfg, steps)
        self.criterion = torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        self.start_epoch, self.bad_validations = 0, 0
        if state is not None:
            self._restore(state)

    def _restore(self, state: dict[str, Any]) -> None:
        learner = self.learner
        self.acc.unwrap_model(self.model).load_state_dict(state["model"])
        self.optimizer.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler") is not None and self.acc.scaler is not None:
            self.acc.scaler.load_state_dict(state["scaler"])
        self.generator.set_state(state["generator"])
        ckpt.set_rng_state(state["rng"])
        learner.history = list(state["history"])
        learner.best_score, learner.best_epoch = state["best_score"], state["best_epoch"]
        self.start_epoch, self.bad_validations = state["fit_epoch"], state["bad_validations"]
        log.info("resuming at epoch %d of %d from %s", self.start_epoch + 1, self.cfg.epochs,
                 learner.checkpoint_path)  # fmt: skip

    def train(self) -> None:
        cfg, learner = self.cfg, self.learner
        learner._emit("on_fit_start", cfg.epochs - self.start_epoch)
        for fit_epoch in range(self.start_epoch, cfg.epochs):
            self._freeze(fit_epoch < cfg.freeze_epochs)
            start = time.perf_counter()
            row: dict[str, Any] = {"epoch": len(learner.history) + 1}
            learner._emit("on_epoch_start", row["epoch"], len(self.loader))
            row.update(self._train_epoch())
            last = fit_epoch + 1 == cfg.epochs
            if learner.val_data is not None and ((fit_epoch + 1) % cfg.val_every == 0 or last):
                row.update(self._validate())
            row["seconds"] = round(time.perf_counter() - start, 3)
            learner.history.append(row)
            stop = self._track_best(row)
            self._checkpoint(fit_epoch + 1)
            learner._emit("on_epoch_end", row)
            values = ", ".join(f"{k} {_fmt(v)}" for k, v in row.items() if k != "epoch")
            log.info("epoch %d: %s", row["epoch"], values)
            if stop:
                log.info("early stopping: no improvement in %d validations", cfg.early_stopping)
                break
        self._freeze(False)
        learner._emit("on_fit_end")

    def _freeze(self, head_only: bool) -> None:
        model = self.acc.unwrap_model(self.model)
        if not hasattr(model, "freeze_backbone"):
            return
        model.unfreeze()
        if head_only:
            model.freeze_backbone()
        elif self.user_frozen is not None:
            model.freeze_backbone(until=self.user_frozen)

    def _train_epoch(self) -> dict[str, float]:
        acc, cfg, model = self.acc, self.cfg, self.model
        model.train()
        totals = torch.zeros(3, dtype=torch.float64, device=acc.device)
        for i, batch in enumerate(self.loader):
            video, labels = batch["video"], batch["label"]
            if cfg.channels_last and not self.segments:
                video = video.contiguous(memory_format=torch.channels_last_3d)
            step = (i + 1) % cfg.accumulate == 0 or i + 1 == len(self.loader)
            with contextlib.nullcontext() if step else acc.no_sync(model):
                with acc.autocast():
                    logits = model(video)
                loss = self.criterion(logits.float(), labels)
                acc.backward(loss / cfg.accumulate)
            if step:
                if cfg.clip_grad_norm is not None:
                    acc.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
            n = len(labels)
            correct = (logits.argmax(-1) == labels).sum()
            totals += torch.stack(
                [loss.detach().double() * n, correct.double(), totals.new_tensor(n)]
            )
            self.learner._emit("on_batch_end", i, loss.item(), self._lr())
        loss_sum, correct, count = acc.reduce(totals, reduction="sum").tolist()
        return {"train_loss": loss_sum / count, "train_acc": correct / count, "lr": self._lr()}

    def _lr(self) -> float:
        return max(group["lr"] for group in self.optimizer.param_groups)

    def _validate(self) -> dict[str, float]:
        learner = self.learner
        data = eval_dataset(
            learner.val_data, learner.val_data.num_clips, learner.val_data.three_crop
        )
        scores = score_videos(
            self.model, data, batch_size=self.cfg.batch_size, workers=self.cfg.workers,
            accelerator=self.acc, progress=learner.progress, channels_last=self.cfg.channels_last,
        )  # fmt: skip
        report = compute_report(scores.video_scores, scores.labels, data.classes)
        return {
            "val_loss": scores.loss(),
            "val_top1": report.top1,
            "val_top5": report.top5,
            "val_mean_class_acc": report.mean_class_accuracy,
        }

    def _track_best(self, row: dict[str, Any]) -> bool:
        """Remember the best epoch (saving its model); True when early stopping says stop."""
        learner, cfg = self.learner, self.cfg
        if "val_top1" not in row:
            return False
        if learner.best_score is None or row["val_top1"] > learner.best_score:
            learner.best_score, learner.best_epoch = row["val_top1"], row["epoch"]
            self.bad_validations = 0
            if learner.out_dir is not None and self.acc.is_main_process:
                learner.save(learner._path("best_model.pt"))
            return False
        self.bad_validations += 1
        return cfg.early_stopping is not None and self.bad_validations >= cfg.early_stopping

    def _checkpoint(self, fit_epoch: int) -> None:
        learner, acc = self.learner, self.acc
        if learner.out_dir is None:
            return
        if acc.is_main_process:
            model = acc.unwrap_model(self.model)
            state = {
                "format": ckpt.FORMAT,
                "version": 1,
                "arch": getattr(model, "arch", type(model).__name__),
                "classes": list(learner.train_data.classes),
                "config": self.cfg.to_dict(),
                "fit_epoch": fit_epoch,
                "history": learner.history,
                "best_score": learner.best_score,
                "best_epoch": learner.best_epoch,
                "bad_validations": self.bad_validations,
                "model": model.state_dict(),
                "optimizer": self.optimizer.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": acc.scaler.state_dict() if acc.scaler is not None else None,
                "generator": self.generator.get_state(),
                "rng": ckpt.get_rng_state(),
            }
            ckpt.atomic_save(state, learner.checkpoint_path)
        acc.wait_for_everyone()


def _frozen_prefix(model: torch.nn.Module) -> str | None:
    """The last stage the user froze before training (stages freeze as a prefix)."""
    frozen = getattr(model, "_frozen", set())
    names = [n for n in getattr(model, "stage_names", list)() if n in frozen]
    return names[-1] if names else None


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
