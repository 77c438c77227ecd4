"""Layers shared by the models: TSM's temporal shift, and BatchNorm settings.

:class:`TemporalShift` (TSM, Lin et al., ICCV 2019) moves 1/8 of the channels one segment forward
in time and 1/8 one segment back, so each frame's features mix with its neighbours': temporal
modelling at zero parameters. :func:`insert_temporal_shift` puts one in front of the first
convolution of every residual branch of a 2D backbone (TSM's "residual shift").
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn
from torchvision.models import resnet
from torchvision.models.mobilenetv3 import InvertedResidual as TVInvertedResidual

from actionkit.models.efficientnet_lite import MBConvBlock

__all__ = ["ShiftConv2d", "TemporalShift", "insert_temporal_shift", "set_batchnorm"]


def set_batchnorm(model: nn.Module, *, eps: float | None = None, momentum: float = 0.1) -> None:
    """Set every BatchNorm's ``eps`` (where given) and ``momentum`` (PyTorch convention)."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            if eps is not None:
                m.eps = eps
            m.momentum = momentum


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
        channels_last = x.is_contiguous(memory_format=torch.channels_last) and (
            not x.is_contiguous()
        )
        x = x.reshape(nk // k, k, c, h, w)
        fold = c // self.fold_div
        # Slices and zeros joined with torch.cat, not slice assignment into a zeros tensor: the
        # same values, but it exports (ONNX) to plain Slice/Concat rather than a slow ScatterND.
        zeros = x.new_zeros(nk // k, 1, fold, h, w)
        back = torch.cat((x[:, 1:, :fold], zeros), dim=1)  # from t + 1; zeros in the last
        forward = torch.cat((zeros, x[:, :-1, fold : 2 * fold]), dim=1)  # from t - 1
        out = torch.cat((back, forward, x[:, :, 2 * fold :]), dim=2).reshape(nk, c, h, w)
        # keep a channels-last input's layout (as zeros_like did), for channels-last training
        return out.contiguous(memory_format=torch.channels_last) if channels_last else out

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
        elif isinstance(block, MBConvBlock) and block.has_residual:
            yield block, ("_expand_conv" if block._expand_conv is not None else "_depthwise_conv")
        elif isinstance(block, TVInvertedResidual) and block.use_res_connect:
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
