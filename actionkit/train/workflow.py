"""The whole job in one call: data in, fine-tuned model, evaluation report and figures out.

:func:`train_and_evaluate` is what ``actionkit train`` and ``actionkit demo`` run, and what a
notebook calls when it does not need the individual steps.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from actionkit.data import VideoDataset
from actionkit.evaluation.report import EvalReport
from actionkit.models import VideoClassifier, create_model, model_options, uses_segments
from actionkit.train.config import TrainConfig
from actionkit.train.history import plot_history
from actionkit.train.learner import Learner
from actionkit.utils.atomic import save_figure, write_text

log = logging.getLogger(__name__)

__all__ = ["RunResult", "build_model", "load_dataset", "train_and_evaluate", "write_report"]


def load_dataset(
    data: str | os.PathLike, *, classes: list[str] | None = None, **options
) -> VideoDataset:
    """A dataset folder (``DATA/<class>/<video>``) or a list / CSV file (``path label`` lines).

    Raises:
        FileNotFoundError: ``data`` does not exist.
    """
    path = Path(data)
    if path.is_dir():
        return VideoDataset.from_folder(path, classes=classes, **options)
    if path.is_file():
        return VideoDataset.from_list(path, classes=classes, **options)
    raise FileNotFoundError(f"no dataset folder or list file at {path}")


def build_model(
    name: str,
    num_classes: int,
    *,
    pretrained: bool = True,
    weights: str | os.PathLike | None = None,
    clip_len: int | None = None,
    segments: int | None = None,
    crop_size: int | None = None,
    seed: int | None = 0,
) -> VideoClassifier:
    """A model to fine-tune: ``create_model`` with a new head, and the input size changed.

    Args:
        name: A name from :func:`~actionkit.models.list_models`.
        num_classes: Classes of the new head.
        pretrained: Start from the published weights.
        weights: A checkpoint of this architecture (path or URL) to start from instead; its
            head is replaced when its classes differ.
        clip_len: Frames per clip (3D models); default: the model's own.
        segments: TSN segments per video (TSN/TSM); default: the model's own (8).
        crop_size: Side of the square crop; frames are resized to ``crop_size * 8 / 7`` first.
        seed: Seeds the new head's initial weights (``None``: not seeded).

    Raises:
        ValueError: ``segments`` for a model that reads clips, or ``clip_len`` for one that
            reads segments (one frame each).
    """
    if segments is not None and "num_segments" not in model_options(name):
        raise ValueError(
            f"segments={segments!r}: {name} reads clips, not TSN segments; set clip_len instead"
        )
    if seed is not None:
        torch.manual_seed(seed)
    extra = {"num_segments": segments} if segments is not None else {}
    model = create_model(
        name, num_classes=num_classes, pretrained=pretrained, weights=weights, **extra
    )
    spec = model.input_spec
    if clip_len is not None:
        if uses_segments(model):
            raise ValueError(
                f"clip_len={clip_len!r}: {name} reads one frame per TSN segment; set segments "
                "instead"
            )
        spec = spec.replace(clip_len=clip_len)
    if crop_size:
        spec = spec.replace(crop_size=crop_size, resize=round(crop_size * 8 / 7))
    model.input_spec = spec
    return model


@dataclass
class RunResult:
    """What :func:`train_and_evaluate` made."""

    out_dir: Path
    model_path: Path
    report: EvalReport
    history: list[dict] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        """A few lines for the terminal: accuracy and where the files are."""
        r = self.report
        top5 = "" if r.topk_label is None else f"{r.topk_label} {r.top5:.1%}  "
        lines = [
            f"held-out videos: {r.num_videos}  top-1 {r.top1:.1%}  {top5}"
            f"mean class accuracy {r.mean_class_accuracy:.1%}",
            f"time: {self.seconds:.0f} s",
        ]
        lines += [f"{name}: {path}" for name, path in self.files.items()]
        return "\n".join(lines)


def train_and_evaluate(
    model,
    data: str | os.PathLike | VideoDataset,
    out_dir: str | os.PathLike,
    *,
    val: str | os.PathLike | VideoDataset | None = None,
    val_fraction: float = 0.2,
    config: TrainConfig | None = None,
    eval_clips: int = 10,
    flip: bool = True,
    crop: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> RunResult:
    """Fine-tune ``model`` on ``data``, evaluate it on the held-out videos, save everything.

    Args:
        model: A model from :func:`~actionkit.models.create_model` with one output per class.
        data: Training videos: a folder, a list file or a dataset.
        out_dir: Run folder: ``model.pt``, ``checkpoint.pt``, ``history.csv``, ``report.json``,
            ``report.txt``, ``confusion.png``, ``curves.png``.
        val: Held-out videos; default: a seeded stratified ``val_fraction`` of ``data``.
        val_fraction: Share of ``data`` held out when ``val`` is not given.
        config: Training settings.
        eval_clips: Clips per video in the final evaluation.
        flip: Random horizontal flips in training (turn off when left and right differ).
        crop: Training crop (``"random_resized"``, ``"multiscale"``, ``"random"``); default:
            the model family's usual one.
        resume: Continue the run saved in ``out_dir`` with its saved settings; a ``config``
            given with it only sets the run's total ``epochs`` (more than a finished run's
            extends it).
        overwrite: Replace another run's files in ``out_dir`` (without it, or ``resume``, a
            folder holding a run is refused).
        progress: Show progress bars and a line per epoch.

    Raises:
        FileExistsError: ``out_dir`` holds a run and neither ``resume`` nor ``overwrite``.
        ValueError: one class only, or a split that leaves no validation video.
    """
    start = time.perf_counter()
    epochs = config.epochs if resume and config is not None else None
    config = config or TrainConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train_data, val_data = _split(model, data, val, val_fraction, config.seed, flip, crop)
    log.info("training on %d videos, validating on %d (%d classes)",
             len(train_data), len(val_data), len(train_data.classes))  # fmt: skip
    learner = Learner(model, train_data, val_data, config=config, out_dir=out_dir,
                      progress=progress)  # fmt: skip
    learner.fit(epochs, resume=resume, overwrite=overwrite)
    report = learner.evaluate(val_data, num_clips=eval_clips)
    files = {"model": out_dir / "model.pt"}
    if learner.accelerator.is_main_process:
        files.update(write_report(report, out_dir, learner.history))
    return RunResult(
        out_dir, out_dir / "model.pt", report, learner.history, files,
        time.perf_counter() - start,
    )  # fmt: skip


def _split(model, data, val, val_fraction, seed, flip, crop):
    spec = model.input_spec
    options = {"spec": spec, "flip": flip}
    if crop is not None:
        options["crop"] = crop
    full = data if isinstance(data, VideoDataset) else load_dataset(data, **options)
    if val is None:
        return full.split(val_fraction=val_fraction, seed=seed)
    if not isinstance(val, VideoDataset):
        val = load_dataset(val, classes=full.classes, spec=spec, train=False)
    return full, val


def write_report(
    report: EvalReport, out_dir: str | os.PathLike, history: list[dict] | None = None
) -> dict[str, Path]:
    """Write ``report.json``, ``report.txt``, ``confusion.png`` and, given a training history,
    ``curves.png`` to ``out_dir`` (each atomically); returns what was written, by name.

    The figures are closed once written (a notebook does not show them again).
    """
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    files = {
        "report": report.save(out_dir / "report.json"),
        "report table": write_text(out_dir / "report.txt", str(report) + "\n"),
    }
    figures = {"confusion matrix": (report.plot_confusion, "confusion.png")}
    if history:
        figures["training curves"] = (lambda: plot_history(history), "curves.png")
    for name, (draw, filename) in figures.items():
        fig = draw()
        files[name] = save_figure(fig, out_dir / filename, bbox_inches="tight")
        plt.close(fig)
    return files
