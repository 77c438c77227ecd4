"""Video classification models: ``create_model(name, ...)`` and ``list_models()``.

Every model is a :class:`~actionkit.models.base.VideoClassifier` carrying its ``input_spec``
and, where the weights have them, its ``classes``::

    model = create_model("r2plus1d_34_8_ig65m", num_classes=51)   # IG-65M backbone, new head
    model = create_model("r2plus1d_18", pretrained=False)          # random weights
    list_models("r2plus1d_*")
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from pathlib import Path

from actionkit.models.base import VideoClassifier
from actionkit.models.io import load_model, save_model
from actionkit.models.r2plus1d import (
    r2plus1d_18,
    r2plus1d_34_8_ig65m,
    r2plus1d_34_8_kinetics,
    r2plus1d_34_32_ig65m,
    r2plus1d_34_32_kinetics,
)
from actionkit.models.torchvision_video import mc3_18, mvit_v2_s, r3d_18, s3d, swin3d_t
from actionkit.models.weights import WeightsError, WeightsRecord, cache_dir, download

__all__ = [
    "MODELS",
    "VideoClassifier",
    "WeightsError",
    "WeightsRecord",
    "cache_dir",
    "create_model",
    "download",
    "list_models",
    "load_model",
    "save_model",
]

#: name → builder. Every builder takes ``num_classes``, ``pretrained`` and ``weights`` as keywords.
MODELS: dict[str, Callable[..., VideoClassifier]] = {
    "r2plus1d_34_8_ig65m": r2plus1d_34_8_ig65m,
    "r2plus1d_34_32_ig65m": r2plus1d_34_32_ig65m,
    "r2plus1d_34_8_kinetics": r2plus1d_34_8_kinetics,
    "r2plus1d_34_32_kinetics": r2plus1d_34_32_kinetics,
    "r2plus1d_18": r2plus1d_18,
    "r3d_18": r3d_18,
    "mc3_18": mc3_18,
    "s3d": s3d,
    "mvit_v2_s": mvit_v2_s,
    "swin3d_t": swin3d_t,
}

try:  # TSN / TSM on 2D backbones (their module may be absent while it is being written)
    from actionkit.models import tsn as _tsn
except ImportError:  # pragma: no cover - depends on the checkout
    _tsn = None
if _tsn is not None:
    for _name in (
        "tsn_resnet18",
        "tsn_resnet50",
        "tsn_efficientnet_lite0",
        "tsn_mobilenet_v3_large",
        "tsm_resnet18",
        "tsm_resnet50",
        "tsm_efficientnet_lite0",
        "tsm_mobilenet_v3_large",
    ):
        if hasattr(_tsn, _name):
            MODELS[_name] = getattr(_tsn, _name)


def list_models(pattern: str | None = None) -> list[str]:
    """Names :func:`create_model` accepts, sorted; ``pattern``: fnmatch pattern (``"tsm_*"``)."""
    names = sorted(MODELS)
    return names if pattern is None else [n for n in names if fnmatch.fnmatchcase(n, pattern)]


def create_model(
    name: str,
    *,
    num_classes: int | None = None,
    pretrained: bool = True,
    weights: str | Path | WeightsRecord | None = None,
    **kwargs,
) -> VideoClassifier:
    """Build a model by name.

    Args:
        name: One of :func:`list_models`.
        num_classes: Outputs wanted; ``None`` keeps the pretrained head (and its class names).
            A different number keeps the pretrained backbone and puts a fresh head on it.
        pretrained: Load the published weights (downloaded once, hash-checked).
        weights: A local path or URL of a state_dict to load instead.
        **kwargs: Passed to the builder (e.g. ``dropout``, ``classes``, ``num_segments``).

    Raises:
        ValueError: unknown name (the message suggests close matches).
    """
    builder = MODELS.get(name)
    if builder is None:
        close = difflib.get_close_matches(name, list(MODELS), n=5, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown model {name!r}.{hint} Available: {', '.join(list_models())}")
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    return builder(pretrained=pretrained, weights=weights, **kwargs)
