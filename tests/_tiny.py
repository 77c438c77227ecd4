"""Tiny real models and generated videos shared by the training tests and their job scripts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from actionkit.models import create_model
from actionkit.video import write_video

CLASSES = ("bright", "dark")


def make_bright_dark(root: Path, per_class: int = 8, frames: int = 12, seed: int = 0) -> Path:
    """Two classes anyone can tell apart: bright noisy clips and dark noisy clips (32×24)."""
    rng = np.random.default_rng(seed)
    for label, base in zip(CLASSES, (190, 60), strict=True):
        folder = Path(root) / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            noise = rng.integers(-40, 40, size=(frames, 24, 32, 3))
            video = np.clip(base + noise, 0, 255).astype(np.uint8)
            write_video(folder / f"{label}_{i:02d}.mp4", video, fps=12)
    return Path(root)


def tiny_model(num_classes: int = 2, pretrained: bool = True, **kwargs):
    """The demo's TSM EfficientNet-Lite0 (real ImageNet weights) at 4 segments of 32×32."""
    model = create_model(
        "tsm_efficientnet_lite0",
        num_classes=num_classes,
        num_segments=4,
        pretrained=pretrained,
        **kwargs,
    )
    model.input_spec = model.input_spec.replace(crop_size=32, resize=36)
    return model


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    """One hash over every tensor of a state_dict, in key order."""
    h = hashlib.sha256()
    for key in sorted(state):
        h.update(key.encode())
        h.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


#: The SGD settings (the R(2+1)D recipe's) the learner tests were tuned with: TSM's own recipe
#: (AdamW) is measured elsewhere; these tests check the loop, not the recipe.
SGD = {"optimizer": "sgd", "backbone_lr_mult": 0.1, "momentum": 0.95, "channels_last": False}
