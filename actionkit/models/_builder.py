"""What every model builder does: pick the weights, build with the right head, load strictly.

:func:`build_video_model` is the one implementation of the builder contract that
:func:`~actionkit.models.create_model` promises (``pretrained``, ``weights``, ``num_classes``,
``classes``, ``progress``); the R(2+1)D, torchvision and TSN/TSM builders are short calls of it.
Weights are loaded here, by builders, never inside an ``nn.Module.__init__``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from actionkit.models.base import VideoClassifier, check_classes
from actionkit.models.weights import WeightsError, WeightsRecord, load_into, load_state_dict

__all__ = ["build_video_model", "build_with_its_head"]

WeightsArg = str | Path | WeightsRecord | None


def build_with_its_head(
    make: Callable[[int], nn.Module],
    state_dict: Mapping[str, torch.Tensor],
    *,
    head_key: str,
    arch: str,
    source: str = "the checkpoint",
) -> nn.Module:
    """``make(outputs)`` with as many outputs as the checkpoint's head, loaded strictly.

    Raises:
        WeightsError: the checkpoint has no ``head_key`` or does not fit (see :func:`load_into`).
    """
    if head_key not in state_dict:
        raise WeightsError(f"{source} has no {head_key!r}: it is not a {arch} checkpoint")
    model = make(int(state_dict[head_key].shape[0]))
    load_into(model, state_dict, source=source)
    return model


def _checkpoint(
    record: WeightsRecord | None, pretrained: bool, weights: WeightsArg, progress: bool
) -> tuple[dict[str, torch.Tensor] | None, tuple[str, ...] | None, str]:
    """The state_dict to load (``weights`` wins over ``pretrained``), its class names, its name."""
    if isinstance(weights, WeightsRecord):
        return weights.load_state_dict(progress), weights.classes, weights.url
    if weights is not None:
        return load_state_dict(weights), None, str(weights)
    if pretrained and record is not None:
        return record.load_state_dict(progress), record.classes, record.url
    return None, None, "the checkpoint"


def build_video_model(
    arch: str,
    make: Callable[[int], VideoClassifier],
    record: WeightsRecord | None,
    *,
    num_classes: int | None,
    pretrained: bool,
    weights: WeightsArg,
    classes: Sequence[str] | None = None,
    head_key: str = "fc.weight",
    default_num_classes: int | None = None,
    arch_kwargs: Mapping[str, Any] | None = None,
    adapt: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
    progress: bool = True,
) -> VideoClassifier:
    """The logic every builder shares.

    * ``weights`` (a path, URL or :class:`WeightsRecord`) wins over ``pretrained``;
      ``pretrained=True`` loads ``record`` (a whole-model checkpoint; ``None`` where ``make``
      loads backbone weights itself, as TSN's ImageNet backbones); otherwise weights are random.
    * The network is built with the checkpoint's number of outputs (read from ``head_key``) and
      loaded strictly; when ``num_classes`` differs, the head is replaced
      (:meth:`~actionkit.models.base.VideoClassifier.reset_classifier`).
    * Class names travel with the weights: a record's ``classes`` are kept while its head is;
      custom checkpoints and random weights have none (unless ``make`` kept a pretrained head
      with its names) unless ``classes`` is given.

    Args:
        arch: The registered name, stored on the model (``save_model`` rebuilds from it).
        make: builds the wrapped network for a given number of outputs.
        record: The published checkpoint of ``pretrained``.
        num_classes: Outputs wanted; ``None`` keeps the checkpoint's head.
        pretrained: Load ``record``.
        weights: A checkpoint to load instead.
        classes: Names of the outputs (sets ``num_classes`` when that is ``None``).
        head_key: The state_dict key of the classifier's weight.
        default_num_classes: Outputs without a checkpoint (default ``record.num_classes``).
        arch_kwargs: The builder options ``save_model`` stores to rebuild the model.
        adapt: converts a checkpoint's state_dict to the wrapper's layout (e.g. reshapes).
        progress: Show a download progress bar.
    """
    if classes is not None:
        num_classes = len(classes) if num_classes is None else num_classes
        classes = check_classes(num_classes, classes)
    state, source_classes, source = _checkpoint(record, pretrained, weights, progress)
    if state is None:
        default = default_num_classes if default_num_classes is not None else record.num_classes
        model = make(num_classes if num_classes is not None else default)
    else:
        if adapt is not None:
            state = adapt(state)
        model = build_with_its_head(make, state, head_key=head_key, arch=arch, source=source)
        outputs = model.num_classes
        known = source_classes is not None and len(source_classes) == outputs
        model.classes = list(source_classes) if known else None
        if num_classes is not None and num_classes != outputs:
            model.reset_classifier(num_classes, classes)
    if classes is not None:
        model.classes = classes
    model.arch = arch
    model.arch_kwargs = dict(arch_kwargs or {})
    if record is not None and record.input_spec is not None:
        model.input_spec = record.input_spec
    return model
