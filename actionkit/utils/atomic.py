"""Crash-safe file writing: a temporary file in the target's folder, then a rename.

A crash or a kill at any moment leaves the previous file or the new one, never a torn file, and
new files get the permissions a plain ``open()`` would give them.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "new_file_mode", "save_figure", "write_bytes", "write_text"]


@functools.cache
def new_file_mode() -> int:
    """The mode a plain ``open()`` gives new files (0666 minus the umask); mkstemp uses 0600."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike,
    *,
    prefix: str | None = None,
    suffix: str = ".tmp",
    keep_mode: bool = False,
) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to; on success it replaces ``path``.

    Missing parent folders are created. On an exception (Ctrl-C included, at any moment: the
    temporary file is created inside the block that removes it) the temporary file is removed
    and ``path`` is left as it was.

    Args:
        path: The file to write.
        prefix: Start of the temporary file's name (default ``.<name>.``, a hidden file).
        suffix: Its end (a writer that picks the format from the suffix needs the real one).
        keep_mode: Keep the permissions the writer gave the file (a copy of another file's)
            instead of those of a plain ``open()``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}." if prefix is None else prefix
    tmp: Path | None = None
    try:
        for _ in range(100):
            tmp = path.parent / f"{prefix}{secrets.token_hex(6)}{suffix}"
            try:  # created here, inside the try: an interrupt at any point is cleaned up
                os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
                break
            except FileExistsError:  # someone else's file of that name: never ours to remove
                tmp = None
        if tmp is None:
            raise FileExistsError(f"no free temporary file name for {path}")
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if not keep_mode:
            os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    return Path(path)


def save_figure(
    fig, path: str | os.PathLike, dpi: int = 100, bbox_inches: str | None = None
) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix, PNG without one), atomically.

    ``bbox_inches="tight"`` trims the margins (as in ``Figure.savefig``).
    """
    path = Path(path)
    buffer = io.BytesIO()
    suffix = path.suffix.lstrip(".").lower() or "png"
    fig.savefig(buffer, format=suffix, dpi=dpi, bbox_inches=bbox_inches)
    return write_bytes(path, buffer.getvalue())
