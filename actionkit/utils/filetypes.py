"""What a file is, from its first bytes: named in errors where a file is not what was asked for
(a video given as a model file, an HTML page saved as weights)."""

from __future__ import annotations

import zipfile
from pathlib import Path

__all__ = ["CHECKPOINT_KINDS", "describe_file"]


#: What :func:`describe_file` calls the files ``torch.load`` may read.
CHECKPOINT_KINDS = ("a PyTorch checkpoint", "a Python pickle (an old-style PyTorch checkpoint?)")

_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "a JPEG image"),
    (0, b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (0, b"GIF8", "a GIF image"),
    (0, b"%PDF", "a PDF document"),
    (0, b"\x1f\x8b", "a gzip archive"),
    (0, b"BZh", "a bzip2 archive"),
    (0, b"\xfd7zXZ\x00", "an xz archive"),
    (0, b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (257, b"ustar", "a tar archive"),
    (0, b"\x93NUMPY", "a NumPy array file (.npy)"),
    (0, b"\x89HDF\r\n\x1a\n", "an HDF5 file (Keras or TensorFlow weights?)"),
    (0, b"FLV", "an FLV video"),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "a Windows Media (ASF/WMV) video"),
    (0, b"\x00\x00\x01\xba", "an MPEG video"),
    (0, b"\x00\x00\x01\xb3", "an MPEG video"),
)
_RIFF = {b"AVI ": "an AVI video", b"WAVE": "a WAV audio file", b"WEBP": "a WebP image"}
_FTYP = {b"qt  ": "a QuickTime (MOV) video", b"M4A ": "an M4A audio file"}


def describe_file(path: str | Path) -> str | None:
    """What ``path`` looks like from its first bytes, e.g. ``"an MP4 video"``; ``None``: unknown.

    Knows images (JPEG, PNG, GIF, WebP), videos (MP4, MOV, AVI, Matroska, WebM, MPEG, FLV, WMV),
    archives (ZIP, gzip, tar...), text (HTML pages and Git LFS pointers named as such), empty
    files, and the files ``torch.load`` reads (:data:`CHECKPOINT_KINDS`).
    """
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(1024)
    if not head:
        return "an empty file"
    for offset, magic, kind in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    if head[:4] == b"RIFF":
        return _RIFF.get(head[8:12], "a RIFF file")
    if head[4:8] == b"ftyp":
        return _FTYP.get(head[8:12], "an MP4 video")
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return "a QuickTime (MOV) video"
    if head[:4] == b"\x1aE\xdf\xa3":
        return "a WebM video" if b"webm" in head[:64] else "a Matroska (MKV) video"
    if head[:2] == b"PK" and head[2:4] in (b"\x03\x04", b"\x05\x06"):
        return _describe_zip(path, head)
    if head[0] == 0x80 and 2 <= head[1] <= 5:
        return CHECKPOINT_KINDS[1]
    size = int.from_bytes(head[:8], "little")
    if head[8:10] == b'{"' and 2 <= size < path.stat().st_size:
        return "a safetensors file (not a PyTorch .pt/.pth file)"
    return _describe_text(head)


def _describe_zip(path: Path, head: bytes) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):  # e.g. truncated: the first entry's name still tells
        first = head[30 : 30 + int.from_bytes(head[26:28], "little")]
        return CHECKPOINT_KINDS[0] if first.endswith(b"data.pkl") else "a damaged ZIP archive"
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return CHECKPOINT_KINDS[0]
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    return f"a ZIP archive that is not a PyTorch checkpoint (it holds {shown or 'nothing'})"


def _describe_text(head: bytes) -> str | None:
    if b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 4:  # not just a character cut at the end of the head
            return None
        text = head[: err.start].decode("utf-8")
    start = text.lstrip().lower()
    if start.startswith(("<!doctype html", "<html")):
        return "an HTML page (a web page saved instead of the file?)"
    if start.startswith("version https://git-lfs"):
        return "a Git LFS pointer (the file itself was never fetched: git lfs pull)"
    first = text.strip().splitlines()[0][:40] if text.strip() else ""
    return f"a text file (it starts {first!r})"


# -- download ------------------------------------------------------------------------------------
