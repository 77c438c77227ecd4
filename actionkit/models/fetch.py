"""Downloading weight files: a cache folder, sha256 checks, resume, a lock, offline errors.

:func:`download` fetches a file into :func:`cache_dir` (``ACTIONKIT_CACHE``, else
``$TORCH_HOME/hub/checkpoints``), resuming an interrupted download with an HTTP Range request,
and checks the start of its sha256. Two processes fetching the same file take turns (a lock file
beside it), and the second finds the first one's file. When the machine is offline the error says
exactly where to put the file by hand.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

if TYPE_CHECKING:
    from actionkit.models.weights import WeightsRecord

log = logging.getLogger(__name__)

__all__ = ["WeightsError", "cache_dir", "copy_to_cache", "download", "sha256_file"]

_CHUNK = 1 << 20
_TIMEOUT_S = 30.0
_ATTEMPTS = 3
_USER_AGENT = "actionkit (python urllib)"
_LOCK_STALE_S = 120.0  # without fcntl: give up when a lock is held this long with no progress


class WeightsError(RuntimeError):
    """A checkpoint could not be fetched, did not match its hash, or could not be read."""


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


# -- one download at a time ------------------------------------------------------------------------
@contextlib.contextmanager
def _download_lock(target: Path) -> Iterator[None]:
    """Hold ``<target>.lock`` exclusively: processes downloading the same file take turns.

    With ``fcntl`` (POSIX) the lock is an ``flock`` that dies with its process. Elsewhere it is a
    file created with ``O_EXCL``; a waiter gives up after ``_LOCK_STALE_S`` seconds in which
    the holder's ``.partial`` file did not grow. The lock file is removed on release.
    """
    lock = target.with_name(target.name + ".lock")
    if fcntl is None:
        _create_exclusive(lock, target.with_name(target.name + ".partial"))
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                lock.unlink()
        return
    while True:
        handle = open(lock, "ab")  # noqa: SIM115 - held until release
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("Waiting for another process downloading %s", target.name)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:  # the holder before us may have removed the file: then lock the new one
            if os.path.samestat(os.fstat(handle.fileno()), os.stat(lock)):
                break
        except FileNotFoundError:
            pass
        handle.close()
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()  # still held: a process that opened it before re-checks, see above
        handle.close()


def _create_exclusive(lock: Path, partial: Path) -> None:
    seen, since = None, time.monotonic()
    while True:
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return
        except FileExistsError:
            pass
        size = partial.stat().st_size if partial.exists() else None
        if size != seen:
            seen, since = size, time.monotonic()
        elif time.monotonic() - since > _LOCK_STALE_S:
            raise WeightsError(
                f"{lock} has been held for {_LOCK_STALE_S:.0f} s by another download that "
                f"makes no progress; if no other process is downloading, delete it and try again."
            )
        time.sleep(0.1)


def _find_cached(target: Path, sha256_prefix: str | None, remove_bad: bool) -> Path | None:
    """``target`` (or torch.hub's copy) when it exists with the right hash."""
    for candidate in (target, _torch_hub_checkpoints() / target.name):
        if candidate.is_file():
            ok, _ = _hash_matches(candidate, sha256_prefix)
            if ok:
                return candidate
            if candidate == target and remove_bad:  # a stale or damaged copy: fetch it again
                target.unlink(missing_ok=True)
    return None


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
    place atomically. Processes fetching the same file (DDP ranks, notebooks) take turns through
    a ``<name>.lock`` file: the first downloads, the others wait and then use its file.

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
    found = _find_cached(target, sha256_prefix, remove_bad=False)
    if found is not None:
        return found
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise WeightsError(f"Cannot create the weights cache folder {folder}: {err}") from err
    with _download_lock(target):
        found = _find_cached(target, sha256_prefix, remove_bad=True)  # fetched while we waited?
        if found is not None:
            return found
        return _download_to(url, target, sha256_prefix, progress)


def _download_to(url: str, target: Path, sha256_prefix: str | None, progress: bool) -> Path:
    """Fetch into ``<target>.partial`` (retrying and resuming), check the hash, rename."""
    name = target.name
    partial = target.with_name(name + ".partial")
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
