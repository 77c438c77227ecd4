"""Training settings in one dataclass, with defaults from the published fine-tuning recipes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["OPTIMIZERS", "PRECISIONS", "SCHEDULES", "TrainConfig"]

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("onecycle", "cosine", "constant")
PRECISIONS = ("auto", "no", "bf16", "fp16")


@dataclass
class TrainConfig:
    """How to fine-tune. Defaults follow the R(2+1)D IG-65M transfer recipe (SGD, momentum,
    one-cycle with 30 % warm-up, lower learning rate on the pretrained backbone).

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
        channels_last: Use the channels-last memory format (faster convolutions on GPUs).
        workers: DataLoader worker processes.
        val_every: Validate every this many epochs (the last epoch always validates).
        early_stopping: Stop after this many validations without improvement; ``None``: never.
        seed: Seeds weights of new heads, data order and augmentation.
        cpu: Train on the CPU even when a GPU is there.
    """

    epochs: int = 10
    lr: float = 1e-3
    backbone_lr_mult: float = 0.1
    optimizer: str = "sgd"
    momentum: float = 0.95
    weight_decay: float = 1e-4
    schedule: str = "onecycle"
    warmup: float = 0.3
    batch_size: int = 8
    accumulate: int = 1
    label_smoothing: float = 0.0
    clip_grad_norm: float | None = None
    freeze_epochs: int = 0
    mixed_precision: str = "auto"
    channels_last: bool = False
    workers: int = 2
    val_every: int = 1
    early_stopping: int | None = None
    seed: int = 0
    cpu: bool = False

    def __post_init__(self) -> None:
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("mixed_precision", self.mixed_precision, PRECISIONS)
        for name in ("epochs", "batch_size", "accumulate", "val_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must be at least 1")
        if not self.lr > 0:
            raise ValueError(f"lr={self.lr!r} must be positive")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup={self.warmup!r} must be in [0, 1)")
        if self.freeze_epochs < 0 or self.workers < 0:
            raise ValueError(
                f"freeze_epochs={self.freeze_epochs!r} and workers={self.workers!r} must be >= 0"
            )
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing={self.label_smoothing!r} must be in [0, 1)")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum={self.momentum!r} must be in [0, 1)")
        for name in ("backbone_lr_mult", "weight_decay"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be >= 0")
        if self.clip_grad_norm is not None and not self.clip_grad_norm > 0:
            raise ValueError(f"clip_grad_norm={self.clip_grad_norm!r} must be positive or None")
        if self.early_stopping is not None and self.early_stopping < 1:
            raise ValueError(f"early_stopping={self.early_stopping!r} must be at least 1 or None")

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


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(choices)}")
