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
from actionkit.train.config import TrainConfig

__all__ = [
    "FORMAT",
    "atomic_save",
    "get_rng_state",
    "load_checkpoint",
    "resume_config",
    "set_rng_state",
]

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


def resume_config(
    state: dict[str, Any], changes: dict[str, Any]
) -> tuple[TrainConfig, dict[str, Any]]:
    """The settings to resume the run ``state`` with, given the ``changes`` asked for
    (``epochs``: the run's total; ``lr``): the saved run's own, or, for more epochs than a
    finished run trained, an extension (its extra epochs, ``state`` marked ``extend``).

    Raises:
        ValueError: a different ``lr``; other ``epochs`` for an unfinished run; no more
            epochs than a finished run has.
    """
    cfg = TrainConfig.from_dict(state["config"])
    done = len(state["history"])
    total = state.get("epochs_before", 0) + cfg.epochs
    if changes.get("lr", cfg.lr) != cfg.lr:
        raise ValueError(
            f"resume continues the saved run at its lr {cfg.lr}; lr={changes['lr']} differs: "
            "drop it, or start a new run"
        )
    wanted = changes.get("epochs", total)
    if wanted == total:
        return cfg, state
    if not state.get("finished", state["fit_epoch"] >= cfg.epochs):
        raise ValueError(
            f"the saved run stopped after epoch {done} of {total}; epochs={wanted} differs: "
            f"resume it without epochs to finish it, then resume with epochs={wanted} to extend it"
        )
    if wanted <= done:
        raise ValueError(
            f"the saved run has finished {done} epochs; epochs={wanted} must be more than that "
            "to extend it"
        )
    return cfg.replace(epochs=wanted - done), {**state, "extend": True}
