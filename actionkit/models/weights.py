"""Pretrained weights: where they come from, where they are cached, and how they are checked.

A :class:`WeightsRecord` says what a published checkpoint is (URL, start of its sha256, class
names, the input it expects). :func:`download` fetches a file into :func:`cache_dir` through
:func:`actionkit.utils.download.download` (resumed, hash-checked, one process at a time; offline,
the error says exactly where to put the file by hand), reusing torch.hub's copy where there is
one; a cached file with the wrong hash is moved aside, never deleted. :func:`load_state_dict` reads
a checkpoint safely (``weights_only=True``) and unwraps the usual containers; a file that is no
checkpoint at all (a video, an image...) is named as what it is. :func:`load_into` loads it
strictly with one readable error, which names the architecture the checkpoint is for when it
is another one.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from actionkit.spec import InputSpec
from actionkit.utils import download as _download
from actionkit.utils.download import DownloadError, sha256_file
from actionkit.utils.filetypes import CHECKPOINT_KINDS, describe_file

log = logging.getLogger(__name__)

__all__ = [
    "WeightsError",
    "WeightsRecord",
    "cache_dir",
    "copy_to_cache",
    "download",
    "load_into",
    "load_state_dict",
    "sha256_file",
    "unreadable_reason",
]


class WeightsError(DownloadError):
    """A checkpoint could not be fetched, did not match its hash, or could not be read."""


@dataclass(frozen=True)
class WeightsRecord:
    """One published checkpoint.

    Attributes:
        url: Where to download it from (``https://``, ``file://`` or a local path).
        sha256_prefix: The start of the file's sha256 in hex (torch.hub's ``name-<hash>.pth``
            convention), or ``None`` to skip the check.
        num_classes: Outputs of the checkpoint's classifier.
        classes: Names of those outputs in order, or ``None`` where they were never published.
        input_spec: The input the weights were trained with.
        file_name: Name in the cache; defaults to the URL's last path component.
        pretrained_on: The data the weights were trained on, for people (``"Kinetics-400"``,
            ``"IG-65M"``, ``"ImageNet"``); ``None`` where the record does not say.
    """

    url: str
    sha256_prefix: str | None
    num_classes: int
    classes: tuple[str, ...] | None
    input_spec: InputSpec | None = None
    file_name: str | None = None
    pretrained_on: str | None = None

    def __post_init__(self) -> None:
        if self.classes is not None and len(self.classes) != self.num_classes:
            raise ValueError(
                f"{len(self.classes)} class names given for a {self.num_classes}-class checkpoint"
            )

    @property
    def cache_name(self) -> str:
        """The file name used in :func:`cache_dir`."""
        return self.file_name or _download.url_basename(self.url)

    @property
    def cache_path(self) -> Path:
        """Where :func:`download` puts (and looks for) this checkpoint."""
        return cache_dir() / self.cache_name

    def local_path(self, verify: bool = True) -> Path | None:
        """Where the checkpoint is on this machine (so it loads offline), or ``None``.

        Looks where :func:`download` does: the file itself for a local path, else
        :attr:`cache_path` and torch.hub's cache.

        Args:
            verify: Check the file's sha256 (reads the whole file); otherwise only that it is
                there.
        """
        if _download.is_url(self.url):
            candidates = [self.cache_path, _torch_hub_checkpoints() / self.cache_name]
        else:
            candidates = [Path(self.url).expanduser()]
        prefix = (self.sha256_prefix or "").lower()
        for path in candidates:
            if path.is_file() and (not verify or sha256_file(path).startswith(prefix)):
                return path
        return None

    def download(self, progress: bool = True) -> Path:
        """Fetch the checkpoint (or find it in the cache) and return its path."""
        return download(
            self.url, sha256_prefix=self.sha256_prefix, file_name=self.file_name, progress=progress
        )

    def load_state_dict(self, progress: bool = True) -> dict[str, torch.Tensor]:
        """Fetch the checkpoint and read its state_dict."""
        return load_state_dict(self.download(progress=progress), sha256_prefix=None)


# -- cache and download --------------------------------------------------------------------------
def _torch_home() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "torch"
    return Path(os.environ.get("TORCH_HOME", str(default))).expanduser()


def cache_dir() -> Path:
    """Folder for downloaded weights: ``$ACTIONKIT_CACHE``, else ``$TORCH_HOME/actionkit``.

    ``TORCH_HOME`` defaults to ``~/.cache/torch`` as in PyTorch. The folder is not created here.
    """
    override = os.environ.get("ACTIONKIT_CACHE")
    if override:
        return Path(override).expanduser()
    return _torch_home() / "actionkit"


def _torch_hub_checkpoints() -> Path:
    """torch.hub's own cache: torchvision weights the user already has are reused from there."""
    return _torch_home() / "hub" / "checkpoints"


def download(
    url: str,
    *,
    sha256_prefix: str | None = None,
    file_name: str | None = None,
    progress: bool = True,
) -> Path:
    """Fetch a weights file into :func:`cache_dir` (once) and return its local path.

    A good copy in torch.hub's cache (``$TORCH_HOME/hub/checkpoints``) is used as it is; a plain
    local path is checked and returned. See :func:`actionkit.utils.download.download`.

    Raises:
        WeightsError: the file cannot be fetched (the message says where to put it by hand),
            or its hash does not match (a bad file is moved to ``<name>.bad-<sha256[:8]>``
            beside it; the message says where).
    """
    try:
        return _download.download(
            url, cache_dir(), sha256_prefix=sha256_prefix, file_name=file_name,
            progress=progress, search=(_torch_hub_checkpoints(),),
            hint="(set ACTIONKIT_CACHE or TORCH_HOME to use another folder)",
            what="weights file",
        )  # fmt: skip
    except DownloadError as err:
        if isinstance(err, WeightsError):
            raise
        raise WeightsError(str(err)) from err


def copy_to_cache(path: str | Path, record: WeightsRecord) -> Path:
    """Put a checkpoint fetched by hand where :func:`download` looks for ``record``.

    The file's hash is checked first.
    """
    path = download(str(Path(path).expanduser()), sha256_prefix=record.sha256_prefix)
    target = record.cache_path
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".partial")
    shutil.copyfile(path, tmp)
    os.replace(tmp, target)
    return target


# -- reading checkpoints ---------------------------------------------------------------------------


_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model_state", "model", "module", "net")


def _unwrap(obj: Any) -> Any:
    for _ in range(4):  # e.g. {"model": {"state_dict": {...}}}
        if not isinstance(obj, Mapping):
            break
        inner = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None or all(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        obj = inner
    return obj


def _strip_prefix(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix) :]: v for k, v in state.items()}
    return state


class _StateDict(dict):
    """The tensors of a checkpoint, and the architecture the checkpoint names (if it does)."""

    arch: str | None = None


#: The ``format`` of actionkit's model files and training checkpoints: both name their ``arch``.
_ACTIONKIT_FORMATS = ("actionkit-model", "actionkit-checkpoint")


def unreadable_reason(path: str | Path, error: BaseException) -> str:
    """Why ``torch.load(path, weights_only=True)`` raised ``error``, in one sentence.

    Names the kind of file when it is no checkpoint at all (``"it looks like an MP4 video"``),
    and never repeats torch's advice to load with ``weights_only=False``.
    """
    kind = describe_file(path) if Path(path).is_file() else None
    if kind is not None and kind not in CHECKPOINT_KINDS:
        return f"it looks like {kind}"
    text = str(error)
    found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if found:
        return (
            f"it holds a Python object ({found.group(1)}), not only tensors and plain values; "
            f"checkpoints are read with weights_only=True, which runs no code from the file"
        )
    found = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)
    detail = found.group(1) if found else (text.strip().splitlines() or [""])[0]
    return (
        f"it is truncated, corrupt or not a PyTorch checkpoint ({type(error).__name__}: {detail})"
    )


def load_state_dict(
    path_or_url: str | Path, *, sha256_prefix: str | None = None
) -> dict[str, torch.Tensor]:
    """Read a checkpoint's tensors from a local path or URL (downloaded with :func:`download`).

    Uses ``torch.load(..., map_location="cpu", weights_only=True)``, so no code in the file runs.
    Unwraps ``{"state_dict": ...}`` / ``{"model": ...}`` containers (actionkit's model files and
    training checkpoints among them) and ``module.`` prefixes (DataParallel /
    DistributedDataParallel).

    Raises:
        WeightsError: the file is missing, truncated, corrupt, no checkpoint at all (the
            message says what it looks like: a video, an image...) or holds no tensors.
    """
    path = download(str(path_or_url), sha256_prefix=sha256_prefix)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
        reason = unreadable_reason(path, err)
        if reason.startswith("it looks like"):
            raise WeightsError(
                f"{path} is not a weights file: {reason}. A weights file is a PyTorch checkpoint "
                f"(.pt/.pth) written by torch.save: a state_dict, or a model.pt written by "
                f"training or actionkit.models.save_model."
            ) from err
        raise WeightsError(
            f"Could not read the checkpoint {path}: {reason}. Delete it and download it again."
        ) from err
    state = _unwrap(obj)
    if not isinstance(state, Mapping):
        raise WeightsError(f"The checkpoint {path} holds a {type(obj).__name__}, not a state_dict")
    tensors = {str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise WeightsError(f"The checkpoint {path} holds no tensors (keys: {list(state)[:10]})")
    tensors = _StateDict(_strip_prefix(tensors, "module."))
    if isinstance(obj, Mapping) and obj.get("format") in _ACTIONKIT_FORMATS:
        tensors.arch = str(obj.get("arch") or "") or None
    return tensors


def load_into(
    model: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    source: str = "the checkpoint",
    arch: str | None = None,
) -> None:
    """``model.load_state_dict(state_dict, strict=True)`` with one readable error.

    Args:
        model: The network to load into.
        state_dict: Its weights (from :func:`load_state_dict`, which notes the architecture an
            actionkit file names).
        source: The checkpoint, for the message.
        arch: The architecture the checkpoint is for, when known (default: what
            :func:`load_state_dict` noted).

    Raises:
        WeightsError: keys are missing or unexpected, or shapes differ. The message starts with
            the architecture the checkpoint is for when it is another one (named in the file,
            or told by its keys), then lists a few of the keys.
    """
    own = model.state_dict()
    # Checkpoints written before PyTorch 0.4.1 lack BatchNorm's counter; torch fills it in.
    missing = [k for k in own if k not in state_dict and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state_dict and state_dict[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        name = getattr(model, "arch", "") or _own_name(model)
        headline = _other_arch(name, state_dict, arch or getattr(state_dict, "arch", None))
        shown = 3 if headline else 8

        def _few(items: list[str]) -> str:
            more = f" … and {len(items) - shown} more" if len(items) > shown else ""
            return ", ".join(items[:shown]) + more

        parts = []
        if missing:
            parts.append(f"missing keys: {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_few(unexpected)}")
        if shapes:
            parts.append(f"shape mismatches: {_few(shapes)}")
        if headline:
            raise WeightsError(f"{source} {headline}. It differs in: " + "; ".join(parts))
        raise WeightsError(f"{source} does not fit {name}: " + "; ".join(parts))
    model.load_state_dict(state_dict, strict=True)


#: Names the registered models a state_dict fits (``actionkit.models._registry.guess_arch``,
#: which sets it: it knows every model, and this module sits below it).
def _no_guess(state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    return []


arch_guesser: Callable[[Mapping[str, torch.Tensor]], list[str]] = _no_guess


def _own_name(model: nn.Module) -> str:
    """A model's architecture while it is being built (``.arch`` is set after loading)."""
    return " / ".join(arch_guesser(model.state_dict())) or type(model).__name__


def _other_arch(name: str, state_dict: Mapping[str, torch.Tensor], recorded: str | None) -> str:
    """``"is for X, not NAME (...)"`` where the checkpoint is for another architecture, or ``""``.

    ``X`` is the architecture the file names, else the models its keys and shapes fit.
    """
    names = name.split(" / ")
    if recorded and recorded not in names:
        return f"is for {recorded}, not {name} (the file says so)"
    guesses = [g for g in arch_guesser(state_dict) if g not in names]
    if not guesses:
        return ""
    return f"is for {' / '.join(guesses)}, not {name} (its keys and shapes say so)"
