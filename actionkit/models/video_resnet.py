"""torchvision's ``VideoResNet`` as a :class:`~actionkit.models.base.VideoClassifier`, and the
R(2+1)D networks the IG-65M and torchvision checkpoints were trained as.

:class:`VideoResNetClassifier` wraps any ``VideoResNet`` (R3D, MC3, R(2+1)D) keeping torchvision's
parameter names, so the published checkpoints load with strict key and shape checks.
:func:`r2plus1d_34_network` follows the Caffe2 models that the IG-65M weights were converted from
(see ``ig65m-pytorch``): BatchNorm eps 1e-3, and the second (2+1)D convolution of the first block
of layers 2–4 has its own mid-plane count (288 / 576 / 1152) where torchvision would reuse the
first convolution's (230 / 460 / 921).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn
from torchvision.models.video.resnet import BasicBlock, Conv2Plus1D, R2Plus1dStem, VideoResNet

from actionkit.models._builder import build_video_model
from actionkit.models._registry import register_model
from actionkit.models.base import VideoClassifier
from actionkit.models.layers import set_batchnorm
from actionkit.models.weights import WeightsRecord

__all__ = [
    "VideoResNetClassifier",
    "midplanes",
    "r2plus1d_18_network",
    "r2plus1d_34_network",
    "register_video_resnet",
]


class VideoResNetClassifier(VideoClassifier):
    """Any torchvision ``VideoResNet`` (R3D, MC3, R(2+1)D) as a :class:`VideoClassifier`.

    Stages ``stem, layer1 … layer4``; head: global average pool, dropout, ``fc``. Parameter names
    are torchvision's, so its checkpoints load unchanged.
    """

    def __init__(self, net: VideoResNet, *, dropout: float = 0.0) -> None:
        super().__init__()
        self.stem = net.stem
        self.layer1 = net.layer1
        self.layer2 = net.layer2
        self.layer3 = net.layer3
        self.layer4 = net.layer4
        self.avgpool = net.avgpool
        self.dropout = nn.Dropout(dropout)
        self.fc = net.fc

    def stages(self) -> list[tuple[str, nn.Module]]:
        return [
            ("stem", self.stem),
            ("layer1", self.layer1),
            ("layer2", self.layer2),
            ("layer3", self.layer3),
            ("layer4", self.layer4),
        ]

    @property
    def num_features(self) -> int:
        return self.fc.in_features

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5:
            raise ValueError(f"expected a (B, C, T, H, W) batch, got shape {tuple(x.shape)}")
        x = self.stem(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        return self.avgpool(x).flatten(1)


def midplanes(in_planes: int, out_planes: int) -> int:
    """Channels between the spatial and the temporal convolution of a (2+1)D block.

    Chosen so the (2+1)D pair has about as many parameters as one 3×3×3 convolution.
    """
    return (in_planes * out_planes * 27) // (in_planes * 9 + 3 * out_planes)


def r2plus1d_34_network(num_classes: int) -> VideoResNet:
    """The bare torchvision network of the IG-65M R(2+1)D-34 checkpoints (Caffe2 layout)."""
    net = VideoResNet(
        block=BasicBlock,
        conv_makers=[Conv2Plus1D] * 4,
        layers=[3, 4, 6, 3],
        stem=R2Plus1dStem,
        num_classes=num_classes,
    )
    # torchvision's BasicBlock reuses conv1's mid-planes for conv2; Caffe2 computed them per conv.
    for layer in (net.layer2, net.layer3, net.layer4):
        block = layer[0]
        planes = block.conv2[1].num_features
        conv = Conv2Plus1D(planes, planes, midplanes(planes, planes))
        for m in conv.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        block.conv2[0] = conv
    # eps as in Caffe2; momentum 0.1 in PyTorch's sense (the source's 0.9 is Caffe2's sense).
    set_batchnorm(net, eps=1e-3, momentum=0.1)
    return net


def r2plus1d_18_network(num_classes: int) -> VideoResNet:
    """torchvision's R(2+1)D-18 network (BatchNorm momentum 0.1, eps 1e-5)."""
    return VideoResNet(
        block=BasicBlock,
        conv_makers=[Conv2Plus1D] * 4,
        layers=[2, 2, 2, 2],
        stem=R2Plus1dStem,
        num_classes=num_classes,
    )


def register_video_resnet(
    arch: str,
    network: Callable[[int], VideoResNet],
    records: Mapping[str, WeightsRecord],
    doc: str,
) -> Callable[..., VideoResNetClassifier]:
    """Register the builder ``arch`` of a :class:`VideoResNetClassifier` around ``network``.

    Args:
        arch: The model name.
        network: Builds the bare torchvision network for a number of outputs.
        records: Where ``records[arch]`` is the published checkpoint (looked up at every call, so
            a record can be replaced, e.g. by a mirror's).
        doc: The builder's docstring.
    """

    def builder(
        *,
        num_classes: int | None = None,
        pretrained: bool = True,
        weights: str | Path | WeightsRecord | None = None,
        progress: bool = True,
        dropout: float = 0.0,
        classes: list[str] | None = None,
    ) -> VideoResNetClassifier:
        return build_video_model(
            arch, lambda n: VideoResNetClassifier(network(n), dropout=dropout), records[arch],
            num_classes=num_classes, pretrained=pretrained, weights=weights, classes=classes,
            arch_kwargs={"dropout": dropout}, progress=progress,
        )  # fmt: skip

    builder.__name__ = builder.__qualname__ = arch
    builder.__doc__ = doc
    return register_model(builder)
