"""What a model's :class:`~actionkit.spec.InputSpec` means for the data: frames and transforms.

The one place that turns a spec into

* the frame indices of a sample (:func:`select_frames`): a random clip or TSN segments with a
  random offset in training, uniformly spaced clips or segment centres at test time; the dataset,
  :func:`~actionkit.inference.predict` and the timeline all read frames through it;
* the transforms (:func:`train_transform`, :func:`eval_transform`): ``T×H×W×3`` uint8 frames in,
  a normalized float tensor in the spec's layout out.

Example::

    >>> spec = InputSpec(clip_len=8, crop_size=112, resize=128)
    >>> tf = train_transform(spec, crop="random")
    >>> tf(np.zeros((8, 128, 171, 3), np.uint8)).shape    # C, T, H, W
    torch.Size([3, 8, 112, 112])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torchvision.transforms import v2

from actionkit.data import sampling
from actionkit.data.transforms import (
    CROPS,
    MultiScaleCrop,
    ResizeShortSide,
    ThreeCrop,
    ToLayout,
    ToVideo,
    normalize,
)
from actionkit.spec import InputSpec

__all__ = ["default_crop", "eval_transform", "select_frames", "train_transform"]


# --------------------------------------------------------------------------------------------
# frames


def select_frames(
    num_frames: int,
    spec: InputSpec,
    *,
    train: bool = False,
    num_clips: int = 1,
    rng: np.random.Generator | None = None,
) -> sampling.FrameSelection:
    """The frame indices one sample reads from a video of ``num_frames`` frames.

    Args:
        num_frames: Frames in the video.
        spec: The model's input spec.
        train: A random training sample (``rng`` needed) instead of the test clips.
        num_clips: Test clips (ignored in training). For 3D models (``CTHW``) uniformly spaced
            clips of ``clip_len`` frames ``frame_step`` apart, indices ``(num_clips, T)``; for
            segment models (``KCHW``) the segment centres, indices ``(K·clip_len,)``, and with
            ``num_clips > 1`` that sampling shifted to evenly spread offsets, ``(num_clips, K·L)``.
        rng: The generator of the random draws (training only).
    """
    if spec.uses_segments:
        if train or num_clips == 1:
            return sampling.segment_frames(
                num_frames, spec.num_segments, spec.clip_len, spec.frame_step,
                train=train, rng=rng,
            )  # fmt: skip
        return _segment_test_clips(num_frames, spec, num_clips)
    if train:
        return sampling.random_clip(num_frames, spec.clip_len, spec.frame_step, rng=rng)
    return sampling.uniform_clips(num_frames, spec.clip_len, spec.frame_step, num_clips=num_clips)


def _segment_test_clips(
    num_frames: int, spec: InputSpec, num_clips: int
) -> sampling.FrameSelection:
    """``num_clips`` TSN test samples: the K segments read at evenly spread offsets."""
    base = sampling.segment_frames(
        num_frames, spec.num_segments, spec.clip_len, spec.frame_step, train=False
    )
    seg = num_frames / spec.num_segments
    shifts = ((np.arange(num_clips) + 0.5) / num_clips - 0.5) * seg
    clips = np.clip(np.round(base.indices[None, :] + shifts[:, None]), 0, num_frames - 1)
    return sampling.FrameSelection(clips.astype(np.int64), base.fill)


# --------------------------------------------------------------------------------------------
# transforms


def default_crop(spec: InputSpec) -> str:
    """The usual training crop of a model family: TSN's multi-scale corner crops for segment
    models, random resized crops for 3D models."""
    return "multiscale" if spec.uses_segments else "random_resized"


def train_transform(
    spec: InputSpec,
    *,
    crop: str = "random_resized",
    flip: bool = True,
    color_jitter: float = 0.0,
    scale: tuple[float, float] = (0.25, 1.0),
    hue: float = 0.0,
) -> Callable[[np.ndarray | torch.Tensor], torch.Tensor]:
    """Training preset: ``T×H×W×3`` uint8 → normalized float tensor in ``spec.layout``.

    Steps: resize the short side to ``spec.resize`` (free when the decoder did it), crop to
    ``spec.crop_size`` (one random draw per clip), optional flip and colour jitter, scale to
    [0, 1] and normalize with ``spec.mean``/``spec.std``, reorder to the layout.

    Args:
        spec: The model's input spec.
        crop: ``"random_resized"`` (random area in ``scale`` of the frame, random aspect, resized
            to the crop size), ``"multiscale"`` (TSN's :class:`MultiScaleCrop`) or ``"random"``
            (a plain random ``crop_size`` square, the R(2+1)D / C3D recipe).
        flip: Random horizontal flip with probability 0.5. **Turn it off for classes defined by
            left/right direction** (swiping left vs right...), or the flipped clips teach the
            wrong label.
        color_jitter: Strength ``s`` of brightness/contrast/saturation jitter (each factor in
            ``[1 - s, 1 + s]``, one draw per clip); 0 disables it. Applied to the float crop,
            about 2 ms per 16×112×112 clip on one CPU thread.
        scale: Area range of ``"random_resized"`` crops (ignored by the other crops).
        hue: Hue jitter in ``[-hue, hue]`` (at most 0.5); 0 disables it. Hue is the slow part of
            colour jitter (RGB→HSV→RGB, about 15 ms per 16×112×112 clip on one CPU thread), so
            it is separate from ``color_jitter`` and off by default.

    Returns:
        A :class:`torchvision.transforms.v2.Compose` (an ``nn.Module``) drawing its random
        parameters from torch's global RNG (``torch.manual_seed`` makes it reproducible).
    """
    if not isinstance(spec, InputSpec):
        raise ValueError(f"spec must be an InputSpec, got {type(spec).__name__}")
    if crop not in CROPS:
        raise ValueError(f"crop={crop!r} is not valid; choose one of {CROPS}")
    if not isinstance(color_jitter, (int, float)) or not 0 <= color_jitter <= 1:
        raise ValueError(f"color_jitter={color_jitter!r} must be a number in [0, 1]")
    if not isinstance(hue, (int, float)) or not 0 <= hue <= 0.5:
        raise ValueError(f"hue={hue!r} must be a number in [0, 0.5]")

    steps: list[Callable[..., Any]] = [ToVideo(), ResizeShortSide(spec.resize)]
    if crop == "random_resized":
        steps.append(v2.RandomResizedCrop(spec.crop_size, scale=tuple(scale), antialias=True))
    elif crop == "multiscale":
        steps.append(MultiScaleCrop(spec.crop_size))
    else:
        steps.append(v2.RandomCrop(spec.crop_size))
    if flip:
        steps.append(v2.RandomHorizontalFlip())
    to_float, contiguous, norm = normalize(spec.mean, spec.std, inplace=True).transforms
    steps += [to_float, contiguous]
    if color_jitter > 0 or hue > 0:
        # On contiguous float frames: 2-3x faster than on uint8 (which converts back and forth).
        s = float(color_jitter)
        steps.append(
            v2.ColorJitter(
                brightness=s or None, contrast=s or None, saturation=s or None, hue=hue or None
            )
        )
    steps += [norm, ToLayout(spec.layout)]
    return v2.Compose(steps)


def eval_transform(
    spec: InputSpec, *, three_crop: bool = False
) -> Callable[[np.ndarray | torch.Tensor], torch.Tensor]:
    """Evaluation preset (deterministic): resize short side to ``spec.resize``, centre crop.

    With ``three_crop=True`` the centre crop is replaced by :class:`ThreeCrop` and the output
    gets a leading axis of 3: ``3×C×T×H×W`` (CTHW) or ``3×K×C×H×W`` (KCHW).
    """
    if not isinstance(spec, InputSpec):
        raise ValueError(f"spec must be an InputSpec, got {type(spec).__name__}")
    crop = ThreeCrop(spec.crop_size) if three_crop else v2.CenterCrop(spec.crop_size)
    return v2.Compose(
        [
            ToVideo(),
            ResizeShortSide(spec.resize),
            crop,
            *normalize(spec.mean, spec.std, inplace=True).transforms,
            ToLayout(spec.layout),
        ]
    )
