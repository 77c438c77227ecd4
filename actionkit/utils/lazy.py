"""Lazy package exports (PEP 562): names a package offers, imported on first use.

``import actionkit`` (and ``import actionkit.train.config``) stays fast: the heavy modules
behind a package's names (torch, torchvision, accelerate) load only when a name is used.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` for ``exports`` (name → module).

    Usage, in the package's ``__init__.py``::

        __getattr__, __dir__ = lazy_exports(__name__, {"Learner": "actionkit.train.learner"})
    """

    def __getattr__(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # the next lookup is a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
