"""Clip transforms: the same crop, flip and colour change for every frame of a clip.

Built on :mod:`torchvision.transforms.v2`: a :class:`torchvision.tv_tensors.Video` of shape
``T×C×H×W`` is transformed with *one* draw of the random parameters for all ``T`` frames, so
the crops, flips and jitters of torchvision are used as they are. This module adds what v2 lacks
for video: conversion from the reader's ``T×H×W×3`` uint8 frames (:func:`to_video`),
:class:`ResizeShortSide`, TSN's :class:`MultiScaleCrop`, :class:`ThreeCrop`, the model layouts
(:class:`ToLayout`) and :func:`denormalize`. The presets a model's
:class:`~actionkit.spec.InputSpec` implies are in :mod:`actionkit.data.presets`.

Example::

    >>> tf = v2.Compose([ToVideo(), ResizeShortSide(128), v2.RandomCrop(112), ToLayout("CTHW")])
    >>> tf(np.zeros((8, 128, 171, 3), np.uint8)).shape    # C, T, H, W
    torch.Size([3, 8, 112, 112])

.. warning::
    Horizontal flips swap left and right. Turn them off (``flip=False``) when classes are
    defined by a direction, e.g. "swiping left" vs "swiping right" or "pushing something from
    left to right".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from actionkit.spec import LAYOUTS

__all__ = [
    "CROPS",
    "LAYOUTS",
    "Contiguous",
    "MultiScaleCrop",
    "ResizeShortSide",
    "ThreeCrop",
    "ToLayout",
    "ToVideo",
    "denormalize",
    "normalize",
    "to_video",
]

CROPS = ("random_resized", "multiscale", "random")
_BILINEAR = v2.InterpolationMode.BILINEAR


# --------------------------------------------------------------------------------------------
# helpers


def _size_pair(size: int | Sequence[int], name: str = "size") -> tuple[int, int]:
    """``int`` or ``(h, w)`` → ``(h, w)``, validated."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        pair = (int(size), int(size))
    elif isinstance(size, Sequence) and len(size) in (1, 2):
        pair = (int(size[0]), int(size[-1]))
    else:
        raise ValueError(f"{name}={size!r} must be an int or a (height, width) pair")
    if min(pair) < 1:
        raise ValueError(f"{name}={size!r} must be positive")
    return pair


def _query_size(flat_inputs: list[Any]) -> tuple[int, int]:
    sizes = {
        tuple(F.get_size(x))
        for x in flat_inputs
        if isinstance(x, torch.Tensor) and not isinstance(x, (tv_tensors.BoundingBoxes,))
    }
    if len(sizes) != 1:
        raise ValueError(f"expected one video or image size in the sample, found {sorted(sizes)}")
    h, w = sizes.pop()
    return int(h), int(w)


class _VideoTransform(v2.Transform):
    """v2.Transform base for torchvision 0.19+ (``_get_params``) and 0.21+ (``make_params``)."""

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:  # pragma: no cover - default
        return {}

    def _get_params(self, flat_inputs: list[Any]) -> dict[str, Any]:  # torchvision < 0.21
        return self.make_params(flat_inputs)

    def _transform(self, inpt: Any, params: dict[str, Any]) -> Any:  # torchvision < 0.21
        return self.transform(inpt, params)


# --------------------------------------------------------------------------------------------
# input conversion


def to_video(frames: np.ndarray | torch.Tensor) -> tv_tensors.Video:
    """The reader's ``T×H×W×3`` uint8 frames (numpy or torch) as a ``T×3×H×W`` uint8 Video.

    No pixel is copied (except for read-only or negatively strided numpy arrays): the result is
    a permuted view, channels-last in memory, which is what torch's fast uint8 resize kernels
    like. A uint8 ``T×3×H×W`` :class:`~torchvision.tv_tensors.Video` is returned unchanged.
    """
    if isinstance(frames, tv_tensors.Video):
        if frames.dtype != torch.uint8 or frames.ndim != 4 or frames.shape[1] != 3:
            raise ValueError(
                f"a Video input must be uint8 T×3×H×W, got {frames.dtype} {tuple(frames.shape)}"
            )
        return frames
    if isinstance(frames, np.ndarray):
        if frames.dtype != np.uint8:
            raise ValueError(f"frames must be uint8, got dtype {frames.dtype}")
        if not frames.flags.writeable or any(s < 0 for s in frames.strides):
            frames = frames.copy()  # torch.from_numpy takes neither read-only nor flipped arrays
        tensor = torch.from_numpy(frames)
    elif isinstance(frames, torch.Tensor):
        if frames.dtype != torch.uint8:
            raise ValueError(f"frames must be uint8, got dtype {frames.dtype}")
        tensor = frames.as_subclass(torch.Tensor)
    else:
        raise ValueError(
            f"frames must be a numpy array or torch tensor of shape (T, H, W, 3), "
            f"got {type(frames).__name__}"
        )
    if tensor.ndim != 4 or tensor.shape[-1] != 3:
        raise ValueError(
            f"frames must have shape (T, H, W, 3) (RGB, channels last), got {tuple(tensor.shape)}"
        )
    return tv_tensors.Video(tensor.permute(0, 3, 1, 2))


class ToVideo(nn.Module):
    """Transform form of :func:`to_video`: first step of every preset."""

    def forward(self, frames: np.ndarray | torch.Tensor) -> tv_tensors.Video:
        return to_video(frames)


# --------------------------------------------------------------------------------------------
# geometry


class ResizeShortSide(v2.Resize):
    """Resize so the short side is ``size``, keeping the aspect ratio.

    Frames whose short side already is ``size`` are returned untouched (no copy), so a preset
    stays cheap when the decoder has resized already.
    """

    def __init__(
        self,
        size: int,
        interpolation: v2.InterpolationMode | int = _BILINEAR,
        antialias: bool = True,
    ) -> None:
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
            raise ValueError(f"size={size!r} must be a positive integer (the short side)")
        super().__init__(int(size), interpolation=interpolation, antialias=antialias)


class MultiScaleCrop(_VideoTransform):
    """TSN's multi-scale corner crop, then a resize to ``size``.

    The crop height and width are each picked from ``scales × short side`` (values within
    3 pixels of the output size snap to it), with their scale indices at most ``max_distort``
    apart, so the aspect ratio changes a little. With ``fix_crop`` the crop sits at one of 5
    positions (4 corners, centre) or, with ``more_fix_crop``, 13 (adding the edge centres and
    the 4 quarter points); otherwise anywhere. One choice for every frame of the clip.

    Unlike the original code, corner offsets are exact (the original rounds the free space down
    to a multiple of 4, leaving the "right" corner up to 3 pixels short of the edge).

    Args:
        size: Output size, ``int`` (square) or ``(height, width)``.
        scales: Crop sides as fractions of the short side.
        max_distort: Largest difference between the scale indices of height and width.
        fix_crop: Restrict offsets to the fixed positions above.
        more_fix_crop: Use 13 fixed positions instead of 5.
    """

    _FIXED = ((0, 0), (4, 0), (0, 4), (4, 4), (2, 2))  # (x, y) in quarters of the free space
    _MORE = ((0, 2), (4, 2), (2, 4), (2, 0), (1, 1), (3, 1), (1, 3), (3, 3))

    def __init__(
        self,
        size: int | Sequence[int],
        scales: Sequence[float] = (1, 0.875, 0.75, 0.66),
        max_distort: int = 1,
        fix_crop: bool = True,
        more_fix_crop: bool = True,
        interpolation: v2.InterpolationMode | int = _BILINEAR,
        antialias: bool = True,
    ) -> None:
        super().__init__()
        self.size = _size_pair(size)
        scales = tuple(float(s) for s in scales)
        if not scales or any(not 0 < s <= 1 for s in scales):
            raise ValueError(f"scales={scales!r} must be non-empty, each in (0, 1]")
        if not isinstance(max_distort, int) or max_distort < 0:
            raise ValueError(f"max_distort={max_distort!r} must be an integer >= 0")
        self.scales = scales
        self.max_distort = max_distort
        self.fix_crop = bool(fix_crop)
        self.more_fix_crop = bool(more_fix_crop)
        self.interpolation = interpolation
        self.antialias = antialias

    def crop_sizes(self, height: int, width: int) -> list[tuple[int, int]]:
        """All ``(crop_h, crop_w)`` candidates for a ``height × width`` frame."""
        base = min(height, width)
        sides = [max(1, int(base * s)) for s in self.scales]
        crop_h = [self.size[0] if abs(x - self.size[0]) < 3 else x for x in sides]
        crop_w = [self.size[1] if abs(x - self.size[1]) < 3 else x for x in sides]
        return [
            (min(h, height), min(w, width))
            for i, h in enumerate(crop_h)
            for j, w in enumerate(crop_w)
            if abs(i - j) <= self.max_distort
        ]

    def fixed_offsets(
        self, height: int, width: int, crop_h: int, crop_w: int
    ) -> list[tuple[int, int]]:
        """The ``(top, left)`` positions a ``crop_h × crop_w`` crop may take with ``fix_crop``."""
        free_y, free_x = height - crop_h, width - crop_w
        grid = self._FIXED + (self._MORE if self.more_fix_crop else ())
        # k quarters of the free space, rounded half up: 0 and 4 are exactly the edges.
        return [((2 * ky * free_y + 4) // 8, (2 * kx * free_x + 4) // 8) for kx, ky in grid]

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        height, width = _query_size(flat_inputs)
        pairs = self.crop_sizes(height, width)
        crop_h, crop_w = pairs[int(torch.randint(len(pairs), ()))]
        if self.fix_crop:
            offsets = self.fixed_offsets(height, width, crop_h, crop_w)
            top, left = offsets[int(torch.randint(len(offsets), ()))]
        else:
            top = int(torch.randint(height - crop_h + 1, ()))
            left = int(torch.randint(width - crop_w + 1, ()))
        return {"top": top, "left": left, "height": crop_h, "width": crop_w}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return self._call_kernel(
            F.resized_crop,
            inpt,
            **params,
            size=list(self.size),
            interpolation=self.interpolation,
            antialias=self.antialias,
        )


class ThreeCrop(_VideoTransform):
    """Three ``size × size`` crops along the long side (start, centre, end), stacked first.

    Landscape frames give left / centre / right crops, portrait frames top / centre / bottom;
    the crops are centred on the short side. A ``T×C×H×W`` video becomes ``3×T×C×size×size``
    (still a :class:`~torchvision.tv_tensors.Video`, so later v2 transforms apply to all three).
    """

    _transformed_types = (tv_tensors.Video, tv_tensors.Image, torch.Tensor)

    def __init__(self, size: int) -> None:
        super().__init__()
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
            raise ValueError(f"size={size!r} must be a positive integer (square crops)")
        self.size = int(size)

    def boxes(self, height: int, width: int) -> list[tuple[int, int]]:
        """``(top, left)`` of the three crops for a ``height × width`` frame."""
        s = self.size
        if s > min(height, width):
            raise ValueError(
                f"ThreeCrop({s}) does not fit in {height}x{width} frames; resize the short side "
                f"to at least {s} first"
            )

        def mid(free: int) -> int:  # same rounding as v2.CenterCrop: middle crop == centre crop
            return round(free / 2.0)

        if width >= height:
            top = mid(height - s)
            return [(top, 0), (top, mid(width - s)), (top, width - s)]
        left = mid(width - s)
        return [(0, left), (mid(height - s), left), (height - s, left)]

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if isinstance(inpt, (tv_tensors.BoundingBoxes, tv_tensors.Mask)):
            raise ValueError("ThreeCrop supports videos and images only")
        s = self.size
        height, width = inpt.shape[-2:]
        crops = [inpt[..., t : t + s, x : x + s] for t, x in self.boxes(height, width)]
        out = torch.stack([c.as_subclass(torch.Tensor) for c in crops])
        return tv_tensors.wrap(out, like=inpt) if isinstance(inpt, tv_tensors.TVTensor) else out


class Contiguous(_VideoTransform):
    """Make videos and images contiguous in memory (``T×C×H×W`` order).

    The presets keep frames channels-last while they are uint8 (no copy from the reader, and
    torch's fast uint8 resize), then switch once they are float: ``Normalize`` broadcasts per
    channel about ten times faster on contiguous memory.
    """

    _transformed_types = (tv_tensors.Video, tv_tensors.Image, torch.Tensor)

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if isinstance(inpt, (tv_tensors.BoundingBoxes, tv_tensors.Mask)):
            return inpt
        out = inpt.as_subclass(torch.Tensor).contiguous()
        return tv_tensors.wrap(out, like=inpt) if isinstance(inpt, tv_tensors.TVTensor) else out


class ToLayout(nn.Module):
    """Final step: the model's layout, as a plain contiguous tensor.

    Input is a ``T×C×H×W`` video (or ``3×T×C×H×W`` after :class:`ThreeCrop`).

    - ``"CTHW"`` (3D CNNs): ``C×T×H×W`` (``3×C×T×H×W`` with three crops).
    - ``"KCHW"`` (TSN-style 2D models, ``K`` = frames): ``K×C×H×W`` (``3×K×C×H×W``).
    """

    def __init__(self, layout: str) -> None:
        super().__init__()
        if layout not in LAYOUTS:
            raise ValueError(f"layout={layout!r} is not valid; choose one of {LAYOUTS}")
        self.layout = layout

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        if video.ndim < 4:
            raise ValueError(
                f"expected a T×C×H×W video (or 3×T×C×H×W), got shape {tuple(video.shape)}"
            )
        x = video.as_subclass(torch.Tensor)
        if self.layout == "CTHW":
            x = x.transpose(-4, -3)
        return x.contiguous()

    def extra_repr(self) -> str:
        return f"layout={self.layout!r}"


# --------------------------------------------------------------------------------------------
# normalization


def normalize(mean: Sequence[float], std: Sequence[float], *, inplace: bool = False) -> v2.Compose:
    """uint8 → float32 in [0, 1] (``ToDtype(scale=True)``), then ``(x - mean) / std`` per channel.

    Works on ``T×C×H×W`` videos (and ``C×H×W`` images, and ``3×T×C×H×W`` three-crop stacks).
    A :class:`Contiguous` step between the two makes the normalization fast on channels-last
    frames. ``inplace=True`` saves one allocation but is only safe for uint8 input (for float
    input ``ToDtype`` and ``Contiguous`` may return the caller's tensor, which would then be
    overwritten); the presets use it, as their input is always uint8.
    """
    return v2.Compose(
        [
            v2.ToDtype(torch.float32, scale=True),
            Contiguous(),
            v2.Normalize(list(mean), list(std), inplace=inplace),
        ]
    )


def denormalize(
    tensor: torch.Tensor,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    layout: str = "CTHW",
    clamp: bool = False,
) -> torch.Tensor:
    """Undo the normalization (``x * std + mean``), e.g. to show a clip; float in ~[0, 1].

    Args:
        tensor: Normalized tensor in ``layout``, with any number of leading dimensions:
            ``C×T×H×W``, ``B×C×T×H×W``, ``3×C×T×H×W`` (CTHW) or ``K×C×H×W``, ``B×K×C×H×W``
            (KCHW, also right for a plain ``T×C×H×W`` clip).
        mean, std: What the tensor was normalized with (``spec.mean``, ``spec.std``).
        layout: ``"CTHW"`` (channels 4th from the end) or ``"KCHW"`` (3rd from the end).
        clamp: Clamp the result to ``[0, 1]`` for display.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r} is not valid; choose one of {LAYOUTS}")
    channel_dim = -4 if layout == "CTHW" else -3
    if tensor.ndim < -channel_dim:
        raise ValueError(
            f"a {layout} tensor needs >= {-channel_dim} dims, got {tuple(tensor.shape)}"
        )
    if len(mean) != len(std) or tensor.shape[channel_dim] != len(mean):
        raise ValueError(
            f"tensor of shape {tuple(tensor.shape)} has {tensor.shape[channel_dim]} channels at "
            f"dim {channel_dim} ({layout}), but mean/std have {len(mean)}/{len(std)} values; "
            "is the layout right?"
        )
    shape = [1] * tensor.ndim
    shape[channel_dim] = len(mean)
    x = tensor.as_subclass(torch.Tensor)
    if not x.is_floating_point():
        x = x.float()
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).reshape(shape)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).reshape(shape)
    out = x * s + m
    return out.clamp_(0, 1) if clamp else out
