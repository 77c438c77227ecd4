"""torchvision's other Kinetics-400 video models as :class:`VideoClassifier` s.

``r3d_18`` and ``mc3_18`` (video ResNets), ``s3d``, ``mvit_v2_s`` and ``swin3d_t``. The weight
records (URL, sha256 prefix, classes, input) are copied from torchvision's ``*_Weights`` enums,
and the files are fetched with :func:`actionkit.models.weights.download`, so they share the
actionkit cache, resume and offline message. The wrappers keep torchvision's parameter names,
so its checkpoints load strictly (S3D's 1×1×1 convolution head is stored as a ``Linear``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torchvision.models import video as tv

from actionkit.models._builder import build_video_model
from actionkit.models._registry import register_model
from actionkit.models.base import VideoClassifier
from actionkit.models.layers import set_batchnorm
from actionkit.models.video_resnet import VideoResNetClassifier, register_video_resnet
from actionkit.models.weights import WeightsRecord
from actionkit.recipe import TRANSFORMER_RECIPE
from actionkit.resources import kinetics400_classes
from actionkit.spec import IMAGENET_MEAN, IMAGENET_STD, KINETICS_MEAN, KINETICS_STD, InputSpec

__all__ = [
    "TORCHVISION_RECORDS",
    "MViTClassifier",
    "S3DClassifier",
    "Swin3DClassifier",
    "mc3_18",
    "mvit_v2_s",
    "r3d_18",
    "s3d",
    "swin3d_t",
]


WeightsArg = str | Path | WeightsRecord | None


def _record(url: str, spec: InputSpec) -> WeightsRecord:
    return WeightsRecord(
        url=url,
        sha256_prefix=url.rsplit("-", 1)[1].split(".")[0],  # torch.hub's name-<sha256>.pth
        num_classes=400,
        classes=kinetics400_classes(),
        input_spec=spec,
    )


# Copied from torchvision.models.video.*_Weights.KINETICS400_V1 (tests check they agree). Clip
# lengths and frame steps follow the training recipes: 15 fps is every 2nd frame of 30 fps video.
TORCHVISION_RECORDS: dict[str, WeightsRecord] = {
    "r3d_18": _record(
        "https://download.pytorch.org/models/r3d_18-b3b3357e.pth",
        InputSpec(clip_len=16, frame_step=2, crop_size=112, resize=128),
    ),
    "mc3_18": _record(
        "https://download.pytorch.org/models/mc3_18-a90a0ba3.pth",
        InputSpec(clip_len=16, frame_step=2, crop_size=112, resize=128),
    ),
    "s3d": _record(
        "https://download.pytorch.org/models/s3d-d76dad2f.pth",
        InputSpec(
            clip_len=64,
            frame_step=2,
            crop_size=224,
            resize=256,
            mean=KINETICS_MEAN,
            std=KINETICS_STD,
        ),
    ),
    "mvit_v2_s": _record(
        "https://download.pytorch.org/models/mvit_v2_s-ae3be167.pth",
        # 16x4 from SlowFast: 16 frames at 7.5 fps; the positional encoding fixes 16x224x224
        InputSpec(
            clip_len=16,
            frame_step=4,
            crop_size=224,
            resize=256,
            mean=(0.45, 0.45, 0.45),
            std=(0.225, 0.225, 0.225),
        ),
    ),
    "swin3d_t": _record(
        "https://download.pytorch.org/models/swin3d_t-7615ae03.pth",
        InputSpec(
            clip_len=32,
            frame_step=2,
            crop_size=224,
            resize=256,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
        ),
    ),
}


def _check_5d(x: torch.Tensor) -> None:
    if x.ndim != 5:
        raise ValueError(f"expected a (B, C, T, H, W) batch, got shape {tuple(x.shape)}")


# -- R3D-18 and MC3-18 ---------------------------------------------------------------------------
def _video_resnet18(arch: str, doc: str) -> Callable[..., VideoResNetClassifier]:
    """The registered builder of torchvision's ``arch`` (``r3d_18`` or ``mc3_18``)."""
    factory = {"r3d_18": tv.r3d_18, "mc3_18": tv.mc3_18}[arch]

    def network(n: int) -> tv.VideoResNet:
        net = factory(weights=None, num_classes=n)
        set_batchnorm(net, momentum=0.1)
        return net

    return register_video_resnet(arch, network, TORCHVISION_RECORDS, doc)


r3d_18 = _video_resnet18(
    "r3d_18",
    """ResNet3D-18 (full 3×3×3 convolutions) with torchvision's Kinetics-400 weights.

    63.2 % top-1, 33.4 M parameters; input ``(B, 3, 16, 112, 112)``. Keyword arguments as for
    :func:`actionkit.models.r2plus1d.r2plus1d_34_8_ig65m` (``dropout``, ``classes``, ``progress``).
    """,
)
mc3_18 = _video_resnet18(
    "mc3_18",
    """Mixed-convolution ResNet-18 (3D in the stem, 2D above) with Kinetics-400 weights.

    64.0 % top-1, 11.7 M parameters; input ``(B, 3, 16, 112, 112)``.
    """,
)


# -- S3D -----------------------------------------------------------------------------------------
class S3DClassifier(VideoClassifier):
    """torchvision's S3D; its 1×1×1 convolution head is held as the equivalent ``Linear``.

    Pooling: torchvision's (2, 7, 7) average pool then a global mean, which reduces to a plain
    global mean when the feature map is smaller than the pool (so small inputs work too).
    """

    _STAGES = (("stem", 0, 5), ("mixed_3", 5, 7), ("mixed_4", 7, 13), ("mixed_5", 13, 16))
    classifier_name = "classifier.1"
    head_dropout_name = "classifier.0"

    def __init__(self, net: tv.S3D) -> None:
        super().__init__()
        conv = net.classifier[1]
        self.features = net.features
        self.avgpool = net.avgpool
        self.classifier = nn.Sequential(
            net.classifier[0], nn.Linear(conv.in_channels, conv.out_channels)
        )
        with torch.no_grad():
            self.classifier[1].weight.copy_(conv.weight.flatten(1))
            self.classifier[1].bias.copy_(conv.bias)

    def stages(self) -> list[tuple[str, nn.Module]]:
        return [(name, self.features[a:b]) for name, a, b in self._STAGES]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        _check_5d(x)
        x = self.features(x)
        kernel = self.avgpool.kernel_size
        if all(s >= k for s, k in zip(x.shape[2:], kernel, strict=True)):
            x = self.avgpool(x)
        return x.mean(dim=(2, 3, 4))

    @staticmethod
    def adapt_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """torchvision's checkpoint layout → this wrapper's (the head conv as a Linear)."""
        state = dict(state)
        weight = state.get("classifier.1.weight")
        if weight is not None and weight.ndim == 5:
            state["classifier.1.weight"] = weight.flatten(1)
        return state


@register_model
def s3d(
    *,
    num_classes: int | None = None,
    pretrained: bool = True,
    weights: WeightsArg = None,
    progress: bool = True,
    dropout: float = 0.2,
    classes: list[str] | None = None,
) -> S3DClassifier:
    """S3D (separable 3D Inception) with torchvision's Kinetics-400 weights.

    68.4 % top-1 (clip-level), 8.3 M parameters; input ``(B, 3, 64, 224, 224)``. BatchNorm
    momentum is set to 0.1 for fine-tuning (torchvision uses 0.001).
    """

    def make(n: int) -> S3DClassifier:
        net = tv.s3d(weights=None, num_classes=n, dropout=dropout)
        set_batchnorm(net, momentum=0.1)
        return S3DClassifier(net)

    return build_video_model(
        "s3d",
        make,
        TORCHVISION_RECORDS["s3d"],
        num_classes=num_classes,
        pretrained=pretrained,
        weights=weights,
        head_key="classifier.1.weight",
        classes=classes,
        arch_kwargs={"dropout": dropout},
        adapt=S3DClassifier.adapt_state_dict,
        progress=progress,
    )


# -- MViT-v2-S -----------------------------------------------------------------------------------
class MViTClassifier(VideoClassifier):
    """torchvision's MViT (multiscale vision transformer); features are the class token.

    Stages: ``stem`` (patch projection and positional encoding), ``stage1 … stage4`` (a stage
    starts where the query pooling halves the resolution) and ``norm``.
    """

    classifier_name = "head.1"
    head_dropout_name = "head.0"
    recipe = TRANSFORMER_RECIPE

    def __init__(self, net: tv.MViT) -> None:
        super().__init__()
        self.conv_proj = net.conv_proj
        self.pos_encoding = net.pos_encoding
        self.blocks = net.blocks
        self.norm = net.norm
        self.head = net.head

    def stages(self) -> list[tuple[str, nn.Module]]:
        groups: list[list[nn.Module]] = []
        for block in self.blocks:
            if not groups or block.pool_skip is not None:
                groups.append([])
            groups[-1].append(block)
        return [
            ("stem", nn.ModuleList([self.conv_proj, self.pos_encoding])),
            *((f"stage{i + 1}", nn.ModuleList(g)) for i, g in enumerate(groups)),
            ("norm", self.norm),
        ]

    @property
    def expected_size(self) -> tuple[int, int, int]:
        """The ``(T, H, W)`` the positional encoding was built for."""
        t, h, w = self.conv_proj.stride
        enc = self.pos_encoding
        return enc.temporal_size * t, enc.spatial_size[0] * h, enc.spatial_size[1] * w

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        _check_5d(x)
        x = self.conv_proj(x)
        thw = tuple(x.shape[2:])
        want = (self.pos_encoding.temporal_size, *self.pos_encoding.spatial_size)
        if thw != want:
            raise ValueError(
                f"mvit needs inputs of (T, H, W) = {self.expected_size}; got {tuple(thw)} "
                f"patches from a {tuple(x.shape)} feature map"
            )
        x = x.flatten(2).transpose(1, 2)
        x = self.pos_encoding(x)
        for block in self.blocks:
            x, thw = block(x, thw)
        x = self.norm(x)
        return x[:, 0]


@register_model
def mvit_v2_s(
    *,
    num_classes: int | None = None,
    pretrained: bool = True,
    weights: WeightsArg = None,
    progress: bool = True,
    dropout: float = 0.5,
    classes: list[str] | None = None,
) -> MViTClassifier:
    """MViT-v2-S with torchvision's Kinetics-400 weights (ported from SlowFast).

    80.8 % top-1, 34.5 M parameters; input fixed at ``(B, 3, 16, 224, 224)``.
    """

    def make(n: int) -> MViTClassifier:
        net = tv.mvit_v2_s(weights=None, num_classes=n, dropout=dropout)
        return MViTClassifier(net)

    return build_video_model(
        "mvit_v2_s",
        make,
        TORCHVISION_RECORDS["mvit_v2_s"],
        num_classes=num_classes,
        pretrained=pretrained,
        weights=weights,
        head_key="head.1.weight",
        classes=classes,
        arch_kwargs={"dropout": dropout},
        progress=progress,
    )


# -- Swin3D-T ------------------------------------------------------------------------------------
class Swin3DClassifier(VideoClassifier):
    """torchvision's Video Swin Transformer; features are the pooled last stage.

    Stages: ``patch_embed``, ``stage1 … stage4`` (a stage includes the patch merging before it)
    and ``norm``. Head: dropout (none in torchvision; 0 by default) then ``head``.
    """

    classifier_name = "head"
    recipe = TRANSFORMER_RECIPE

    def __init__(self, net: tv.SwinTransformer3d, *, dropout: float = 0.0) -> None:
        super().__init__()
        self.patch_embed = net.patch_embed
        self.pos_drop = net.pos_drop
        self.features = net.features
        self.norm = net.norm
        self.avgpool = net.avgpool
        self.dropout = nn.Dropout(dropout)
        self.head = net.head

    def stages(self) -> list[tuple[str, nn.Module]]:
        stages: list[tuple[str, nn.Module]] = [("patch_embed", self.patch_embed)]
        layers = list(self.features)
        stages.append(("stage1", nn.ModuleList(layers[:1])))
        for i in range(1, len(layers), 2):
            stages.append((f"stage{i // 2 + 2}", nn.ModuleList(layers[i : i + 2])))
        stages.append(("norm", self.norm))
        return stages

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        _check_5d(x)
        x = self.patch_embed(x)  # B, T', H', W', C
        x = self.pos_drop(x)
        x = self.features(x)
        x = self.norm(x)
        x = x.permute(0, 4, 1, 2, 3)
        return self.avgpool(x).flatten(1)


@register_model
def swin3d_t(
    *,
    num_classes: int | None = None,
    pretrained: bool = True,
    weights: WeightsArg = None,
    progress: bool = True,
    dropout: float = 0.0,
    classes: list[str] | None = None,
) -> Swin3DClassifier:
    """Video Swin-T with torchvision's Kinetics-400 weights (ported from the paper).

    77.7 % top-1, 28.2 M parameters; input ``(B, 3, 32, 224, 224)`` (other sizes work too).
    """

    def make(n: int) -> Swin3DClassifier:
        return Swin3DClassifier(tv.swin3d_t(weights=None, num_classes=n), dropout=dropout)

    return build_video_model(
        "swin3d_t",
        make,
        TORCHVISION_RECORDS["swin3d_t"],
        num_classes=num_classes,
        pretrained=pretrained,
        weights=weights,
        head_key="head.weight",
        classes=classes,
        arch_kwargs={"dropout": dropout},
        progress=progress,
    )
