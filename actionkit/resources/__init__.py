"""Class-name lists shipped with the package (Kinetics-400, HMDB51, UCF101)."""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def _read(name: str) -> tuple[str, ...]:
    text = files(__package__).joinpath(name).read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def kinetics400_classes() -> list[str]:
    """The 400 Kinetics classes in the standard (alphabetical) label order."""
    return list(_read("kinetics400_classes.txt"))


def hmdb51_classes() -> list[str]:
    """The 51 HMDB51 classes in the standard (alphabetical) label order."""
    return list(_read("hmdb51_classes.txt"))


def ucf101_classes() -> list[str]:
    """The 101 UCF101 classes in ``classInd.txt`` order."""
    return list(_read("ucf101_classes.txt"))
