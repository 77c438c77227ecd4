"""Fetching and unpacking dataset archives (RAR and ZIP): safe, resumable, never half-written.

:func:`fetch_archive` gets an archive with the shared downloader
(:func:`actionkit.utils.download.download`: cached, resumed with HTTP Range requests) or finds a
copy put in place by hand. :func:`extract` unpacks it:

- RAR with the ``rars`` package (it reads solid RAR3 and RAR5 archives exactly as RARLAB's
  UnRAR); when ``rars`` fails on an archive, ``unar`` or ``bsdtar`` take over where installed.
  ZIP with :mod:`zipfile`. Checksums are checked by the readers as they unpack.
- Every member name is checked before anything is written: absolute paths, drive letters, ``..``
  and links are refused with an :class:`ArchiveError` naming the member.
- Each member is unpacked into a hidden staging folder beside its target, its size checked, then
  renamed into place: a target file exists only when it is complete. A member whose target
  already has the right size is skipped, so an interrupted extraction resumes where it stopped.
- A marker file ``DEST/.<archive name>.extracted`` (JSON) is written last: while it exists the
  archive is not read again (it may even be deleted to free space).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from actionkit.utils.atomic import write_text
from actionkit.utils.download import DownloadError, download, url_basename
from actionkit.utils.filetypes import describe_file
from actionkit.utils.progress import progress_bar

__all__ = [
    "ArchiveError",
    "DatasetFiles",
    "Member",
    "check_members",
    "extract",
    "fetch_archive",
    "fetch_archives",
    "list_members",
    "read_marker",
    "safe_path",
    "write_marker",
]

log = logging.getLogger(__name__)

ARCHIVES_DIR = "archives"
"""The folder under a dataset root where downloaded archives are kept."""


@dataclass(frozen=True)
class DatasetFiles:
    """Where a dataset's videos and official split files are.

    Attributes:
        videos: The folder of ``<class>/<video>`` files (``VideoDataset.from_*``'s ``video_root``).
        splits: The folder of split lists (``split_dir``).
    """

    videos: Path
    splits: Path


class ArchiveError(RuntimeError):
    """An archive is damaged, unreadable, not the one expected, or holds an unsafe member."""


@dataclass(frozen=True)
class Member:
    """One entry of an archive: its name as stored, size, and whether it is a folder or a link."""

    name: str
    size: int
    is_dir: bool = False
    is_link: bool = False


# -- fetching ------------------------------------------------------------------------------------
def fetch_archive(url: str, root: Path, *, progress: bool = True, what: str = "archive") -> Path:
    """The archive at ``url``: ``root/archives/<name>`` (downloaded there once), or a copy put by
    hand at ``root/<name>`` or ``root/archives/<name>``.

    Raises:
        DownloadError: it cannot be downloaded; the message names the URL and the exact path
            where to put the file by hand.
    """
    name = url_basename(url)
    hint = f"(or at {root / name})"
    return download(
        url, root / ARCHIVES_DIR, search=[root], progress=progress, hint=hint, what=what
    )


def fetch_archives(urls: dict[str, str], root: Path, *, progress: bool = True) -> dict[str, Path]:
    """:func:`fetch_archive` for each ``{url: what}``; tries them all before it raises.

    Raises:
        DownloadError: one or more cannot be had; the message holds each one's instructions.
    """
    found, errors = {}, []
    for url, what in urls.items():
        try:
            found[url] = fetch_archive(url, root, progress=progress, what=what)
        except DownloadError as err:
            errors.append(str(err))
    if errors:
        raise DownloadError("\n\n".join(errors))
    return found


# -- listing and checking ------------------------------------------------------------------------
_DRIVE = re.compile(r"^[A-Za-z]:")
_LINK_MODE = 0o120000  # S_IFLNK in a ZIP entry's external attributes (upper 16 bits)


def _rars():
    import rars

    return rars


def list_members(archive: Path) -> list[Member]:
    """The entries of a RAR or ZIP archive.

    Raises:
        ArchiveError: the archive cannot be read (the message names it and says why).
    """
    archive = Path(archive)
    if zipfile.is_zipfile(archive):
        try:
            with zipfile.ZipFile(archive) as zf:
                return [
                    Member(i.filename, i.file_size, i.is_dir(), (i.external_attr >> 16) & 0o170000
                           == _LINK_MODE)
                    for i in zf.infolist()
                ]  # fmt: skip
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            raise ArchiveError(f"{archive} is not a readable ZIP archive: {err}") from err
    rars = _rars()
    try:
        rar = rars.RarFile(str(archive))
        return [_rar_member(rar, info) for info in rar.infolist()]
    except rars.Error as err:
        names = _tool_list(archive)
        if names is None:
            raise _damaged(archive, err) from err
        return [Member(n.rstrip("/"), -1, n.endswith("/")) for n in names]


def _rar_member(rar, info) -> Member:
    try:
        link = rar.readlink(info.filename) is not None
    except Exception:  # not a link (rars raises for plain files)
        link = False
    return Member(info.filename, int(info.file_size), bool(info.is_dir()), link)


def _damaged(archive: Path, err: BaseException) -> ArchiveError:
    size = archive.stat().st_size if archive.exists() else 0
    kind = describe_file(archive) if archive.is_file() else None
    looks = f" (it looks like {kind})" if kind else ""
    return ArchiveError(
        f"{archive} ({size:,} bytes) is not a readable RAR archive{looks}: {err}. It is probably "
        "damaged or incomplete: delete it and run again to download it afresh, or put a good copy "
        "there."
    )


def safe_path(name: str, archive: Path) -> PurePosixPath:
    """``name`` as a relative path inside the destination, or an :class:`ArchiveError`."""
    text = name.replace("\\", "/")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if text.startswith("/") or _DRIVE.match(text) or ".." in parts or not parts:
        raise ArchiveError(
            f"{archive} holds the member {name!r}, which would land outside the folder it is "
            "extracted to; nothing was extracted from it"
        )
    return PurePosixPath(*parts)


def _check_safe(members: list[Member], archive: Path) -> None:
    for m in members:
        safe_path(m.name, archive)
        if m.is_link:
            raise ArchiveError(
                f"{archive} holds the member {m.name!r}, a symbolic link; links are refused "
                "(they can point outside the folder); nothing was extracted from it"
            )


# -- markers -------------------------------------------------------------------------------------
def _marker(archive_name: str, dest: Path) -> Path:
    return Path(dest) / f".{archive_name}.extracted"


def read_marker(archive_name: str, dest: Path) -> dict | None:
    """What the marker of a finished extraction of ``archive_name`` into ``dest`` says, or None."""
    try:
        return json.loads(_marker(archive_name, dest).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_marker(archive_name: str, dest: Path, info: dict) -> None:
    """Record (atomically) that ``archive_name`` is fully extracted into ``dest``."""
    write_text(_marker(archive_name, dest), json.dumps(info, indent=1) + "\n")


def check_members(archive: Path, members: list[Member], expected: str, fits) -> None:
    """An :class:`ArchiveError` unless ``archive`` holds files and ``fits(path)`` is true for
    each member's path; ``expected`` describes the right content for the message."""
    files = [m for m in members if not m.is_dir]
    odd = [m.name for m in members if not fits(safe_path(m.name, archive), m.is_dir)]
    if not files or odd:
        found = f"{len(odd)} other members, e.g. {odd[:3]}" if odd else "no files"
        raise ArchiveError(
            f"{archive} is not the archive expected here: it should hold {expected}, and it "
            f"holds {found}. Delete or replace it, and run again."
        )


# -- extracting ----------------------------------------------------------------------------------
def extract(archive: Path, dest: Path, *, progress: bool = True, prefix: str = "") -> dict:
    """Unpack ``archive`` into ``dest`` (members go to ``dest/prefix/<name>``); resumable.

    Returns the marker's content: ``archive``, ``size``, ``files`` (count) and ``top`` (the
    top-level names). When the marker is already there, returns it at once.

    Raises:
        ArchiveError: damaged archive, unsafe member, or a member that came out the wrong size.
    """
    archive, dest = Path(archive), Path(dest)
    done = read_marker(archive.name, dest)
    if done is not None:
        return done
    members = list_members(archive)
    _check_safe(members, archive)
    base = dest / prefix if prefix else dest
    files = [m for m in members if not m.is_dir]
    todo = [m for m in files if not _complete(base / safe_path(m.name, archive), m.size)]
    staging = dest / f".{archive.name}.extracting"
    shutil.rmtree(staging, ignore_errors=True)  # whatever an interrupted run left half-written
    staging.mkdir(parents=True)
    try:
        with progress_bar(
            total=sum(max(m.size, 0) for m in todo), unit="B", unit_scale=True,
            unit_divisor=1024, desc=archive.name, show=progress, leave=False,
        ) as bar:  # fmt: skip
            if todo and zipfile.is_zipfile(archive):
                _extract_zip(archive, todo, staging, base, bar)
            elif todo:
                _extract_rar(archive, todo, staging, base, bar)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for m in members:
        if m.is_dir:
            (base / safe_path(m.name, archive)).mkdir(parents=True, exist_ok=True)
    top = sorted({safe_path(m.name, archive).parts[0] for m in members})
    info = {
        "archive": archive.name,
        "size": archive.stat().st_size,
        "files": len(files),
        "top": top,
    }
    write_marker(archive.name, dest, info)
    return info


def _complete(path: Path, size: int) -> bool:
    try:
        return path.is_file() and (size < 0 or path.stat().st_size == size)
    except OSError:
        return False


def _place(unpacked: Path, member: Member, base: Path, archive: Path) -> None:
    """Move a fully unpacked member from the staging folder to its place (atomic rename)."""
    if unpacked.is_symlink() or not unpacked.is_file():
        raise ArchiveError(f"{archive}: the member {member.name!r} did not unpack as a file")
    got = unpacked.stat().st_size
    if member.size >= 0 and got != member.size:
        raise ArchiveError(
            f"{archive}: the member {member.name!r} unpacked to {got:,} bytes, but the archive "
            f"says {member.size:,}; the archive is probably damaged"
        )
    target = base / safe_path(member.name, archive)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(unpacked, target)


def _unpacked(staging: Path, member: Member, archive: Path) -> Path:
    """Where an unpacker put ``member`` in ``staging`` (its name with ``/``, or as stored)."""
    path = staging / safe_path(member.name, archive)
    as_stored = staging / member.name
    return as_stored if not path.exists() and as_stored.exists() else path


def _extract_zip(archive: Path, todo: list[Member], staging: Path, base: Path, bar) -> None:
    with zipfile.ZipFile(archive) as zf:
        for m in todo:
            out = staging / "member"
            try:
                with zf.open(m.name) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as err:
                raise ArchiveError(f"{archive}: cannot unpack {m.name!r}: {err}") from err
            _place(out, m, base, archive)
            bar.update(m.size)


def _extract_rar(archive: Path, todo: list[Member], staging: Path, base: Path, bar) -> None:
    rars = _rars()
    try:
        rar = rars.RarFile(str(archive))
        solid = any(info.is_solid for info in rar.infolist())
        if solid:  # one pass: member by member would decode the solid stream again each time
            rar.extractall(path=str(staging), members=[m.name for m in todo])
        for m in todo:
            if not solid:
                rar.extract(m.name, path=str(staging))
            _place(_unpacked(staging, m, archive), m, base, archive)
            bar.update(m.size)
    except rars.Error as err:
        log.info("rars could not unpack %s (%s); trying unar / bsdtar", archive, err)
        if not _tool_extract(archive, staging):
            raise _damaged(archive, err) from err
        for m in todo:
            if not _complete(base / safe_path(m.name, archive), m.size):
                _place(_unpacked(staging, m, archive), m, base, archive)
                bar.update(max(m.size, 0))


# -- fall-backs: unar, bsdtar ----------------------------------------------------------------------
def _tool_list(archive: Path) -> list[str] | None:
    """Member names by ``lsar`` or ``bsdtar``, or None when neither is installed or both fail."""
    commands = [["lsar", str(archive)], ["bsdtar", "-tf", str(archive)]]
    for cmd in commands:
        if shutil.which(cmd[0]) is None:
            continue
        run = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if run.returncode == 0:
            lines = [line for line in run.stdout.splitlines() if line.strip()]
            return lines[1:] if cmd[0] == "lsar" else lines  # lsar's first line names the file
    return None


def _tool_extract(archive: Path, staging: Path) -> bool:
    """Unpack all of ``archive`` into ``staging`` with ``unar`` or ``bsdtar``; False if neither
    is installed or both fail. Links that come out are refused."""
    commands = [
        ["unar", "-q", "-f", "-D", "-o", str(staging), str(archive)],
        ["bsdtar", "-xf", str(archive), "-C", str(staging)],
    ]
    for cmd in commands:
        if shutil.which(cmd[0]) is None:
            continue
        if subprocess.run(cmd, capture_output=True, check=False).returncode == 0:
            for path in staging.rglob("*"):
                if path.is_symlink():
                    raise ArchiveError(
                        f"{archive} holds the member {str(path.relative_to(staging))!r}, a "
                        "symbolic link; links are refused; nothing of it was kept"
                    )
            return True
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    return False
