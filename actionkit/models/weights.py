"""Pretrained weights: where they come from, where they are cached, and how they are checked.

A :class:`WeightsRecord` says what a published checkpoint is (URL, start of its sha256, class
names, the input it expects). :func:`download` fetches a file into :func:`cache_dir`, resuming an
interrupted download, and checks its hash; when the machine is offline it says exactly where to put
the file by hand. :func:`load_state_dict` reads a checkpoint safely (``weights_only=True``) and
unwraps the usual containers.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from actionkit import resources
from actionkit.spec import InputSpec

__all__ = [
    "WeightsError",
    "WeightsRecord",
    "cache_dir",
    "download",
    "kinetics400_classes",
    "load_into",
    "load_state_dict",
    "sha256_file",
]

_CHUNK = 1 << 20
_TIMEOUT_S = 30.0
_ATTEMPTS = 3
_USER_AGENT = "actionkit (python urllib)"


class WeightsError(RuntimeError):
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
    """

    url: str
    sha256_prefix: str | None
    num_classes: int
    classes: tuple[str, ...] | None
    input_spec: InputSpec | None = None
    file_name: str | None = None

    def __post_init__(self) -> None:
        if self.classes is not None and len(self.classes) != self.num_classes:
            raise ValueError(
                f"{len(self.classes)} class names given for a {self.num_classes}-class checkpoint"
            )

    @property
    def cache_name(self) -> str:
        """The file name used in :func:`cache_dir`."""
        return self.file_name or _url_basename(self.url)

    @property
    def cache_path(self) -> Path:
        """Where :func:`download` puts (and looks for) this checkpoint."""
        return cache_dir() / self.cache_name

    def download(self, progress: bool = True) -> Path:
        """Fetch the checkpoint (or find it in the cache) and return its path."""
        return download(
            self.url, sha256_prefix=self.sha256_prefix, file_name=self.file_name, progress=progress
        )

    def load_state_dict(self, progress: bool = True) -> dict[str, torch.Tensor]:
        """Fetch the checkpoint and read its state_dict."""
        return load_state_dict(self.download(progress=progress), sha256_prefix=None)


# -- cache location ------------------------------------------------------------------------------
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


# -- hashing -------------------------------------------------------------------------------------
def sha256_file(path: str | Path) -> str:
    """The sha256 of a file, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _hash_matches(path: Path, sha256_prefix: str | None) -> tuple[bool, str | None]:
    if not sha256_prefix:
        return True, None
    actual = sha256_file(path)
    return actual.startswith(sha256_prefix.lower()), actual


# -- download ------------------------------------------------------------------------------------
def _is_url(value: str) -> bool:
    scheme = urllib.parse.urlsplit(value).scheme.lower()
    return scheme in ("http", "https", "ftp", "file")


def _url_basename(url: str) -> str:
    path = urllib.parse.urlsplit(url).path if _is_url(url) else url
    name = Path(urllib.parse.unquote(path)).name
    if not name:
        raise ValueError(f"cannot tell a file name from {url!r}; pass file_name=")
    return name


def _offline_error(url: str, name: str, target: Path, reason: object) -> WeightsError:
    return WeightsError(
        f"Could not download {url}: {reason}.\n"
        f"If this machine is offline, download {name!r} on another machine and put it at\n"
        f"    {target}\n"
        f"(set ACTIONKIT_CACHE or TORCH_HOME to use another folder); it is used from there, "
        f"after its hash is checked."
    )


def _check_local(path: Path, sha256_prefix: str | None, what: str) -> Path:
    ok, actual = _hash_matches(path, sha256_prefix)
    if not ok:
        raise WeightsError(
            f"{what} {path} does not match its expected sha256: expected a hash starting "
            f"with {sha256_prefix}, got {actual}."
        )
    return path


def _content_range_start(value: str | None) -> int | None:
    match = re.match(r"\s*bytes\s+(\d+)-", value or "")
    return int(match.group(1)) if match else None


def _fetch_once(url: str, partial: Path, name: str, progress: bool) -> bool:
    """One request, appended to ``partial`` where the server honours a Range; True when complete."""
    have = partial.stat().st_size if partial.exists() else 0
    headers = {"User-Agent": _USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=_TIMEOUT_S)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # the partial file is already whole (or bogus): start over
            partial.unlink()
            return False
        raise
    with response:
        status = getattr(response, "status", None) or 200
        length = response.headers.get("Content-Length")
        start = _content_range_start(response.headers.get("Content-Range"))
        if status == 206 and start == have:
            mode = "ab"
        else:  # no resume: the server (or a file:// URL) sends the whole file again
            have, mode = 0, "wb"
        total = have + int(length) if length is not None and length.isdigit() else None
        from tqdm.auto import tqdm

        written = have
        with (
            open(partial, mode) as out,
            tqdm(
                total=total,
                initial=have,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=name,
                disable=not progress,
                leave=False,
            ) as bar,
        ):
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                written += len(chunk)
                bar.update(len(chunk))
    return total is None or written >= total


def download(
    url: str,
    *,
    sha256_prefix: str | None = None,
    file_name: str | None = None,
    progress: bool = True,
) -> Path:
    """Fetch ``url`` into :func:`cache_dir` (once) and return the local path.

    A file already in the cache is returned when its hash matches. ``file://`` URLs go through
    the same path as ``http(s)://`` ones; a plain local path is checked and returned as it is.
    The download is written to ``<name>.partial``, resumed with an HTTP Range request where the
    server allows it (also across calls), checked against ``sha256_prefix`` and renamed into
    place atomically.

    Raises:
        WeightsError: the file cannot be fetched (the message says where to put it by hand),
            or its hash does not match (the bad file is removed).
    """
    url = str(url)
    if not _is_url(url):
        path = Path(url).expanduser()
        if not path.is_file():
            raise WeightsError(f"No such weights file: {path}")
        return _check_local(path, sha256_prefix, "Weights file")

    name = file_name or _url_basename(url)
    folder = cache_dir()
    target = folder / name

    for candidate in (target, _torch_hub_checkpoints() / name):
        if candidate.is_file():
            ok, _ = _hash_matches(candidate, sha256_prefix)
            if ok:
                return candidate
            if candidate == target:  # a stale or damaged copy: fetch it again
                target.unlink()

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise WeightsError(f"Cannot create the weights cache folder {folder}: {err}") from err
    partial = target.with_name(target.name + ".partial")

    last_error: BaseException | None = None
    complete = False
    for _ in range(_ATTEMPTS):
        try:
            complete = _fetch_once(url, partial, name, progress)
        except urllib.error.HTTPError as err:
            raise _offline_error(url, name, target, f"HTTP {err.code} {err.reason}") from err
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as err:
            # OSError covers resets and timeouts; HTTPException a dropped or malformed response.
            last_error = err
            if partial.exists() and partial.stat().st_size:
                continue  # something arrived: try to resume
            reason = getattr(err, "reason", err)
            raise _offline_error(url, name, target, reason) from err
        if complete:
            break
    if not complete:
        raise _offline_error(
            url,
            name,
            target,
            f"the connection kept dropping ({last_error or 'incomplete download'}); "
            f"the part fetched so far is kept in {partial} and the next call resumes it",
        )

    ok, actual = _hash_matches(partial, sha256_prefix)
    if not ok:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise WeightsError(
            f"The file downloaded from {url} does not match its expected sha256: expected a hash "
            f"starting with {sha256_prefix}, got {actual}. The bad file was removed; try again, "
            f"or put a good copy at {target}."
        )
    os.replace(partial, target)
    return target


def copy_to_cache(path: str | Path, record: WeightsRecord) -> Path:
    """Put a checkpoint fetched by hand where :func:`download` looks for ``record``.

    The file's hash is checked first.
    """
    path = Path(path).expanduser()
    _check_local(path, record.sha256_prefix, "Weights file")
    target = record.cache_path
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".partial")
    shutil.copyfile(path, tmp)
    os.replace(tmp, target)
    return target


# -- reading checkpoints -------------------------------------------------------------------------
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


def load_state_dict(
    path_or_url: str | Path, *, sha256_prefix: str | None = None
) -> dict[str, torch.Tensor]:
    """Read a checkpoint's tensors from a local path or URL (downloaded with :func:`download`).

    Uses ``torch.load(..., map_location="cpu", weights_only=True)``, so no code in the file runs.
    Unwraps ``{"state_dict": ...}`` / ``{"model": ...}`` containers and ``module.`` prefixes
    (DataParallel / DistributedDataParallel).

    Raises:
        WeightsError: the file is missing, truncated, corrupt or holds no tensors.
    """
    path = download(str(path_or_url), sha256_prefix=sha256_prefix)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
        raise WeightsError(
            f"Could not read the checkpoint {path}: it is truncated, corrupt or not a PyTorch "
            f"checkpoint ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). "
            f"Delete it and download it again."
        ) from err
    state = _unwrap(obj)
    if not isinstance(state, Mapping):
        raise WeightsError(f"The checkpoint {path} holds a {type(obj).__name__}, not a state_dict")
    tensors = {str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise WeightsError(f"The checkpoint {path} holds no tensors (keys: {list(state)[:10]})")
    tensors = _strip_prefix(tensors, "module.")
    return tensors


def load_into(
    model: nn.Module, state_dict: Mapping[str, torch.Tensor], *, source: str = "the checkpoint"
) -> None:
    """``model.load_state_dict(state_dict, strict=True)`` with one readable error.

    Raises:
        WeightsError: keys are missing or unexpected, or shapes differ; the message lists them.
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

        def _few(items: list[str]) -> str:
            more = f" … and {len(items) - 8} more" if len(items) > 8 else ""
            return ", ".join(items[:8]) + more

        parts = []
        if missing:
            parts.append(f"missing keys: {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_few(unexpected)}")
        if shapes:
            parts.append(f"shape mismatches: {_few(shapes)}")
        name = getattr(model, "arch", "") or type(model).__name__
        raise WeightsError(f"{source} does not fit {name}: " + "; ".join(parts))
    model.load_state_dict(state_dict, strict=True)


# -- class names ---------------------------------------------------------------------------------
@cache
def kinetics400_classes() -> tuple[str, ...]:
    """The 400 Kinetics classes in the standard (alphabetical) label order."""
    classes = tuple(resources.kinetics400_classes())
    if len(classes) != 400:
        raise RuntimeError(f"kinetics400_classes.txt lists {len(classes)} classes, not 400")
    return classes
