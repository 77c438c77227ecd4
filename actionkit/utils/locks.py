"""A lock file that processes take turns on: one writer at a time for a file or a folder.

:func:`file_lock` is used wherever two processes may build the same thing (two DDP ranks
downloading the same weights, parallel test workers generating the same sample dataset): the
first one does the work, the others wait and then find it done.

With ``fcntl`` (POSIX) the lock is an ``flock`` on the lock file, released by the kernel when its
process dies, so a killed holder never blocks the others. Elsewhere it is the lock file itself,
created with ``O_EXCL``; a waiter gives up after ``stale_after`` seconds in which the holder made
no visible progress (the size of ``progress_file`` did not change).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["LockTimeout", "file_lock"]

log = logging.getLogger(__name__)

_STALE_S = 120.0  # without fcntl: give up when a lock is held this long with no progress


class LockTimeout(RuntimeError):
    """Another process holds the lock and has made no progress for too long."""


@contextlib.contextmanager
def file_lock(
    path: str | os.PathLike,
    *,
    remove: bool = True,
    what: str | None = None,
    progress_file: str | os.PathLike | None = None,
    stale_after: float | None = None,
) -> Iterator[None]:
    """Hold the lock file ``path`` exclusively for the block.

    Args:
        path: The lock file (created if missing).
        remove: Delete the lock file on release. Safe with ``fcntl``: a process that opened the
            old file before it was removed notices and locks the new one.
        what: What the lock is for, in the log line of a process that has to wait.
        progress_file: Without ``fcntl``: a file the holder grows while it works.
        stale_after: Without ``fcntl``: seconds without progress after which waiting ends in
            :class:`LockTimeout` (default 120).

    Raises:
        LockTimeout: Without ``fcntl`` only, see ``stale_after``.
    """
    path = Path(path)
    if fcntl is None:
        _create_exclusive(path, progress_file, _STALE_S if stale_after is None else stale_after)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
        return
    handle = _flock(path, what or path.name)
    try:
        yield
    finally:
        if remove:
            with contextlib.suppress(OSError):
                path.unlink()  # still held: a process that opened it before re-checks, see below
        handle.close()


def _flock(path: Path, what: str):
    while True:
        handle = open(path, "ab")  # noqa: SIM115 - held until release
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("Waiting for another process working on %s", what)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:  # the holder before us may have removed the file: then lock the new one
            if os.path.samestat(os.fstat(handle.fileno()), os.stat(path)):
                return handle
        except FileNotFoundError:
            pass
        handle.close()


def _create_exclusive(path: Path, progress_file: str | os.PathLike | None, stale: float) -> None:
    watched = Path(progress_file) if progress_file is not None else None
    seen, since = None, time.monotonic()
    while True:
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return
        except FileExistsError:
            pass
        size = watched.stat().st_size if watched is not None and watched.exists() else None
        if size != seen:
            seen, since = size, time.monotonic()
        elif time.monotonic() - since > stale:
            raise LockTimeout(
                f"{path} has been held for {stale:.0f} s by another process that makes no "
                f"progress; if no other process is working on it, delete it and try again."
            )
        time.sleep(0.1)
