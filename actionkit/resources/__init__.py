"""Class-name lists shipped with the package (Kinetics-400, HMDB51, UCF101, ImageNet-1k).

The one home of every class list: models, datasets and tests read them from here. Each call
returns the same tuple (immutable; the files are read once per process).
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def _read(name: str) -> tuple[str, ...]:
    text = files(__package__).joinpath(name).read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def kinetics400_classes() -> tuple[str, ...]:
    """The 400 Kinetics classes in the standard (alphabetical) label order."""
    return _read("kinetics400_classes.txt")


def hmdb51_classes() -> tuple[str, ...]:
    """The 51 HMDB51 classes in the standard (alphabetical) label order."""
    return _read("hmdb51_classes.txt")


def ucf101_classes() -> tuple[str, ...]:
    """The 101 UCF101 classes in ``classInd.txt`` order."""
    return _read("ucf101_classes.txt")


def imagenet_classes() -> tuple[str, ...]:
    """The 1000 ImageNet-1k classes in the output order of torchvision's (and timm's) models."""
    return _read("imagenet_classes.txt")
