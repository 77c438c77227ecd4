"""Training checkpoints: one file with everything needed to continue a run after a crash.

A checkpoint is a ``torch.save`` dict of plain values and tensors (so it loads with
``weights_only=True``): the model's and optimizer's state, the learning-rate schedule, the
mixed-precision scaler, every random number generator, the history and the epoch reached. It is
written to a temporary file beside the target and renamed into place, so a kill at any moment
leaves either the previous checkpoint or the new one, never a torn file.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from actionkit.models.io import atomic_save

__all__ = ["FORMAT", "atomic_save", "get_rng_state", "load_checkpoint", "set_rng_state"]

FORMAT = "actionkit-checkpoint"


def get_rng_state() -> dict[str, Any]:
    """The state of Python's, NumPy's and torch's (CPU and CUDA) generators, as plain values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.copy()), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`get_rng_state` captured."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy(), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by the learner (``weights_only=True``).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not an actionkit checkpoint, or it is damaged.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"{path} is not a readable checkpoint: {error}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path} is not an actionkit training checkpoint")
    return data
