"""Save a model to one self-describing file and load it back without its original code path.

The file is a ``torch.save`` dict::

    {"format": "actionkit-model", "version": 1, "arch": "r2plus1d_34_8_ig65m",
     "arch_kwargs": {...}, "num_classes": 51, "classes": [...], "input_spec": {...},
     "state_dict": {...}, "extra": {...}}

:func:`load_model` rebuilds the network with ``create_model(arch, pretrained=False, ...)`` (no
network access), loads the weights strictly with ``weights_only=True`` and restores the class
names and the input spec.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from actionkit.models._registry import create_model
from actionkit.models.base import VideoClassifier
from actionkit.spec import InputSpec
from actionkit.utils.atomic import atomic_path

__all__ = ["FORMAT", "VERSION", "atomic_save", "load_model", "read_model_file", "save_model"]

FORMAT = "actionkit-model"
VERSION = 1


def save_model(model: VideoClassifier, path: str | Path, *, extra: dict | None = None) -> Path:
    """Write ``model`` (architecture, weights, classes, input spec) to ``path``.

    ``extra`` is stored alongside (e.g. training history); keep it to plain Python values and
    tensors so it loads with ``weights_only=True``. The file is written to a temporary file in the
    same folder and renamed into place, so an existing file survives a failed save.
    """
    arch = getattr(model, "arch", "")
    if not arch:
        raise ValueError(
            f"{type(model).__name__} has no .arch: only models made by create_model can be saved"
        )
    payload: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "arch": arch,
        "arch_kwargs": dict(getattr(model, "arch_kwargs", {}) or {}),
        "num_classes": int(model.num_classes),
        "classes": list(model.classes) if model.classes is not None else None,
        "input_spec": model.input_spec.to_dict(),
        "state_dict": {
            k: v.detach().cpu() if isinstance(v, torch.Tensor) else v
            for k, v in model.state_dict().items()
        },
        "extra": dict(extra or {}),
    }
    return atomic_save(payload, path)


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save(obj, path)`` through a temporary file in the same folder and a rename.

    A crash or a kill at any moment leaves the previous file or the new one, never a torn file.
    """
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def read_model_file(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """The raw contents of a file written by :func:`save_model`, checked.

    Raises:
        ValueError: the file is not an actionkit model file (or is from a newer version).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such model file: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise ValueError(
            f"{path} is not an actionkit model file (it could not be read: "
            f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(
            f"{path} is not an actionkit model file (save one with actionkit.models.save_model; "
            f"plain state_dicts load with create_model(name, weights=path))"
        )
    if payload.get("version", 0) > VERSION:
        raise ValueError(
            f"{path} was written by a newer actionkit (format version {payload['version']}); "
            f"this one reads version {VERSION}"
        )
    return payload


def load_model(
    path: str | Path, map_location: Any = "cpu", *, return_extra: bool = False
) -> VideoClassifier | tuple[VideoClassifier, dict]:
    """Rebuild a model saved with :func:`save_model` (in eval mode).

    With ``return_extra``, returns ``(model, extra)``.
    """
    payload = read_model_file(path, map_location=map_location)
    model = create_model(
        payload["arch"],
        pretrained=False,
        num_classes=payload["num_classes"],
        **payload.get("arch_kwargs", {}),
    )
    model.load_state_dict(payload["state_dict"], strict=True)
    model.classes = list(payload["classes"]) if payload.get("classes") is not None else None
    model.input_spec = InputSpec.from_dict(payload["input_spec"])
    if (
        map_location is not None
        and not callable(map_location)
        and not isinstance(map_location, dict)
    ):
        model.to(map_location)
    model.eval()
    return (model, payload.get("extra", {})) if return_extra else model
