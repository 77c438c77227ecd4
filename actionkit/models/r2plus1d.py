"""R(2+1)D video ResNets: the IG-65M R(2+1)D-34 family and torchvision's R(2+1)D-18.

All of them are torchvision ``VideoResNet`` networks (its ``BasicBlock``, ``Conv2Plus1D`` and
``R2Plus1dStem``), wrapped in :class:`VideoResNetClassifier` so they share the fine-tuning surface
of :class:`~actionkit.models.base.VideoClassifier`. The state_dict keys are torchvision's, so the
published checkpoints load with strict key and shape checks.

R(2+1)D-34 follows the Caffe2 models that the IG-65M weights were converted from (see
``ig65m-pytorch``): BatchNorm eps 1e-3, and the second (2+1)D convolution of the first block of
layers 2–4 has its own mid-plane count (288 / 576 / 1152) where torchvision would reuse the first
convolution's (230 / 460 / 921).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models.video.resnet import (
    BasicBlock,
    Conv2Plus1D,
    R2Plus1dStem,
    VideoResNet,
)

from actionkit.models.base import VideoClassifier
from actionkit.models.weights import (
    WeightsRecord,
    build_with_its_head,
    kinetics400_classes,
    load_state_dict,
)
from actionkit.spec import KINETICS_MEAN, KINETICS_STD, InputSpec

__all__ = [
    "IG65M_RECORDS",
    "R2PLUS1D_18_RECORD",
    "VideoResNetClassifier",
    "build_video_model",
    "midplanes",
    "new_linear_head",
    "r2plus1d_18",
    "r2plus1d_34_8_ig65m",
    "r2plus1d_34_8_kinetics",
    "r2plus1d_34_32_ig65m",
    "r2plus1d_34_32_kinetics",
]

HEAD_INIT_STD = 0.01


# -- shared pieces for every wrapped torchvision video model -------------------------------------
def new_linear_head(old: nn.Linear, num_classes: int) -> nn.Linear:
    """A fresh classifier like ``old`` but with ``num_classes`` outputs.

    Initialised as torchvision's VideoResNet initialises its ``fc``: weights from a normal
    distribution with std 0.01, biases zero. Same device and dtype as ``old``.
    """
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes={num_classes!r} must be a positive integer")
    head = nn.Linear(old.in_features, num_classes, device=old.weight.device, dtype=old.weight.dtype)
    nn.init.normal_(head.weight, 0.0, HEAD_INIT_STD)
    nn.init.zeros_(head.bias)
    return head


def _check_classes(num_classes: int, classes: list[str] | tuple[str, ...] | None) -> list | None:
    if classes is None:
        return None
    classes = [str(c) for c in classes]
    if len(classes) != num_classes:
        raise ValueError(f"{len(classes)} class names given for {num_classes} classes")
    return classes


def set_batchnorm(model: nn.Module, *, eps: float | None = None, momentum: float = 0.1) -> None:
    """Set every BatchNorm's ``eps`` (where given) and ``momentum`` (PyTorch convention)."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            if eps is not None:
                m.eps = eps
            m.momentum = momentum


def build_video_model(
    arch: str,
    make: Callable[[int], VideoClassifier],
    record: WeightsRecord,
    *,
    num_classes: int | None,
    pretrained: bool,
    weights: str | Path | WeightsRecord | None,
    classes: list[str] | tuple[str, ...] | None = None,
    head_key: str,
    arch_kwargs: Mapping[str, Any] | None = None,
    adapt: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
    progress: bool = True,
) -> VideoClassifier:
    """The logic every builder shares.

    * ``weights`` (a path, URL or :class:`WeightsRecord`) wins over ``pretrained``;
      ``pretrained=True`` loads ``record``; otherwise the weights are random.
    * The network is built with the checkpoint's number of outputs (read from ``head_key``) and
      loaded strictly; when ``num_classes`` differs, the head is replaced (:func:`new_linear_head`).
    * Class names travel with the weights: a record's ``classes`` are kept while its head is;
      custom checkpoints and random weights have none unless ``classes`` is given.

    Args:
        make: builds the wrapped network for a given number of outputs.
        adapt: converts a checkpoint's state_dict to the wrapper's layout (e.g. reshapes).
    """
    if classes is not None:
        if num_classes is None:
            num_classes = len(classes)
        classes = _check_classes(num_classes, classes)
    state: dict[str, torch.Tensor] | None = None
    source_classes: tuple[str, ...] | None = None
    source = "the checkpoint"
    if weights is not None:
        if isinstance(weights, WeightsRecord):
            state, source_classes, source = (
                weights.load_state_dict(progress),
                weights.classes,
                weights.url,
            )
        else:
            state, source = load_state_dict(weights), str(weights)
    elif pretrained:
        state, source_classes, source = record.load_state_dict(progress), record.classes, record.url

    if state is None:
        model = make(num_classes if num_classes is not None else record.num_classes)
        model.classes = classes
    else:
        if adapt is not None:
            state = adapt(state)
        model = build_with_its_head(make, state, head_key=head_key, arch=arch, source=source)
        ckpt_classes = model.num_classes
        model.classes = (
            list(source_classes)
            if source_classes is not None and len(source_classes) == ckpt_classes
            else None
        )
        if num_classes is not None and num_classes != ckpt_classes:
            model.reset_classifier(num_classes, classes)
        elif classes is not None:
            model.classes = classes
    model.arch = arch
    model.arch_kwargs = dict(arch_kwargs or {})
    if record.input_spec is not None:
        model.input_spec = record.input_spec
    return model


# -- the wrapper ---------------------------------------------------------------------------------
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

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        features = self.dropout(features)
        return features if pre_logits else self.fc(features)

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int, classes: list[str] | None = None) -> None:
        self.fc = new_linear_head(self.fc, num_classes)
        self.classes = _check_classes(num_classes, classes)


# -- R(2+1)D-34, IG-65M ---------------------------------------------------------------------------
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


_IG65M_URL = "https://github.com/moabitcoin/ig65m-pytorch/releases/download/v1.0.0/"


def _r2plus1d_spec(clip_len: int) -> InputSpec:
    return InputSpec(
        layout="CTHW",
        clip_len=clip_len,
        frame_step=1,
        crop_size=112,
        resize=128,
        mean=KINETICS_MEAN,
        std=KINETICS_STD,
    )


def _ig65m_record(file: str, num_classes: int, clip_len: int, kinetics: bool) -> WeightsRecord:
    return WeightsRecord(
        url=_IG65M_URL + file,
        sha256_prefix=file.rsplit("-", 1)[1].split(".")[0],
        num_classes=num_classes,
        classes=kinetics400_classes() if kinetics else None,
        input_spec=_r2plus1d_spec(clip_len),
    )


IG65M_RECORDS: dict[str, WeightsRecord] = {
    "r2plus1d_34_8_ig65m": _ig65m_record(
        "r2plus1d_34_clip8_ig65m_from_scratch-9bae36ae.pth", 487, 8, kinetics=False
    ),
    "r2plus1d_34_32_ig65m": _ig65m_record(
        "r2plus1d_34_clip32_ig65m_from_scratch-449a7af9.pth", 359, 32, kinetics=False
    ),
    "r2plus1d_34_8_kinetics": _ig65m_record(
        "r2plus1d_34_clip8_ft_kinetics_from_ig65m-0aa0550b.pth", 400, 8, kinetics=True
    ),
    "r2plus1d_34_32_kinetics": _ig65m_record(
        "r2plus1d_34_clip32_ft_kinetics_from_ig65m-ade133f1.pth", 400, 32, kinetics=True
    ),
}


def _r2plus1d_34(
    arch: str,
    *,
    num_classes: int | None,
    pretrained: bool,
    weights: str | Path | WeightsRecord | None,
    dropout: float = 0.0,
    classes: list[str] | None = None,
    progress: bool = True,
) -> VideoResNetClassifier:
    return build_video_model(
        arch,
        lambda n: VideoResNetClassifier(r2plus1d_34_network(n), dropout=dropout),
        IG65M_RECORDS[arch],
        num_classes=num_classes,
        pretrained=pretrained,
        weights=weights,
        classes=classes,
        head_key="fc.weight",
        arch_kwargs={"dropout": dropout},
        progress=progress,
    )


_BUILDER_DOC = """{title}

    Args:
        num_classes: Outputs wanted. ``None`` keeps the weights' head ({n} classes); another
            number loads the backbone and puts a fresh head on it (normal init, std 0.01).
        pretrained: Load the published weights ({file}), downloaded once into
            :func:`~actionkit.models.weights.cache_dir` and checked against their sha256.
        weights: A local path, URL or :class:`~actionkit.models.weights.WeightsRecord` to load
            instead (a state_dict of the same architecture).
        dropout: Dropout before the classifier.
        classes: Names for the new head's outputs (sets ``num_classes`` when that is ``None``).
        progress: Show a download progress bar.

    Input: ``(B, 3, {clip_len}, 112, 112)`` float clips normalised with the Kinetics mean/std
    (see ``model.input_spec``).
"""


def r2plus1d_34_8_ig65m(
    *, num_classes=None, pretrained=True, weights=None, **kwargs
) -> VideoResNetClassifier:
    return _r2plus1d_34(
        "r2plus1d_34_8_ig65m",
        num_classes=num_classes,
        pretrained=pretrained,
        weights=weights,
        **kwargs,
    )


def r2plus1d_34_32_ig65m(
    *, num_classes=None, pretrained=True, weights=None, **kwargs
) -> VideoResNetClassifier:
    return _r2plus1d_34(
        "r2plus1d_34_32_ig65m",
        num_classes=num_classes,
        pretrained=pretrained,
        weights=weights,
        **kwargs,
    )


def r2plus1d_34_8_kinetics(
    *, num_classes=None, pretrained=True, weights=None, **kwargs
) -> VideoResNetClassifier:
    return _r2plus1d_34(
        "r2plus1d_34_8_kinetics",
        num_classes=num_classes,
        pretrained=pretrained,
        weights=weights,
        **kwargs,
    )


def r2plus1d_34_32_kinetics(
    *, num_classes=None, pretrained=True, weights=None, **kwargs
) -> VideoResNetClassifier:
    return _r2plus1d_34(
        "r2plus1d_34_32_kinetics",
        num_classes=num_classes,
        pretrained=pretrained,
        weights=weights,
        **kwargs,
    )


_IG65M = "R(2+1)D-34 pretrained on IG-65M"
for _builder, _title, _classes, _clip_len in (
    (r2plus1d_34_8_ig65m, f"{_IG65M} with 8-frame clips (Ghadiyaram et al., CVPR 2019).", 487, 8),
    (
        r2plus1d_34_32_ig65m,
        f"{_IG65M} with 32-frame clips (Ghadiyaram et al., CVPR 2019).",
        359,
        32,
    ),
    (r2plus1d_34_8_kinetics, f"{_IG65M}, fine-tuned on Kinetics-400, 8-frame clips.", 400, 8),
    (r2plus1d_34_32_kinetics, f"{_IG65M}, fine-tuned on Kinetics-400, 32-frame clips.", 400, 32),
):
    _builder.__doc__ = _BUILDER_DOC.format(
        title=_title, n=_classes, file=IG65M_RECORDS[_builder.__name__].cache_name,
        clip_len=_clip_len,
    )  # fmt: skip


# -- R(2+1)D-18, torchvision's Kinetics-400 weights ------------------------------------------------
# From torchvision.models.video.R2Plus1D_18_Weights.KINETICS400_V1 (tests check they agree).
R2PLUS1D_18_RECORD = WeightsRecord(
    url="https://download.pytorch.org/models/r2plus1d_18-91a641e6.pth",
    sha256_prefix="91a641e6",
    num_classes=400,
    classes=kinetics400_classes(),
    # trained on 16-frame clips at 15 fps (every 2nd frame of 30 fps video), 112 crops of 128x171
    input_spec=InputSpec(layout="CTHW", clip_len=16, frame_step=2, crop_size=112, resize=128),
)


def r2plus1d_18_network(num_classes: int) -> VideoResNet:
    """torchvision's R(2+1)D-18 network (BatchNorm momentum 0.1, eps 1e-5)."""
    return VideoResNet(
        block=BasicBlock,
        conv_makers=[Conv2Plus1D] * 4,
        layers=[2, 2, 2, 2],
        stem=R2Plus1dStem,
        num_classes=num_classes,
    )


def r2plus1d_18(
    *,
    num_classes: int | None = None,
    pretrained: bool = True,
    weights: str | Path | WeightsRecord | None = None,
    dropout: float = 0.0,
    classes: list[str] | None = None,
    progress: bool = True,
) -> VideoResNetClassifier:
    """R(2+1)D-18 with torchvision's Kinetics-400 weights (67.5 % top-1, 31.5 M parameters).

    Arguments as for :func:`r2plus1d_34_8_ig65m`. Input: ``(B, 3, 16, 112, 112)`` clips.
    """
    return build_video_model(
        "r2plus1d_18",
        lambda n: VideoResNetClassifier(r2plus1d_18_network(n), dropout=dropout),
        R2PLUS1D_18_RECORD,
        num_classes=num_classes,
        pretrained=pretrained,
        weights=weights,
        classes=classes,
        head_key="fc.weight",
        arch_kwargs={"dropout": dropout},
        progress=progress,
    )
