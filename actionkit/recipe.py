"""Fine-tuning recipes: the training settings that suit each model family.

Every model carries one (``model.recipe``). :class:`~actionkit.train.config.TrainConfig` takes
each setting a user leaves unset from it, so ``Learner(model, data)`` and ``actionkit train``
start from settings known to work for that model. The input side of a recipe (crop, resize,
frames or segments) is the model's ``input_spec``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["IG65M_RECIPE", "IMAGENET_2D_RECIPE", "RECIPE_FIELDS", "TRANSFORMER_RECIPE", "Recipe"]


@dataclass(frozen=True)
class Recipe:
    """Settings for fine-tuning one model family (the names are ``TrainConfig``'s).

    Attributes:
        name: A short name shown with the settings (``"ig65m-sgd"``).
        optimizer: ``"sgd"`` or ``"adamw"``.
        lr: Peak learning rate of the new head.
        backbone_lr_mult: The pretrained backbone trains at ``lr * backbone_lr_mult``.
        weight_decay: Weight decay (not on biases and norms).
        momentum: SGD momentum.
        schedule: Learning-rate schedule.
        warmup: Share of the steps spent warming up.
        batch_size: Clips per batch.
        channels_last: Device types (``"cpu"``, ``"cuda"``) on which the channels-last memory
            format was measured faster for this family.
        source: Where the settings come from.
    """

    name: str
    optimizer: str
    lr: float
    backbone_lr_mult: float
    weight_decay: float = 1e-4
    momentum: float = 0.9
    schedule: str = "onecycle"
    warmup: float = 0.3
    batch_size: int = 8
    channels_last: tuple[str, ...] = ()
    source: str = ""

    def settings(self, device_type: str) -> dict[str, Any]:
        """The ``TrainConfig`` values of this recipe on a ``device_type`` (``"cpu"``/``"cuda"``)."""
        values = {name: getattr(self, name) for name in RECIPE_FIELDS}
        values["channels_last"] = device_type in self.channels_last
        return values

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: The ``TrainConfig`` fields a recipe sets (``channels_last`` is resolved per device).
RECIPE_FIELDS = tuple(
    f.name for f in fields(Recipe) if f.name not in ("name", "source", "channels_last")
)

#: R(2+1)D on IG-65M, fine-tuned on HMDB51/UCF101 (about 80 % on HMDB51 split 1): SGD with
#: momentum, the pretrained backbone at a tenth of the head's rate.
IG65M_RECIPE = Recipe(
    name="video-resnet-sgd", optimizer="sgd", lr=1e-3, backbone_lr_mult=0.1, momentum=0.95,
    source="the R(2+1)D IG-65M transfer recipe (computervision-recipes, HMDB51)",
)  # fmt: skip

#: TSN/TSM on 2D ImageNet backbones: AdamW with the whole network at one rate. Measured on the
#: real-video test set and the sample set (BENCHMARKS.md, issue 9): SGD at 1e-3 with the backbone
#: at 0.1x stayed at chance there; this learns within 3 epochs. Channels-last made training 1.6x
#: faster on a CPU.
IMAGENET_2D_RECIPE = Recipe(
    name="2d-imagenet-adamw", optimizer="adamw", lr=2e-3, backbone_lr_mult=1.0,
    channels_last=("cpu",),
    source="measured on small real-video and generated sets (BENCHMARKS.md)",
)  # fmt: skip

#: MViT and Video Swin: AdamW at a lower rate with stronger weight decay and a short warm-up,
#: as their papers fine-tune (not measured here: no Kinetics weights offline).
TRANSFORMER_RECIPE = Recipe(
    name="transformer-adamw", optimizer="adamw", lr=1e-3, backbone_lr_mult=0.1,
    weight_decay=0.05, warmup=0.1,
    source="the MViT / Video Swin fine-tuning papers (not measured here)",
)  # fmt: skip
