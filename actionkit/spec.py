"""The input a model expects, carried by the model so data presets are never typed twice."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)

LAYOUTS = ("CTHW", "KCHW")


@dataclass(frozen=True)
class InputSpec:
    """What one model input looks like.

    Attributes:
        layout: ``"CTHW"`` for 3D models (one clip of ``clip_len`` frames) or ``"KCHW"`` for
            segment models such as TSN (``num_segments`` segments of ``clip_len`` frames each,
            stacked along the first axis).
        clip_len: Frames per clip (CTHW) or per segment snippet (KCHW, usually 1).
        frame_step: Distance between sampled frames inside a clip.
        num_segments: Number of TSN segments (KCHW only).
        crop_size: Side of the square crop fed to the network.
        resize: Short side frames are resized to before cropping.
        mean: Per-channel mean of the normalization, RGB, in [0, 1].
        std: Per-channel standard deviation of the normalization.
    """

    layout: Literal["CTHW", "KCHW"] = "CTHW"
    clip_len: int = 8
    frame_step: int = 1
    num_segments: int = 1
    crop_size: int = 112
    resize: int = 128
    mean: tuple[float, float, float] = KINETICS_MEAN
    std: tuple[float, float, float] = KINETICS_STD

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout={self.layout!r} is not valid; choose one of {LAYOUTS}")
        for name in ("clip_len", "frame_step", "num_segments", "crop_size", "resize"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} must be a positive integer")
        if self.crop_size > self.resize:
            raise ValueError(
                f"crop_size={self.crop_size} is larger than resize={self.resize}; "
                "the crop must fit in the resized frame"
            )
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError(f"mean={self.mean!r} and std={self.std!r} need 3 values (RGB)")

    @property
    def uses_segments(self) -> bool:
        """Whether a sample is TSN segments (``KCHW``) rather than one clip (``CTHW``)."""
        return self.layout == "KCHW"

    @property
    def frames_per_sample(self) -> int:
        """Frames decoded for one sample: ``clip_len`` or ``num_segments * clip_len``."""
        return self.clip_len * (self.num_segments if self.uses_segments else 1)

    def replace(self, **changes: Any) -> InputSpec:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, for saved models and reports."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputSpec:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        for key in ("mean", "std"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)
