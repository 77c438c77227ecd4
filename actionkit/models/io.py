"""Save a model to one self-describing file and load it back without its original code path.

The file is a ``torch.save`` dict::

    {"format": "actionkit-model", "version": 1, "arch": "r2plus1d_34_8_ig65m",
     "arch_kwargs": {...}, "num_classes": 51, "classes": [...], "input_spec": {...},
     "state_dict": {...}, "extra": {...}}

:func:`load_model` rebuilds the network with ``create_model(arch, pretrained=False, ...)`` (no
network access), loads the weights strictly with ``weights_only=True`` and restores the class
names and the input spec. A file that is not a model file is refused with what it is instead: a
video or an image (told from its first bytes), a plain state_dict (and the model its keys fit),
or a training ``checkpoint.pt`` (which does not record the model's input spec and options: the
message points to the ``model.pt`` beside it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from actionkit.models._registry import create_model, guess_arch
from actionkit.models.base import VideoClassifier
from actionkit.models.weights import load_into, unreadable_reason
from actionkit.spec import InputSpec
from actionkit.utils.atomic import atomic_path

__all__ = [
    "FORMAT",
    "MODEL_FILE_HELP",
    "VERSION",
    "atomic_save",
    "load_model",
    "read_model_file",
    "save_model",
]

FORMAT = "actionkit-model"
VERSION = 1
#: ``actionkit.train.checkpoint.FORMAT`` (the train layer sits above this one).
_CHECKPOINT_FORMAT = "actionkit-checkpoint"

#: What a model file is, for messages.
MODEL_FILE_HELP = (
    "A model file is the model.pt that training (`actionkit train`) writes in its run folder, "
    "or a file written by actionkit.models.save_model"
)


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
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not an actionkit model file (the message says what it is: a
            video, an image, a state_dict, a training checkpoint...) or is from a newer version.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such model file: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise ValueError(
            f"{path} is not an actionkit model file: {unreadable_reason(path, err)}. "
            f"{MODEL_FILE_HELP}."
        ) from err
    if isinstance(payload, dict) and payload.get("format") == _CHECKPOINT_FORMAT:
        raise ValueError(_training_checkpoint_message(path, payload))
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(
            f"{path} is not an actionkit model file: {_what_it_holds(payload, path)} "
            f"{MODEL_FILE_HELP}."
        )
    if payload.get("version", 0) > VERSION:
        raise ValueError(
            f"{path} was written by a newer actionkit (format version {payload['version']}); "
            f"this one reads version {VERSION}"
        )
    return payload


def _what_it_holds(payload: Any, path: Path) -> str:
    """What a ``torch.load``-able file that is no model file holds, and how to load it."""
    if not isinstance(payload, dict) or not payload:
        return f"it holds a {type(payload).__name__}, not a saved model."
    tensors = {k: v for k, v in payload.items() if isinstance(v, torch.Tensor)}
    if len(tensors) < len(payload):
        return f"it holds a dict with the keys {', '.join(map(str, list(payload)[:6]))}."
    arch = guess_arch(tensors)
    if not arch:
        return (
            "it holds a plain state_dict (weights without the architecture, classes and input "
            "spec); load it with create_model(name, weights=path) for the model it was saved from."
        )
    return (
        f"it holds a plain state_dict of a {' / '.join(arch)} model (weights without the "
        f"classes and input spec); load it with create_model({arch[0]!r}, weights={str(path)!r})."
    )


def _training_checkpoint_message(path: Path, payload: dict[str, Any]) -> str:
    """Why a training checkpoint is not loaded as a model, and which file to load instead."""
    epoch = payload.get("fit_epoch")
    what = f"a training checkpoint of {payload.get('arch', 'a model')}" + (
        f" after epoch {epoch}" if epoch is not None else ""
    )
    found = [
        p for p in (path.with_name("model.pt"), path.with_name("best_model.pt")) if p.is_file()
    ]
    if found:
        instead = f"load {' or '.join(map(str, found))} instead (the model that run wrote)"
    else:
        instead = (
            f"the run has not written {path.with_name('model.pt')} yet: continue it with "
            f"`actionkit train ... --out {path.parent} --resume`, which writes it when it ends"
        )
    return (
        f"{path} is {what}, written to resume training, not a model file: it does not record "
        f"the model's input spec and options, so it cannot be used as the model. {instead}."
    )


def load_model(
    path: str | Path, map_location: Any = "cpu", *, return_extra: bool = False
) -> VideoClassifier | tuple[VideoClassifier, dict]:
    """Rebuild a model saved with :func:`save_model` (in eval mode).

    Args:
        path: The model file (a ``model.pt`` from training, or one :func:`save_model` wrote).
        map_location: Where to put the weights (as for ``torch.load``).
        return_extra: Return ``(model, extra)``, with what was saved alongside.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: it is not a model file (see :func:`read_model_file`).
        WeightsError: its weights do not fit the architecture it names.
    """
    payload = read_model_file(path, map_location=map_location)
    model = create_model(
        payload["arch"],
        pretrained=False,
        num_classes=payload["num_classes"],
        **payload.get("arch_kwargs", {}),
    )
    load_into(model, payload["state_dict"], source=str(path), arch=payload["arch"])
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
