"""The optimizer and learning-rate schedule a :class:`~actionkit.train.config.TrainConfig` asks for.

The :class:`~actionkit.train.learner.Learner` uses these; they are public for a hand-written loop.
"""

from __future__ import annotations

import math

import torch

from actionkit.train.config import TrainConfig

__all__ = ["make_optimizer", "make_scheduler"]


def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD or AdamW over ``model``'s trainable parameters.

    An actionkit model gives its own parameter groups (backbone at ``lr * backbone_lr_mult``,
    no weight decay on biases and norms); any other module trains as one group. Settings left
    unset in ``config`` come from the model's recipe.
    """
    if not config.resolved:
        config = config.resolve(getattr(model, "recipe", None))
    if hasattr(model, "param_groups"):
        groups = model.param_groups(config.lr, config.backbone_lr_mult, config.weight_decay)
    else:
        params = [p for p in model.parameters() if p.requires_grad]
        groups = [{"params": params, "lr": config.lr, "weight_decay": config.weight_decay}]
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr)
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """The schedule over ``steps`` optimizer steps, stepped once per optimizer step.

    Every group peaks at the learning rate it was given (so the backbone keeps its lower rate).
    Unset settings in ``config`` come from the default (R(2+1)D IG-65M) recipe.
    """
    if not config.resolved:
        config = config.resolve()
    steps = max(1, steps)
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=[g["lr"] for g in optimizer.param_groups], total_steps=steps,
            pct_start=max(config.warmup, 1e-3), cycle_momentum=False,
        )  # fmt: skip
    warm = int(config.warmup * steps)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if config.schedule == "constant":
            return 1.0
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
