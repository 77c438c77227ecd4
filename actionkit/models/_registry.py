"""The model names: ``register_model`` (a decorator), ``create_model`` and ``list_models``.

A plain dict from name to builder, filled as each model module is imported (timm's pattern).
:mod:`actionkit.models` imports every model module, so ``create_model`` knows every name as soon
as anything in :mod:`actionkit.models` is imported; an error inside a model module is an error,
never a silently missing model.

:func:`guess_arch` tells from a state_dict's keys and shapes which models it is for.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import torch

from actionkit.models import weights
from actionkit.models.base import VideoClassifier
from actionkit.models.weights import WeightsRecord

__all__ = [
    "create_model",
    "get_builder",
    "guess_arch",
    "list_models",
    "model_options",
    "register_model",
]

Builder = Callable[..., VideoClassifier]
B = TypeVar("B", bound=Builder)

_MODELS: dict[str, Builder] = {}

#: The keywords every builder takes (:func:`create_model` passes them through).
BUILDER_ARGS = ("num_classes", "pretrained", "weights", "progress")


def register_model(builder: B) -> B:
    """Make ``builder`` available to :func:`create_model` under its ``__name__``.

    A builder takes keyword arguments only, at least :data:`BUILDER_ARGS`.

    Raises:
        ValueError: the name is taken, or the builder lacks one of :data:`BUILDER_ARGS`.
    """
    name = builder.__name__
    if name in _MODELS and _MODELS[name] is not builder:
        raise ValueError(f"a model named {name!r} is already registered")
    missing = [a for a in BUILDER_ARGS if a not in inspect.signature(builder).parameters]
    if missing:
        raise ValueError(f"builder {name} does not take {', '.join(missing)}")
    _MODELS[name] = builder
    return builder


def list_models(pattern: str | None = None) -> list[str]:
    """Names :func:`create_model` accepts, sorted; ``pattern``: fnmatch pattern (``"tsm_*"``)."""
    names = sorted(_MODELS)
    return names if pattern is None else [n for n in names if fnmatch.fnmatchcase(n, pattern)]


def get_builder(name: str) -> Builder:
    """The builder registered as ``name``.

    Raises:
        ValueError: unknown name (the message suggests close matches and lists them all).
    """
    builder = _MODELS.get(name)
    if builder is None:
        close = difflib.get_close_matches(name, list(_MODELS), n=5, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown model {name!r}.{hint} Available: {', '.join(list_models())}")
    return builder


def model_options(name: str) -> tuple[str, ...]:
    """The keyword arguments the builder of ``name`` takes (:data:`BUILDER_ARGS` first)."""
    params = inspect.signature(get_builder(name)).parameters
    return BUILDER_ARGS + tuple(p for p in params if p not in BUILDER_ARGS)


def create_model(
    name: str,
    *,
    num_classes: int | None = None,
    pretrained: bool = True,
    weights: str | Path | WeightsRecord | None = None,
    progress: bool = True,
    **kwargs,
) -> VideoClassifier:
    """Build a model by name.

    Args:
        name: One of :func:`list_models`.
        num_classes: Outputs wanted; ``None`` keeps the pretrained head (and its class names).
            A different number keeps the pretrained backbone and puts a fresh head on it.
        pretrained: Load the published weights (downloaded once, hash-checked).
        weights: A local path or URL of a state_dict to load instead.
        progress: Show a download progress bar.
        **kwargs: The builder's own options (e.g. ``dropout``, ``classes``, ``num_segments``).

    Raises:
        ValueError: unknown name (the message suggests close matches), or an option the builder
            does not take (the message lists the ones it does).
    """
    builder = get_builder(name)
    options = model_options(name)
    unknown = sorted(set(kwargs) - set(options))
    if unknown:
        raise ValueError(
            f"{name} has no option {', '.join(map(repr, unknown))}; its options: "
            f"{', '.join(options)}"
        )
    return builder(
        num_classes=num_classes, pretrained=pretrained, weights=weights, progress=progress,
        **kwargs,
    )  # fmt: skip


# -- which architecture a state_dict is for -------------------------------------------------------
@functools.cache
def _signature(name: str) -> tuple[frozenset[tuple[str, tuple[int, ...]]], frozenset[str]]:
    """The (key, shape) pairs of ``name``'s state_dict but its classifier's, and those keys."""
    with torch.device("meta"):  # no memory, no initialisation cost, no weights
        model = create_model(name, pretrained=False)
    head = frozenset(f"{model.classifier_name}.{k}" for k in model.get_classifier().state_dict())
    body = frozenset(
        (k, tuple(v.shape))
        for k, v in model.state_dict().items()
        if k not in head and not k.endswith("num_batches_tracked")
    )
    return body, head


def guess_arch(state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """The registered models whose networks ``state_dict`` fits (any classifier size), sorted.

    Several names come back where networks are the same (TSN and TSM of one backbone, the four
    R(2+1)D-34); none where it fits no model.
    """
    found = []
    for name in list_models():
        try:
            body, head = _signature(name)
        except Exception:  # a builder that cannot build on the meta device: not guessable
            continue
        keys = frozenset(
            (k, tuple(v.shape))
            for k, v in state_dict.items()
            if k not in head and not k.endswith("num_batches_tracked")
        )
        if keys == body:
            found.append(name)
    return found


# The weights loader names the architecture of a checkpoint that does not fit; it sits below
# this module, so it is told how here.
weights.arch_guesser = guess_arch
