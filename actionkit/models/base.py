"""The fine-tuning surface every actionkit model shares (timm-style)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import nn

from actionkit.recipe import IG65M_RECIPE, Recipe
from actionkit.spec import InputSpec

__all__ = ["VideoClassifier", "check_classes", "new_linear_head", "uses_segments"]


def check_classes(num_classes: int, classes: Sequence[str] | None) -> list[str] | None:
    """``classes`` as a list of strings, checked to name ``num_classes`` outputs (or ``None``)."""
    if classes is None:
        return None
    names = [str(c) for c in classes]
    if len(names) != num_classes:
        raise ValueError(f"{len(names)} class names given for {num_classes} classes")
    return names


def new_linear_head(old: nn.Linear, num_classes: int, std: float = 0.01) -> nn.Linear:
    """A fresh classifier like ``old`` but with ``num_classes`` outputs.

    Weights from a normal distribution with standard deviation ``std`` (0.01 as torchvision's
    VideoResNet initialises its ``fc``), biases zero; same device and dtype as ``old``.
    """
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"num_classes={num_classes!r} must be a positive integer")
    head = nn.Linear(old.in_features, num_classes, device=old.weight.device, dtype=old.weight.dtype)
    nn.init.normal_(head.weight, 0.0, std)
    nn.init.zeros_(head.bias)
    return head


def uses_segments(model: nn.Module) -> bool:
    """Whether ``model`` (possibly DDP-wrapped) takes TSN segments (K×C×H×W) rather than clips."""
    inner = getattr(model, "module", model)
    spec = getattr(inner, "input_spec", None)
    return isinstance(spec, InputSpec) and spec.uses_segments


class VideoClassifier(nn.Module):
    """Base class: a backbone made of named stages, then a classifier head.

    Subclasses set ``arch``, ``input_spec`` and ``classes``, and implement :meth:`stages` and
    :meth:`forward_features`. The head is the module at :attr:`head_dropout_name` (applied to
    the features first) and the ``nn.Linear`` at :attr:`classifier_name`, both dotted attribute
    paths, so :meth:`forward_head`, :meth:`get_classifier` and :meth:`reset_classifier` are the
    same code for every model. ``forward(x) == forward_head(forward_features(x))``.
    """

    arch: str = ""
    input_spec: InputSpec = InputSpec()
    classes: list[str] | None = None
    #: The training settings that suit this model (``TrainConfig`` fills unset ones from it).
    recipe: Recipe = IG65M_RECIPE
    #: Dotted path of the final ``nn.Linear`` (``"fc"``, ``"head.1"``...).
    classifier_name: str = "fc"
    #: Dotted path of the dropout before it.
    head_dropout_name: str = "dropout"
    #: Standard deviation of a new classifier's initial weights.
    head_init_std: float = 0.01

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

    # -- the head -----------------------------------------------------------------------------
    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Classifier (with its dropout); ``pre_logits=True`` returns the features it would see."""
        features = self.get_submodule(self.head_dropout_name)(features)
        return features if pre_logits else self.get_classifier()(features)

    def get_classifier(self) -> nn.Module:
        """The final layer mapping features to class scores."""
        return self.get_submodule(self.classifier_name)

    def reset_classifier(self, num_classes: int, classes: Sequence[str] | None = None) -> None:
        """Replace the classifier with a freshly initialised one for ``num_classes`` classes
        (normal init with :attr:`head_init_std`); ``classes`` names its outputs."""
        names = check_classes(num_classes, classes)
        head = new_linear_head(self.get_classifier(), num_classes, std=self.head_init_std)
        parent, _, name = self.classifier_name.rpartition(".")
        setattr(self.get_submodule(parent), name, head)
        self.classes = names

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
