"""What each model's pretrained weights are and whether they are on this machine now
(``actionkit models``): ``model_info``, ``weights_available``.

It reads the builders' own record tables, so it sits above the model modules (none imports it).
"""

from __future__ import annotations

from dataclasses import dataclass

from actionkit.models._registry import get_builder
from actionkit.models.weights import WeightsRecord

__all__ = ["ModelInfo", "model_info", "weights_available"]


@dataclass(frozen=True)
class ModelInfo:
    """What ``create_model(name)`` (``pretrained=True``) loads, and whether it can now offline.

    Attributes:
        name: The model name.
        summary: The first line of its builder's docstring.
        pretrained_on: The data its pretrained weights were trained on (``"Kinetics-400"``,
            ``"IG-65M"``, ``"ImageNet (backbone only)"``); ``None`` where unknown.
        weights: The files ``pretrained=True`` reads (a local path for weights that come with
            an installed package); empty where unknown, or where the package is missing.
        shipped: The weights come with an installed Python package (no download ever).
        offline: Every one of those files is on this machine with the right hash, so the
            pretrained model loads without a network; ``None`` where the weights are unknown.
    """

    name: str
    summary: str
    pretrained_on: str | None
    weights: tuple[WeightsRecord, ...]
    shipped: bool
    offline: bool | None


def _pretrained_weights(name: str) -> tuple[tuple[WeightsRecord, ...], str | None, bool]:
    """The records ``pretrained=True`` loads for ``name``, a default ``pretrained_on``, shipped.

    Reads the builders' own record tables at each call (a record replaced by a mirror's counts).
    A record's own ``pretrained_on`` wins over the default given here.
    """
    from actionkit.models import backbones_2d, efficientnet_lite, r2plus1d, torchvision_video

    if name in r2plus1d.IG65M_RECORDS:
        on = "IG-65M, then Kinetics-400" if name.endswith("_kinetics") else "IG-65M"
        return (r2plus1d.IG65M_RECORDS[name],), on, False
    if name == "r2plus1d_18":
        return (r2plus1d.R2PLUS1D_18_RECORD,), "Kinetics-400", False
    if name in torchvision_video.TORCHVISION_RECORDS:
        return (torchvision_video.TORCHVISION_RECORDS[name],), "Kinetics-400", False
    backbone = name[4:] if name[:4] in ("tsn_", "tsm_") else ""
    if backbone == "efficientnet_lite0":
        try:
            path = efficientnet_lite.pretrained_weights_path()
        except (ImportError, FileNotFoundError):
            return (), "ImageNet (backbone only)", True
        record = WeightsRecord(str(path), path.stem.rpartition("-")[2] or None, 1000, None)
        return (record,), "ImageNet (backbone only)", True
    if backbone in backbones_2d.IMAGENET_WEIGHTS:
        return (backbones_2d.IMAGENET_WEIGHTS[backbone],), "ImageNet (backbone only)", False
    return (), None, False


def model_info(name: str, *, verify: bool = True) -> ModelInfo:
    """What the pretrained weights of ``name`` are, and whether they are on this machine now.

    Args:
        name: One of :func:`list_models`.
        verify: Check the sha256 of each file found (reads it whole); otherwise only that the
            files are there.

    Raises:
        ValueError: unknown name.
    """
    doc = (get_builder(name).__doc__ or "").strip().splitlines()
    records, default_on, shipped = _pretrained_weights(name)
    on = next((r.pretrained_on for r in records if r.pretrained_on), default_on)
    offline: bool | None = None  # a model registered elsewhere: its weights are unknown
    if records:
        offline = all(r.local_path(verify=verify) is not None for r in records)
    elif shipped:
        offline = False  # the package that ships them is not installed
    summary = doc[0].replace("``", "") if doc else ""
    return ModelInfo(name, summary, on, records, shipped, offline)


def weights_available(name: str) -> bool:
    """Whether ``create_model(name)`` finds its pretrained weights on this machine (hash-checked).

    ``True`` for weights shipped with an installed package and for files already in
    :func:`~actionkit.models.weights.cache_dir` or torch.hub's cache.
    """
    return bool(model_info(name).offline)
