"""Fetch a file once into a cache folder: resumed, hash-checked, one process at a time.

:func:`download` fetches a URL into a folder the caller names, resuming an interrupted download
with an HTTP Range request (also across calls), and checks the start of its sha256. Two processes
fetching the same file take turns (:func:`~actionkit.utils.locks.file_lock` on a lock file beside
it), and the second finds the first one's file. When the machine is offline the error says exactly
where to put the file by hand. A file whose hash does not match (one put there by hand, or one
just downloaded) is never deleted: it is moved aside to ``<name>.bad-<sha256[:8]>`` and the
message says so, with its size and both hashes. It knows nothing of what the file is for:
weights (:mod:`actionkit.models.weights`) and datasets use it alike. A bad file's message says
what it looks like (:func:`actionkit.utils.filetypes.describe_file`).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from actionkit.utils.filetypes import CHECKPOINT_KINDS, describe_file
from actionkit.utils.locks import LockTimeout, file_lock
from actionkit.utils.progress import progress_bar

__all__ = [
    "DownloadError",
    "download",
    "is_url",
    "move_aside",
    "sha256_file",
    "url_basename",
]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_TIMEOUT_S = 30.0
_ATTEMPTS = 3
_USER_AGENT = "actionkit (python urllib)"


class DownloadError(RuntimeError):
    """A file could not be fetched, or it did not match its hash."""


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


def move_aside(path: Path, sha256: str) -> Path:
    """Rename ``path`` to ``<name>.bad-<sha256[:8]>`` beside it (``-2``, ``-3``... when taken).

    An existing file is never overwritten. Returns the new path.
    """
    for n in range(1, 1000):
        aside = path.with_name(f"{path.name}.bad-{sha256[:8]}" + (f"-{n}" if n > 1 else ""))
        try:
            os.link(path, aside)  # fails when ``aside`` exists: nothing is overwritten
        except FileExistsError:
            continue
        except OSError:  # no hard links here (some network or FAT file systems)
            if aside.exists():
                continue
            os.replace(path, aside)
            return aside
        path.unlink()
        return aside
    raise DownloadError(f"Cannot move {path} aside: {path.name}.bad-* names are all taken")


def _bad_hash(path: Path, expected: str | None, actual: str) -> str:
    """``path`` (size) does not match: expected ``expected...``, got ``actual`` (and its kind)."""
    kind = describe_file(path)
    looks = f"; it looks like {kind}" if kind and kind not in CHECKPOINT_KINDS else ""
    return (
        f"{path} ({path.stat().st_size:,} bytes) does not match its expected sha256: "
        f"expected a hash starting with {expected}, got {actual}{looks}"
    )


def is_url(value: str) -> bool:
    """Whether ``value`` is a URL :func:`download` fetches (http, https, ftp, file)."""
    scheme = urllib.parse.urlsplit(value).scheme.lower()
    return scheme in ("http", "https", "ftp", "file")


def url_basename(url: str) -> str:
    """The file name at the end of a URL (or path)."""
    path = urllib.parse.urlsplit(url).path if is_url(url) else url
    name = Path(urllib.parse.unquote(path)).name
    if not name:
        raise ValueError(f"cannot tell a file name from {url!r}; pass file_name=")
    return name


def _offline_error(
    url: str,
    name: str,
    target: Path,
    reason: object,
    hint: str,
    note: str = "",
    hashed: bool = True,
) -> DownloadError:
    check = ", after its hash is checked" if hashed else ""
    return DownloadError(
        f"Could not download {url}: {reason}.\n"
        f"{note + chr(10) if note else ''}"
        f"If this machine is offline, download {name!r} on another machine and put it at\n"
        f"    {target}\n"
        f"{hint + '; ' if hint else ''}it is used from there{check}."
    )


def _check_local(path: Path, sha256_prefix: str | None, what: str) -> Path:
    ok, actual = _hash_matches(path, sha256_prefix)
    if not ok:
        raise DownloadError(f"{what} {_bad_hash(path, sha256_prefix, str(actual))}.")
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

        written = have
        with (
            open(partial, mode) as out,
            progress_bar(
                total=total,
                initial=have,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=name,
                show=progress,
                leave=False,
            ) as bar,
        ):
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                written += len(chunk)
                bar.update(len(chunk))
    return total is None or written >= total


# -- the download ------------------------------------------------------------------------------
def _find_cached(
    target: Path, sha256_prefix: str | None, move_bad: bool, search: Sequence[Path]
) -> tuple[Path | None, str]:
    """``target`` (or a copy in one of the ``search`` folders) when it has the right hash.

    With ``move_bad``, a ``target`` with the wrong hash (put there by hand, damaged, stale) is
    moved aside (:func:`move_aside`); the second value then says so, for the messages.
    """
    note = ""
    for candidate in (target, *(Path(folder) / target.name for folder in search)):
        if candidate.is_file():
            ok, actual = _hash_matches(candidate, sha256_prefix)
            if ok:
                return candidate, note
            if candidate == target and move_bad:  # fetch it again, keep this one for a look
                what = _bad_hash(target, sha256_prefix, str(actual))
                aside = move_aside(target, str(actual))
                note = f"The file that was at {what}; it was moved to {aside}."
    return None, note


def download(
    url: str,
    folder: str | os.PathLike,
    *,
    sha256_prefix: str | None = None,
    file_name: str | None = None,
    progress: bool = True,
    search: Sequence[str | os.PathLike] = (),
    hint: str = "",
    what: str = "file",
) -> Path:
    """Fetch ``url`` into ``folder`` (once) and return the local path.

    A file already there is returned when its hash matches. ``file://`` URLs go through the same
    path as ``http(s)://`` ones; a plain local path is checked and returned as it is. The download
    is written to ``<name>.partial``, resumed with an HTTP Range request where the server allows
    it (also across calls), checked against ``sha256_prefix`` and renamed into place atomically.
    Processes fetching the same file take turns through a ``<name>.lock`` file: the first
    downloads, the others wait and then use its file.

    Args:
        url: ``http(s)://``, ``ftp://`` or ``file://`` URL, or a local path.
        folder: Where the file goes (created when needed).
        sha256_prefix: The start of the file's sha256 in hex; ``None`` skips the check.
        file_name: Name in ``folder``; default the URL's last path component.
        progress: Show a progress bar.
        search: Other folders where a good copy is used as it is (e.g. torch.hub's cache).
        hint: Added to the offline message (e.g. the variable that moves ``folder``).
        what: What the file is, for messages (``"weights file"``, ``"dataset archive"``).

    Raises:
        DownloadError: the file cannot be fetched (the message says where to put it by hand),
            or its hash does not match (the bad file is moved aside, and the message says where).
    """
    url = str(url)
    if not is_url(url):
        path = Path(url).expanduser()
        if not path.is_file():
            raise DownloadError(f"No such {what}: {path}")
        return _check_local(path, sha256_prefix, what[:1].upper() + what[1:])

    name = file_name or url_basename(url)
    folder = Path(folder)
    target = folder / name
    found, _ = _find_cached(target, sha256_prefix, False, search)
    if found is not None:
        return found
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DownloadError(f"Cannot create the folder {folder} for {name}: {err}") from err
    lock = target.with_name(name + ".lock")
    partial = target.with_name(name + ".partial")
    try:
        with file_lock(lock, what=name, progress_file=partial):
            found, note = _find_cached(target, sha256_prefix, True, search)  # fetched meanwhile?
            if found is not None:
                return found
            if note:
                log.warning("%s Downloading it again from %s", note, url)
            return _download_to(url, target, sha256_prefix, progress, hint, note)
    except LockTimeout as err:
        raise DownloadError(str(err)) from err


def _download_to(
    url: str, target: Path, sha256_prefix: str | None, progress: bool, hint: str, note: str = ""
) -> Path:
    """Fetch into ``<target>.partial`` (retrying and resuming), check the hash, rename."""
    name = target.name
    partial = target.with_name(name + ".partial")
    hashed = sha256_prefix is not None
    last_error: BaseException | None = None
    complete = False
    for _ in range(_ATTEMPTS):
        try:
            complete = _fetch_once(url, partial, name, progress)
        except urllib.error.HTTPError as err:
            reason = f"HTTP {err.code} {err.reason}"
            raise _offline_error(url, name, target, reason, hint, note, hashed) from err
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as err:
            # OSError covers resets and timeouts; HTTPException a dropped or malformed response.
            last_error = err
            if partial.exists() and partial.stat().st_size:
                continue  # something arrived: try to resume
            reason = getattr(err, "reason", err)
            raise _offline_error(url, name, target, reason, hint, note, hashed) from err
        if complete:
            break
    if not complete:
        raise _offline_error(
            url,
            name,
            target,
            f"the connection kept dropping ({last_error or 'incomplete download'}); "
            f"the part fetched so far is kept in {partial} and the next call resumes it",
            hint,
            note,
            hashed,
        )

    ok, actual = _hash_matches(partial, sha256_prefix)
    if not ok:
        what = _bad_hash(partial, sha256_prefix, str(actual))
        aside = move_aside(partial, str(actual))
        raise DownloadError(
            f"The file downloaded from {url} into {what}. It was kept as {aside} (delete it when "
            f"you are done with it); try again, or put a good copy at {target}."
        )
    os.replace(partial, target)
    return target
