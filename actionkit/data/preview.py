"""Pictures of dataset items: what a model is fed, back as frames you can look at.

:func:`show_batch` draws a few frames of each clip with its label (``VideoDataset.show_batch``);
:func:`clip_frames` turns one normalized clip back into displayable frames. Figures are
returned, never shown (``plt.show()`` is the notebook's business).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from actionkit.data.transforms import denormalize
from actionkit.spec import InputSpec
from actionkit.utils.fonts import font_families

__all__ = ["clip_frames", "show_batch"]


def clip_frames(video: torch.Tensor, spec: InputSpec) -> np.ndarray:
    """One normalized clip (C×T×H×W or K×C×H×W) back to displayable T×H×W×3 floats in [0, 1]."""
    video = denormalize(video.detach().float().cpu(), spec.mean, spec.std, layout=spec.layout)
    if spec.layout == "CTHW":
        video = video.permute(1, 0, 2, 3)  # T×C×H×W
    return video.clamp(0, 1).permute(0, 2, 3, 1).numpy()


def _items(batch: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    if isinstance(batch, Mapping):  # a collated batch
        return [
            {"video": batch["video"][i], "label": int(batch["label"][i])}
            for i in range(len(batch["label"]))
        ]
    return list(batch)


def _name(classes: Sequence[str], label: int) -> str:
    return classes[label] if 0 <= label < len(classes) else "unreadable"


def show_batch(
    batch: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    classes: Sequence[str],
    spec: InputSpec,
    frames: int = 4,
):
    """Plot a few frames of each clip with its label.

    Args:
        batch: Dataset items, or a batch collated by a DataLoader.
        classes: Class names for the labels.
        spec: The input spec the clips were made with (layout, mean and std).
        frames: Frames shown per clip, evenly spaced.

    Returns:
        The matplotlib Figure (one row per clip), titled in a font that has the glyphs of the
        class names (:func:`~actionkit.utils.fonts.font_families`).
    """
    import matplotlib.pyplot as plt

    items = _items(batch)
    names = [_name(classes, int(item["label"])) for item in items]
    family = font_families([*names, " · t=0123456789"])
    fig, axes = plt.subplots(
        len(items), frames, figsize=(2 * frames, 2 * len(items)), squeeze=False
    )
    for row, item, name in zip(axes, items, names, strict=True):
        video = item["video"]
        if video.ndim == 5:  # several clips: show the first
            video = video[0]
        clip = clip_frames(video, spec)
        picks = np.linspace(0, len(clip) - 1, frames).round().astype(int)
        for ax, t in zip(row, picks, strict=True):
            ax.imshow(clip[t])
            ax.set_axis_off()
            ax.set_title(f"{name} · t={t}", fontsize=8, fontfamily=family)
    fig.tight_layout()
    return fig
