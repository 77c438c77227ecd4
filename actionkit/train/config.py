"""Training settings in one dataclass; what is left unset comes from the model's recipe."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from actionkit.recipe import IG65M_RECIPE, RECIPE_FIELDS, Recipe

__all__ = [
    "OPTIMIZERS",
    "PRECISIONS",
    "RUN_FILES",
    "SCHEDULES",
    "TrainConfig",
    "existing_run_files",
]

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("onecycle", "cosine", "constant")
PRECISIONS = ("auto", "no", "bf16", "fp16")

#: What a training run leaves in its folder (``--overwrite`` replaces these).
RUN_FILES = (
    "checkpoint.pt", "model.pt", "best_model.pt", "history.csv", "report.json", "report.txt",
    "confusion.png", "curves.png",
)  # fmt: skip


def existing_run_files(out_dir: str | os.PathLike) -> list[str]:
    """The :data:`RUN_FILES` already in ``out_dir`` (an earlier run's)."""
    return [name for name in RUN_FILES if (Path(out_dir) / name).exists()]


@dataclass
class TrainConfig:
    """How to fine-tune.

    The optimizer settings (``optimizer``, ``lr``, ``backbone_lr_mult``, ``momentum``,
    ``weight_decay``, ``schedule``, ``warmup``, ``batch_size``, ``channels_last``) default to
    ``None``: "the model's recipe" (:attr:`VideoClassifier.recipe
    <actionkit.models.base.VideoClassifier.recipe>`), filled in by :meth:`resolve` when a
    :class:`~actionkit.train.learner.Learner` starts. Set any of them to override the recipe.

    Attributes:
        epochs: Passes over the training set.
        lr: Peak learning rate of the classifier head.
        backbone_lr_mult: The pretrained backbone trains at ``lr * backbone_lr_mult``.
        optimizer: ``"sgd"`` (with ``momentum``, Nesterov off) or ``"adamw"``.
        momentum: SGD momentum.
        weight_decay: Decoupled for AdamW, L2 for SGD; never applied to biases and norms.
        schedule: ``"onecycle"`` (warm up to ``lr``, cosine down), ``"cosine"`` (linear warm-up
            then cosine to zero) or ``"constant"`` (after the warm-up).
        warmup: Fraction of all optimizer steps spent warming up.
        batch_size: Clips per batch on each device.
        accumulate: Batches whose gradients are summed before one optimizer step (an effective
            batch of ``batch_size * accumulate * devices``).
        label_smoothing: Cross-entropy label smoothing.
        clip_grad_norm: Clip the gradient norm to this value; ``None`` for no clipping.
        freeze_epochs: Train only the classifier for this many first epochs.
        mixed_precision: ``"auto"`` (bf16 on a CUDA GPU that has it, fp16 on older GPUs, fp32 on
            CPU), ``"no"``, ``"bf16"`` or ``"fp16"``.
        channels_last: Use the channels-last memory format; ``None``: where the recipe measured
            it faster.
        workers: DataLoader worker processes.
        val_every: Validate every this many epochs (the last epoch always validates).
        early_stopping: Stop after this many validations without improvement; ``None``: never.
        seed: Seeds weights of new heads, data order and augmentation.
        cpu: Train on the CPU even when a GPU is there.
    """

    epochs: int = 10
    lr: float | None = None
    backbone_lr_mult: float | None = None
    optimizer: str | None = None
    momentum: float | None = None
    weight_decay: float | None = None
    schedule: str | None = None
    warmup: float | None = None
    batch_size: int | None = None
    accumulate: int = 1
    label_smoothing: float = 0.0
    clip_grad_norm: float | None = None
    freeze_epochs: int = 0
    mixed_precision: str = "auto"
    channels_last: bool | None = None
    workers: int = 2
    val_every: int = 1
    early_stopping: int | None = None
    seed: int = 0
    cpu: bool = False

    def __post_init__(self) -> None:
        for name, choices in (
            ("optimizer", OPTIMIZERS),
            ("schedule", SCHEDULES),
            ("mixed_precision", PRECISIONS),
        ):
            value = getattr(self, name)
            if value is not None and value not in choices:
                raise ValueError(f"{name}={value!r} is not one of {', '.join(choices)}")
        for name in ("epochs", "batch_size", "accumulate", "val_every"):
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                raise ValueError(f"{name}={value!r} must be at least 1")
        checks = (
            ("lr", lambda v: v > 0, "must be positive"),
            ("warmup", lambda v: 0 <= v < 1, "must be in [0, 1)"),
            ("freeze_epochs", lambda v: v >= 0, "must be >= 0"),
            ("workers", lambda v: v >= 0, "must be >= 0"),
            ("label_smoothing", lambda v: 0 <= v < 1, "must be in [0, 1)"),
            ("momentum", lambda v: 0 <= v < 1, "must be in [0, 1)"),
            ("backbone_lr_mult", lambda v: v >= 0, "must be >= 0"),
            ("weight_decay", lambda v: v >= 0, "must be >= 0"),
            ("clip_grad_norm", lambda v: v > 0, "must be positive or None"),
            ("early_stopping", lambda v: v >= 1, "must be at least 1 or None"),
        )
        for name, ok, rule in checks:
            value = getattr(self, name)
            if value is not None and not ok(value):
                raise ValueError(f"{name}={value!r} {rule}")

    @property
    def resolved(self) -> bool:
        """Whether every setting has a value (no ``None`` left for a recipe to fill)."""
        return all(getattr(self, name) is not None for name in (*RECIPE_FIELDS, "channels_last"))

    def resolve(self, recipe: Recipe | None = None, device_type: str = "cpu") -> TrainConfig:
        """A copy with every unset setting taken from ``recipe`` (default: the R(2+1)D IG-65M
        one) for training on ``device_type``; settings already given are kept."""
        values = (recipe or IG65M_RECIPE).settings(device_type)
        return self.replace(
            **{name: value for name, value in values.items() if getattr(self, name) is None}
        )

    def explain(self, recipe: Recipe | None = None) -> str:
        """One line of the settings in use, naming the recipe the unset ones came from."""
        shown = (
            "optimizer", "lr", "backbone_lr_mult", "weight_decay", "schedule", "warmup",
            "batch_size", "accumulate", "epochs", "channels_last", "mixed_precision",
        )  # fmt: skip
        parts = [f"{name}={getattr(self, name)}" for name in shown]
        origin = f" (unset ones from the {recipe.name} recipe)" if recipe is not None else ""
        return "settings: " + " ".join(parts) + origin

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training settings {unknown}; valid ones: {sorted(known)}")
        return cls(**data)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some settings changed (unknown names raise ``ValueError``)."""
        return TrainConfig.from_dict({**self.to_dict(), **changes})
