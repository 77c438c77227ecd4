"""Video classification models: ``create_model(name, ...)`` and ``list_models()``.

Every model is a :class:`~actionkit.models.base.VideoClassifier` carrying its ``input_spec``
and, where the weights have them, its ``classes``::

    model = create_model("r2plus1d_34_8_ig65m", num_classes=51)   # IG-65M backbone, new head
    model = create_model("r2plus1d_18", pretrained=False)          # random weights
    list_models("r2plus1d_*")

The model modules register their builders (:func:`register_model`) when imported; this package
imports all of them, so every name is known as soon as anything here is imported.
"""

from actionkit.models import r2plus1d, torchvision_video, tsn  # noqa: F401  (they register)
from actionkit.models._registry import (
    create_model,
    get_builder,
    guess_arch,
    list_models,
    model_options,
    register_model,
)
from actionkit.models.base import VideoClassifier, uses_segments
from actionkit.models.catalog import ModelInfo, model_info, weights_available
from actionkit.models.io import load_model, save_model
from actionkit.models.weights import WeightsError, WeightsRecord, cache_dir, download

__all__ = [
    "ModelInfo",
    "VideoClassifier",
    "WeightsError",
    "WeightsRecord",
    "cache_dir",
    "create_model",
    "download",
    "get_builder",
    "guess_arch",
    "list_models",
    "load_model",
    "model_info",
    "model_options",
    "register_model",
    "save_model",
    "uses_segments",
    "weights_available",
]
