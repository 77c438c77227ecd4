"""The fine-tuning surface every actionkit model shares (timm-style)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from actionkit.spec import InputSpec


class VideoClassifier(nn.Module):
    """Base class: a backbone made of named stages, then a classifier head.

    Subclasses set ``arch``, ``input_spec`` and ``classes``, and implement
    :meth:`stages`, :meth:`forward_features`, :meth:`forward_head`, :meth:`get_classifier`
    and :meth:`reset_classifier`. ``forward(x) == forward_head(forward_features(x))``.
    """

    arch: str = ""
    input_spec: InputSpec = InputSpec()
    classes: list[str] | None = None

    def __init__(self) -> None:
        super().__init__()
        self._frozen: set[str] = set()

    # -- to implement -------------------------------------------------------------------------
    def stages(self) -> list[tuple[str, nn.Module]]:
        """Backbone stages in input-to-output order, as ``(name, module)`` pairs."""
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone output pooled to one feature vector per sample: ``(B, num_features)``."""
        raise NotImplementedError

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Classifier (with its dropout); ``pre_logits=True`` returns the features it would see."""
        raise NotImplementedError

    def get_classifier(self) -> nn.Module:
        """The final layer mapping features to class scores."""
        raise NotImplementedError

    def reset_classifier(self, num_classes: int, classes: list[str] | None = None) -> None:
        """Replace the classifier with a freshly initialised one for ``num_classes`` classes."""
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    @property
    def num_classes(self) -> int:
        return self.get_classifier().out_features

    def stage_names(self) -> list[str]:
        return [name for name, _ in self.stages()]

    def _check_stage(self, name: str) -> None:
        if name not in self.stage_names():
            raise ValueError(f"stage {name!r} does not exist; choose one of {self.stage_names()}")

    def freeze_backbone(self, until: str | None = None) -> None:
        """Stop training the backbone, or only its stages up to and including ``until``.

        Frozen stages also keep their BatchNorm statistics fixed (they stay in eval mode).
        """
        if until is not None:
            self._check_stage(until)
        for name, module in self.stages():
            module.requires_grad_(False)
            self._frozen.add(name)
            if name == until:
                break
        self.train(self.training)

    def unfreeze(self) -> None:
        """Make every parameter trainable again."""
        self.requires_grad_(True)
        self._frozen.clear()
        self.train(self.training)

    def train(self, mode: bool = True) -> VideoClassifier:
        super().train(mode)
        for name, module in self.stages():
            if name in self._frozen:
                module.eval()
        return self

    def _head_param_ids(self) -> set[int]:
        return {id(p) for p in self.get_classifier().parameters()}

    def backbone_parameters(self) -> Iterator[nn.Parameter]:
        head = self._head_param_ids()
        return (p for p in self.parameters() if id(p) not in head)

    def param_groups(
        self, lr: float, backbone_lr_mult: float = 0.1, weight_decay: float = 1e-4
    ) -> list[dict]:
        """Optimizer parameter groups: lower learning rate for the backbone, none for frozen parts.

        Biases and normalization weights (1-D tensors) get no weight decay.
        """
        head = self._head_param_ids()
        groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
        for p in self.parameters():
            if p.requires_grad:
                groups.setdefault((id(p) in head, p.ndim <= 1), []).append(p)
        out = []
        for (is_head, no_decay), params in sorted(groups.items()):
            out.append(
                {
                    "params": params,
                    "lr": lr if is_head else lr * backbone_lr_mult,
                    "weight_decay": 0.0 if no_decay else weight_decay,
                    "name": ("head" if is_head else "backbone") + ("_no_decay" if no_decay else ""),
                }
            )
        return out
