"""One call of :meth:`Learner.fit <actionkit.train.learner.Learner.fit>`: the prepared
objects (loader, optimizer, schedule) and the epoch loop, with validation and checkpoints."""

from __future__ import annotations

import contextlib
import logging
import math
import time
from typing import Any

import torch

from actionkit.data import VideoDataset
from actionkit.evaluation.evaluate import eval_dataset, score_videos
from actionkit.evaluation.metrics import compute_report
from actionkit.models.base import uses_segments
from actionkit.train import checkpoint as ckpt
from actionkit.train.callbacks import epoch_line
from actionkit.train.config import TrainConfig
from actionkit.train.optim import make_optimizer, make_scheduler
from actionkit.video import VideoReadError, open_video

log = logging.getLogger("actionkit.train.learner")

__all__ = ["Run", "warn_upscaling"]

Learner = Any  # the learner imports this module, not the other way round


class Run:
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
        #: Epochs of the learner's history from earlier runs this one extends.
        self.epochs_before = len(learner.history) if state is None else 0
        if state is not None:
            self._restore(state)

    def _restore(self, state: dict[str, Any]) -> None:
        learner, extend = self.learner, state.get("extend", False)
        self.acc.unwrap_model(self.model).load_state_dict(state["model"])
        self.optimizer.optimizer.load_state_dict(state["optimizer"])
        if not extend:  # an extension warms up and decays again over its own epochs
            self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler") is not None and self.acc.scaler is not None:
            self.acc.scaler.load_state_dict(state["scaler"])
        self.generator.set_state(state["generator"])
        ckpt.set_rng_state(state["rng"])
        learner.history = list(state["history"])
        learner.best_score, learner.best_epoch = state["best_score"], state["best_epoch"]
        where = learner.checkpoint_path
        if extend:
            self.epochs_before = len(learner.history)
            log.info("extending the finished %d-epoch run in %s by %d epochs (a new warm-up and "
                     "decay)", self.epochs_before, where, self.cfg.epochs)  # fmt: skip
            return
        self.epochs_before = state.get("epochs_before", 0)
        self.start_epoch, self.bad_validations = state["fit_epoch"], state["bad_validations"]
        total = self.epochs_before + self.cfg.epochs
        if state.get("finished", self.start_epoch >= self.cfg.epochs):
            self.start_epoch = self.cfg.epochs
            log.info("the run in %s has finished (%d epochs): nothing to train; give more "
                     "epochs to extend it", where, len(learner.history))  # fmt: skip
        else:
            log.info("resuming at epoch %d of %d from %s", len(learner.history) + 1, total,
                     where)  # fmt: skip

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
            self._checkpoint(fit_epoch + 1, finished=last or stop)
            learner._emit("on_epoch_end", row)
            log.log(learner._quiet_level, "%s", epoch_line(row))
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

    def _checkpoint(self, fit_epoch: int, finished: bool) -> None:
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
                "epochs_before": self.epochs_before,
                "finished": finished,
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


def warn_upscaling(data: VideoDataset, probe: int = 3) -> None:
    """Warn when the videos are much smaller than the frames the model is fed (upscaled)."""
    sides = []
    for sample in data.samples[:probe]:
        try:
            with open_video(sample.path) as reader:
                sides.append(min(reader.info.width, reader.info.height))
        except VideoReadError:
            continue  # the dataset skips and counts unreadable videos itself
    want = data.spec.resize
    if sides and min(sides) * 1.25 < want:
        log.warning(
            "the videos are %d px on the short side (e.g. %s) but the model's input is resized "
            "to %d px: frames are upscaled %.1fx, which costs decoding time and adds no detail. "
            "Prepare the videos at --short-side %d, or use a model with a smaller input (the "
            "README's table says which short side suits which model).",
            min(sides), data.samples[0].path, want, want / min(sides), want,
        )  # fmt: skip


def _frozen_prefix(model: torch.nn.Module) -> str | None:
    """The last stage the user froze before training (stages freeze as a prefix)."""
    frozen = getattr(model, "_frozen", set())
    names = [n for n in getattr(model, "stage_names", list)() if n in frozen]
    return names[-1] if names else None
