"""R(2+1)D video ResNets: the IG-65M R(2+1)D-34 family and torchvision's R(2+1)D-18.

The networks are :mod:`actionkit.models.video_resnet`'s; this module holds their published
weights (:class:`~actionkit.models.weights.WeightsRecord` s with URL, sha256 prefix, classes and
input) and their builders, registered with :func:`~actionkit.models.create_model`.
"""

from __future__ import annotations

from collections.abc import Callable

from actionkit.models.video_resnet import (
    VideoResNetClassifier,
    r2plus1d_18_network,
    r2plus1d_34_network,
    register_video_resnet,
)
from actionkit.models.weights import WeightsRecord
from actionkit.resources import kinetics400_classes
from actionkit.spec import KINETICS_MEAN, KINETICS_STD, InputSpec

__all__ = [
    "IG65M_RECORDS",
    "R2PLUS1D_18_RECORD",
    "r2plus1d_18",
    "r2plus1d_34_8_ig65m",
    "r2plus1d_34_8_kinetics",
    "r2plus1d_34_32_ig65m",
    "r2plus1d_34_32_kinetics",
]


_IG65M_URL = "https://github.com/moabitcoin/ig65m-pytorch/releases/download/v1.0.0/"


def _r2plus1d_spec(clip_len: int) -> InputSpec:
    return InputSpec(
        layout="CTHW",
        clip_len=clip_len,
        frame_step=1,
        crop_size=112,
        resize=128,
        mean=KINETICS_MEAN,
        std=KINETICS_STD,
    )


def _ig65m_record(file: str, num_classes: int, clip_len: int, kinetics: bool) -> WeightsRecord:
    return WeightsRecord(
        url=_IG65M_URL + file,
        sha256_prefix=file.rsplit("-", 1)[1].split(".")[0],
        num_classes=num_classes,
        classes=kinetics400_classes() if kinetics else None,
        input_spec=_r2plus1d_spec(clip_len),
    )


IG65M_RECORDS: dict[str, WeightsRecord] = {
    "r2plus1d_34_8_ig65m": _ig65m_record(
        "r2plus1d_34_clip8_ig65m_from_scratch-9bae36ae.pth", 487, 8, kinetics=False
    ),
    "r2plus1d_34_32_ig65m": _ig65m_record(
        "r2plus1d_34_clip32_ig65m_from_scratch-449a7af9.pth", 359, 32, kinetics=False
    ),
    "r2plus1d_34_8_kinetics": _ig65m_record(
        "r2plus1d_34_clip8_ft_kinetics_from_ig65m-0aa0550b.pth", 400, 8, kinetics=True
    ),
    "r2plus1d_34_32_kinetics": _ig65m_record(
        "r2plus1d_34_clip32_ft_kinetics_from_ig65m-ade133f1.pth", 400, 32, kinetics=True
    ),
}


_BUILDER_DOC = """{title}

    Args:
        num_classes: Outputs wanted. ``None`` keeps the weights' head ({n} classes); another
            number loads the backbone and puts a fresh head on it (normal init, std 0.01).
        pretrained: Load the published weights ({file}), downloaded once into
            :func:`~actionkit.models.weights.cache_dir` and checked against their sha256.
        weights: A local path, URL or :class:`~actionkit.models.weights.WeightsRecord` to load
            instead (a state_dict of the same architecture).
        progress: Show a download progress bar.
        dropout: Dropout before the classifier.
        classes: Names for the new head's outputs (sets ``num_classes`` when that is ``None``).

    Input: ``(B, 3, {clip_len}, 112, 112)`` float clips normalised with the Kinetics mean/std
    (see ``model.input_spec``).
"""


def _ig65m_builder(arch: str, title: str) -> Callable[..., VideoResNetClassifier]:
    """The registered builder of ``IG65M_RECORDS[arch]``, documented from its record."""
    record = IG65M_RECORDS[arch]
    doc = _BUILDER_DOC.format(
        title=title, n=record.num_classes, file=record.cache_name,
        clip_len=record.input_spec.clip_len,
    )  # fmt: skip
    return register_video_resnet(arch, r2plus1d_34_network, IG65M_RECORDS, doc)


_IG65M = "R(2+1)D-34 pretrained on IG-65M"
_PAPER = "(Ghadiyaram et al., CVPR 2019)"
r2plus1d_34_8_ig65m = _ig65m_builder(
    "r2plus1d_34_8_ig65m", f"{_IG65M} with 8-frame clips {_PAPER}."
)
r2plus1d_34_32_ig65m = _ig65m_builder(
    "r2plus1d_34_32_ig65m", f"{_IG65M} with 32-frame clips {_PAPER}."
)
r2plus1d_34_8_kinetics = _ig65m_builder(
    "r2plus1d_34_8_kinetics", f"{_IG65M}, fine-tuned on Kinetics-400, 8-frame clips."
)
r2plus1d_34_32_kinetics = _ig65m_builder(
    "r2plus1d_34_32_kinetics", f"{_IG65M}, fine-tuned on Kinetics-400, 32-frame clips."
)


# -- R(2+1)D-18, torchvision's Kinetics-400 weights ------------------------------------------------
# From torchvision.models.video.R2Plus1D_18_Weights.KINETICS400_V1 (tests check they agree).
R2PLUS1D_18_RECORD = WeightsRecord(
    url="https://download.pytorch.org/models/r2plus1d_18-91a641e6.pth",
    sha256_prefix="91a641e6",
    num_classes=400,
    classes=kinetics400_classes(),
    # trained on 16-frame clips at 15 fps (every 2nd frame of 30 fps video), 112 crops of 128x171
    input_spec=InputSpec(layout="CTHW", clip_len=16, frame_step=2, crop_size=112, resize=128),
)


r2plus1d_18 = register_video_resnet(
    "r2plus1d_18",
    r2plus1d_18_network,
    {"r2plus1d_18": R2PLUS1D_18_RECORD},
    """R(2+1)D-18 with torchvision's Kinetics-400 weights (67.5 % top-1, 31.5 M parameters).

    Arguments as for :func:`r2plus1d_34_8_ig65m`. Input: ``(B, 3, 16, 112, 112)`` clips.
    """,
)
