"""Pictures of what the clip transforms and the frame sampling do, for notebooks and for checking
a preset by eye (``notebooks/10_video_transformation.ipynb``).

Every crop drawn is the transform's own: its random parameters are drawn once, as the transform
draws them when called (``make_params``), and the transform is then applied with exactly those
parameters, so the box drawn on the input frame is the region the output shows, on every frame
of the clip. The sampling figure draws the indices :mod:`actionkit.data.sampling` returns.

Example::

    crops = draw_crops(v2.RandomResizedCrop(112), frames, n=4, seed=0)
    show_crops(frames, crops)                 # the 4 boxes on frame 0, and the 4 crops
    show_same_crop(frames, crops[0])          # one box on frames across the clip
    plot_sampling(120, num_segments=8, clip_len=8, step=2)

Figures are returned, never shown (``plt.show()`` is the notebook's business).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torchvision.transforms import v2

from actionkit.data import sampling
from actionkit.data.transforms import ThreeCrop, denormalize, normalize, to_video
from actionkit.spec import InputSpec

__all__ = [
    "Crop",
    "draw_crops",
    "draw_params",
    "draw_segments",
    "plot_sampling",
    "show_color_jitter",
    "show_crops",
    "show_frames",
    "show_normalization",
    "show_same_crop",
]


@dataclass(frozen=True)
class Crop:
    """One draw of a cropping transform: the box on the input frames and what came out.

    Attributes:
        top, left, height, width: The box, in pixels of the input frames.
        frames: The transform's output for the whole clip, ``T×h×w×3`` uint8.
        params: The random parameters drawn (empty for a deterministic crop).
    """

    top: int
    left: int
    height: int
    width: int
    frames: np.ndarray
    params: dict[str, Any]


def _frames_hwc(video: torch.Tensor) -> np.ndarray:
    """A ``T×3×H×W`` uint8 video as ``T×H×W×3`` numpy frames."""
    return video.as_subclass(torch.Tensor).permute(0, 2, 3, 1).contiguous().numpy()


def draw_params(
    transform: v2.Transform, frames: np.ndarray, n: int = 1, seed: int = 0
) -> list[tuple[dict[str, Any], np.ndarray]]:
    """``n`` draws of a random v2 transform on a clip: its parameters and its output.

    The parameters come from the transform's own ``make_params`` (one draw for the whole clip)
    and the output from its ``transform`` with those parameters, under ``torch`` seeded with
    ``seed`` (the caller's random state is left as it was).

    Args:
        transform: A torchvision v2 transform (or one of :mod:`actionkit.data.transforms`).
        frames: ``T×H×W×3`` uint8 RGB frames (a single ``H×W×3`` frame is a clip of one).
        n: Draws.
        seed: Seed of the draws.

    Returns:
        ``(params, output frames T×h×w×3 uint8)`` per draw.
    """
    video = to_video(_as_clip(frames))
    make = getattr(transform, "make_params", None) or transform._get_params
    apply = getattr(transform, "transform", None) or transform._transform
    out = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _ in range(n):
            params = make([video])
            out.append((params, _frames_hwc(apply(video, params))))
    return out


def _as_clip(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(
            f"frames must be uint8 T×H×W×3 (or one H×W×3 frame), got {frames.dtype} {frames.shape}"
        )
    return frames


def draw_crops(
    transform: v2.Transform, frames: np.ndarray, n: int = 1, seed: int = 0
) -> list[Crop]:
    """Where a cropping transform cuts a clip: ``n`` draws with their boxes and outputs.

    Args:
        transform: ``v2.RandomResizedCrop``, ``v2.RandomCrop``,
            :class:`~actionkit.data.transforms.MultiScaleCrop` (random: ``n`` draws),
            ``v2.CenterCrop`` or :class:`~actionkit.data.transforms.ThreeCrop` (fixed: one
            box, or the three boxes, whatever ``n``).
        frames: ``T×H×W×3`` uint8 frames.
        n: Draws of a random crop.
        seed: Seed of the draws.

    Raises:
        ValueError: a transform that does not crop.
    """
    clip = _as_clip(frames)
    height, width = clip.shape[1:3]
    if isinstance(transform, ThreeCrop):
        side = transform.size
        return [
            Crop(top, left, side, side, clip[:, top : top + side, left : left + side].copy(), {})
            for top, left in transform.boxes(height, width)
        ]
    if isinstance(transform, v2.CenterCrop):
        ch, cw = transform.size
        top, left = round((height - ch) / 2.0), round((width - cw) / 2.0)
        return [Crop(top, left, ch, cw, _frames_hwc(transform(to_video(clip))), {})]
    crops = []
    for params, out in draw_params(transform, clip, n, seed):
        if not {"top", "left", "height", "width"} <= params.keys():
            raise ValueError(
                f"{type(transform).__name__} does not crop (its parameters are "
                f"{sorted(params)}); give RandomResizedCrop, RandomCrop, MultiScaleCrop, "
                "CenterCrop or ThreeCrop"
            )
        box = (int(params[k]) for k in ("top", "left", "height", "width"))
        crops.append(Crop(*box, frames=out, params=params))
    return crops


# --------------------------------------------------------------------------------------------
# figures


def _box(ax, crop: Crop, colour: str, label: str | None = None):
    from matplotlib.patches import Rectangle

    # pixel (row r, column c) covers [c - 0.5, c + 0.5] in imshow coordinates
    rect = Rectangle(
        (crop.left - 0.5, crop.top - 0.5), crop.width, crop.height,
        fill=False, edgecolor=colour, linewidth=2,
    )  # fmt: skip
    ax.add_patch(rect)
    if label:
        ax.text(
            crop.left + 2, crop.top + 2, label, color="white", va="top", fontsize=8,
            bbox={"facecolor": colour, "pad": 1, "linewidth": 0},
        )  # fmt: skip
    return rect


def show_crops(frames: np.ndarray, crops: Sequence[Crop], *, frame: int = 0, title: str = ""):
    """The crop boxes on one input frame, then each crop's output of that frame.

    Args:
        frames: The input clip, ``T×H×W×3`` uint8.
        crops: From :func:`draw_crops` on these frames.
        frame: Which frame to show.
        title: Figure title.

    Returns:
        The Figure: ``1 + len(crops)`` axes; the first holds one rectangle per crop (the same
        colour as its output's frame), each output axes is titled with its box and size.
    """
    import matplotlib.pyplot as plt

    clip = _as_clip(frames)
    fig, axes = plt.subplots(1, 1 + len(crops), figsize=(3 * (1 + len(crops)), 3), squeeze=False)
    axes = axes[0]
    axes[0].imshow(clip[frame])
    axes[0].set_title(f"input {clip.shape[2]}×{clip.shape[1]}", fontsize=9)
    for k, (ax, crop) in enumerate(zip(axes[1:], crops, strict=True)):
        _box(axes[0], crop, f"C{k % 10}", str(k + 1))
        ax.imshow(crop.frames[frame])
        h, w = crop.frames.shape[1:3]
        ax.set_title(
            f"{k + 1}: {crop.width}×{crop.height} at ({crop.left}, {crop.top}) → {w}×{h}",
            fontsize=8,
        )
        for spine in ax.spines.values():
            spine.set_edgecolor(f"C{k % 10}")
            spine.set_linewidth(3)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].set_axis_off()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_same_crop(frames: np.ndarray, crop: Crop, *, times: int = 4):
    """One crop across the clip: the same box on frames spread over time, the outputs below.

    Returns:
        The Figure: two rows of ``times`` axes (input frames with the box; output frames), the
        frames at ``linspace(0, T - 1, times)``.
    """
    import matplotlib.pyplot as plt

    clip = _as_clip(frames)
    picks = np.linspace(0, len(clip) - 1, times).round().astype(int)
    fig, axes = plt.subplots(2, times, figsize=(2.6 * times, 4.6), squeeze=False)
    for col, t in enumerate(picks):
        axes[0, col].imshow(clip[t])
        _box(axes[0, col], crop, "C3")
        axes[0, col].set_title(f"input, frame {t}", fontsize=9)
        axes[1, col].imshow(crop.frames[t])
        axes[1, col].set_title(f"output, frame {t}", fontsize=9)
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.suptitle(
        f"one box for the whole clip: {crop.width}×{crop.height} at ({crop.left}, {crop.top})"
    )
    fig.tight_layout()
    return fig


def show_frames(
    images: Sequence[np.ndarray],
    titles: Sequence[str],
    *,
    same_scale: bool = False,
    title: str = "",
):
    """A row of images with their titles.

    Args:
        images: ``H×W×3`` images (uint8, or float in [0, 1]).
        titles: One per image.
        same_scale: Draw every image at the same pixel scale (a smaller image looks smaller),
            e.g. to compare sizes before and after a resize.
        title: Figure title.

    Returns:
        The Figure, one axes per image.
    """
    import matplotlib.pyplot as plt

    if len(images) != len(titles):
        raise ValueError(f"{len(images)} images but {len(titles)} titles")
    fig, axes = plt.subplots(1, len(images), figsize=(3 * len(images), 3), squeeze=False)
    top = max(img.shape[0] for img in images), max(img.shape[1] for img in images)
    for ax, image, name in zip(axes[0], images, titles, strict=True):
        ax.imshow(image)
        ax.set_title(name, fontsize=9)
        if same_scale:
            ax.set_xlim(-0.5, top[1] - 0.5)
            ax.set_ylim(top[0] - 0.5, -0.5)
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            ax.set_axis_off()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_color_jitter(
    frames: np.ndarray, jitter: v2.ColorJitter, n: int = 4, *, seed: int = 0, frame: int = 0
):
    """The input frame and ``n`` draws of a colour jitter, each titled with its factors.

    Returns:
        The Figure: ``1 + n`` axes, the input first.
    """
    clip = _as_clip(frames)
    images, titles = [clip[frame]], ["input"]
    for params, out in draw_params(jitter, clip, n, seed):
        factors = [
            f"{name[:3]} {params[f'{name}_factor']:.2f}"
            for name in ("brightness", "contrast", "saturation", "hue")
            if params.get(f"{name}_factor") is not None
        ]
        images.append(out[frame])
        titles.append(", ".join(factors))
    return show_frames(images, titles, title="colour jitter: one draw per clip")


def show_normalization(frames: np.ndarray, spec: InputSpec, *, frame: int = 0):
    """A frame, its normalized channels (what the model sees) and the frame recovered.

    Returns:
        The Figure: the input, one axes per channel (``(x - mean) / std`` with a colour bar)
        and the denormalized frame, titled with its largest difference from the input.
    """
    import matplotlib.pyplot as plt

    clip = _as_clip(frames)
    normalized = normalize(spec.mean, spec.std)(to_video(clip[frame : frame + 1]))[0]  # 3×H×W
    back = denormalize(normalized, spec.mean, spec.std, layout="KCHW", clamp=True)
    back = back.permute(1, 2, 0).numpy()
    error = np.abs(back * 255 - clip[frame].astype(np.float32)).max()
    fig, axes = plt.subplots(1, 5, figsize=(16, 3))
    axes[0].imshow(clip[frame])
    axes[0].set_title("input (uint8)", fontsize=9)
    for c, name in enumerate("RGB"):
        image = axes[1 + c].imshow(normalized[c].numpy(), cmap="coolwarm", vmin=-2.5, vmax=2.5)
        fig.colorbar(image, ax=axes[1 + c], fraction=0.046, pad=0.04)
        axes[1 + c].set_title(f"{name}: (x - {spec.mean[c]:.3f}) / {spec.std[c]:.3f}", fontsize=9)
    axes[4].imshow(back)
    axes[4].set_title(f"back: x * std + mean (max error {error:.2f}/255)", fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def plot_sampling(
    num_frames: int,
    *,
    num_segments: int = 8,
    clip_len: int = 8,
    step: int = 2,
    num_clips: int = 3,
    draws: int = 2,
    seed: int = 0,
):
    """Which frames TSN segment sampling and dense clips read, on one time axis.

    Rows, top to bottom: ``draws`` TSN training draws (one random frame in each of the
    ``num_segments`` equal parts), the TSN test sampling (the part centres), ``draws`` dense
    training clips (``clip_len`` frames ``step`` apart at a random start) and the ``num_clips``
    uniformly spaced dense test clips. Dashed lines mark the segment boundaries.

    Returns:
        The Figure: one axes, one scatter per row (in the order above, its points at the row's
        frame indices), the rows named on the y axis.
    """
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    rows: list[tuple[str, np.ndarray]] = []
    for k in range(draws):
        picked = sampling.segment_frames(num_frames, num_segments, train=True, rng=rng)
        rows.append((f"TSN train, draw {k + 1}", picked.indices))
    rows.append(
        ("TSN test", sampling.segment_frames(num_frames, num_segments, train=False).indices)
    )
    for k in range(draws):
        clip = sampling.random_clip(num_frames, clip_len, step, rng=rng)
        rows.append((f"dense train, draw {k + 1}", clip.indices))
    test = sampling.uniform_clips(num_frames, clip_len, step, num_clips=num_clips)
    rows += [(f"dense test, clip {k + 1}", idx) for k, idx in enumerate(test.indices)]

    fig, ax = plt.subplots(figsize=(10, 0.35 * len(rows) + 1.2))
    for y, (name, indices) in enumerate(rows):
        colour = "C0" if name.startswith("TSN") else "C1"
        ax.scatter(indices, np.full(len(indices), y), marker="|", s=200, color=colour)
    for edge in np.arange(1, num_segments) * num_frames / num_segments:
        ax.axvline(edge - 0.5, color="grey", linestyle="--", linewidth=0.8)
    ax.set_yticks(range(len(rows)), labels=[name for name, _ in rows], fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(-0.5, num_frames - 0.5)
    ax.set_xlabel(f"frame (of {num_frames})")
    ax.set_title(
        f"TSN: {num_segments} segments, one frame each; dense: {clip_len} frames, step {step}"
    )
    fig.tight_layout()
    return fig


def draw_segments(ax, segments: Sequence[tuple[float, float, str]], *, alpha: float = 0.2):
    """Shade known segments ``(start, end, label)`` (seconds) on a timeline's axes.

    Each span takes the colour of the line of the same label already on ``ax`` (as
    ``Timeline.plot`` draws one per class), grey when there is none, and its label is written
    at the top.

    Returns:
        The spans drawn (matplotlib patches), in the order of ``segments``.
    """
    colours = {line.get_label(): line.get_color() for line in ax.get_lines()}
    spans = []
    for start, end, label in segments:
        colour = colours.get(label, "grey")
        spans.append(ax.axvspan(start, end, color=colour, alpha=alpha, linewidth=0))
        ax.text(
            (start + end) / 2,
            0.98,
            label,
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="top",
            fontsize=7,
            color=colour,
        )
    return spans
