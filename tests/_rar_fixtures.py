"""Small HMDB51- and UCF101-shaped archives built offline (``rars.RarBuilder``, ``zipfile``), and a
local HTTP server that serves them with Range support and can cut a response short."""

from __future__ import annotations

import io
import tarfile
import threading
import zipfile
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import rars

from actionkit.resources import ucf101_classes
from actionkit.video import write_video
from tests._http_range import send_head

HMDB_CLASSES = ("brush_hair", "cartwheel", "catch")
UCF_CLASSES = ("ApplyEyeMakeup", "Basketball", "YoYo")


def tiny_avi(tmp: Path, seed: int) -> bytes:
    """An 8-frame 32×24 MPEG-4 Part 2 AVI (the codec HMDB51 and UCF101 use), as bytes."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 255, size=(8, 24, 32, 3), dtype=np.uint8)
    path = write_video(tmp / f"tiny{seed}.avi", frames, 25.0, codec="mpeg4", crf=None)
    data = path.read_bytes()
    path.unlink()
    return data


def rar_bytes(members: dict[str, bytes], fmt: str = "rar50", store: bool = False) -> bytes:
    """A RAR archive (``rar29`` or ``rar50``) of ``{name: data}``."""
    builder = rars.RarBuilder(format=fmt, store=store)
    for name, data in members.items():
        builder.add_bytes(data, name)
    return builder.to_bytes()


def hmdb51_archives(
    folder: Path, fmt: str = "rar50", per_class: int = 5, class_folder: bool = True
) -> tuple[Path, Path]:
    """``hmdb51_org.rar`` (one ``<class>.rar`` per class of ``per_class`` AVIs) and
    ``test_train_splits.rar``; per class and split: 3 train (id 1), 1 test (2), the rest 0.

    ``class_folder``: the inner archives hold ``<class>/<video>.avi`` (as HMDB51's do), or bare
    ``<video>.avi`` names.
    """
    folder.mkdir(parents=True, exist_ok=True)
    outer, splits = {}, {}
    for c, cls in enumerate(HMDB_CLASSES):
        names = [f"{cls}_video_{i}.avi" for i in range(per_class)]
        inner = {
            (f"{cls}/{name}" if class_folder else name): tiny_avi(folder, 10 * c + i)
            for i, name in enumerate(names)
        }
        outer[f"{cls}.rar"] = rar_bytes(inner, fmt)
        for split in (1, 2, 3):
            ids = [1, 1, 1, 2] + [0] * (per_class - 4)
            ids = ids[split - 1 :] + ids[: split - 1]  # each split holds out another video
            text = "".join(f"{name} {i} \n" for name, i in zip(names, ids, strict=True))
            splits[f"testTrainMulti_7030_splits/{cls}_test_split{split}.txt"] = text.encode()
    videos, split_rar = folder / "hmdb51_org.rar", folder / "test_train_splits.rar"
    videos.write_bytes(rar_bytes(outer, fmt))
    split_rar.write_bytes(rar_bytes(splits, fmt))
    return videos, split_rar


def ucf101_archives(folder: Path, fmt: str = "rar50", per_class: int = 4) -> tuple[Path, Path]:
    """``UCF101.rar`` (``UCF-101/<Class>/v_<Class>_gXX_c01.avi``) and the split ZIP: per class
    and split, 3 train and 1 test video (another one in each split)."""
    folder.mkdir(parents=True, exist_ok=True)
    members, lists = {}, {f"trainlist0{s}.txt": "" for s in (1, 2, 3)}
    lists.update({f"testlist0{s}.txt": "" for s in (1, 2, 3)})
    all_classes = ucf101_classes()
    for c, cls in enumerate(UCF_CLASSES):
        rels = [f"{cls}/v_{cls}_g{g + 8:02d}_c01.avi" for g in range(per_class)]
        for g, rel in enumerate(rels):
            members[f"UCF-101/{rel}"] = tiny_avi(folder, 100 + 10 * c + g)
        for split in (1, 2, 3):
            test = (split - 1) % per_class
            for g, rel in enumerate(rels):
                if g == test:
                    lists[f"testlist0{split}.txt"] += f"{rel}\r\n"
                else:
                    label = all_classes.index(cls) + 1
                    lists[f"trainlist0{split}.txt"] += f"{rel} {label}\r\n"
    videos = folder / "UCF101.rar"
    videos.write_bytes(rar_bytes(members, fmt))
    splits = folder / "UCF101TrainTestSplits-RecognitionTask.zip"
    class_ind = "".join(f"{i} {name}\r\n" for i, name in enumerate(all_classes, 1))
    with zipfile.ZipFile(splits, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ucfTrainTestlist/classInd.txt", class_ind)
        for name, text in lists.items():
            zf.writestr(f"ucfTrainTestlist/{name}", text)
    return videos, splits


# -- hostile and damaged archives ----------------------------------------------------------------
def _vint(buf: bytes | bytearray, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def rename_in_rar5(data: bytes, old: bytes, new: bytes) -> bytes:
    """A RAR5 archive with member ``old`` renamed to ``new`` (same length), header CRCs fixed:
    how a hostile archive gets names (``../x``) that ``RarBuilder`` refuses to write."""
    assert len(old) == len(new)
    out, pos = bytearray(data), 8
    while pos < len(out):
        size, start = _vint(out, pos + 4)
        end = start + size
        header = bytes(out[start:end])
        if old in header:
            i = out.index(old, start, end)
            out[i : i + len(old)] = new
            out[pos : pos + 4] = zlib.crc32(bytes(out[pos + 4 : end])).to_bytes(4, "little")
        _, p = _vint(out, start)  # header type
        flags, p = _vint(out, p)
        if flags & 1:
            _, p = _vint(out, p)  # extra area size
        data_size = _vint(out, p)[0] if flags & 2 else 0
        pos = end + data_size
    return bytes(out)


def zip_bytes(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    """A ZIP of ``{name: data}`` (names written as given) plus Unix symlinks ``{name: target}``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16) | 0x10
            zf.writestr(info, target)
    return buffer.getvalue()


# -- for the unar / bsdtar fall-back ----------------------------------------------------------
BSDTAR_STANDIN = """#!{python}
# A stand-in for bsdtar's -tf / -xf (with tarfile) where bsdtar is not installed.
import sys, tarfile
args = sys.argv[1:]
with tarfile.open(args[1]) as tar:
    if args[0] == "-tf":
        print("\\n".join(tar.getnames()))
    else:
        tar.extractall(args[3], filter="fully_trusted")
"""


def tar_file(path: Path, members: dict[str, bytes], links=()) -> None:
    """A tar of ``{name: data}`` and symlinks (to /etc/passwd) named ``links``."""
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name in links:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)


# -- a local HTTP server -------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        srv = self.server
        srv.seen.append((self.path, self.headers.get("Range")))
        data = srv.files.get(self.path.lstrip("/"))
        if data is None:
            self.send_error(404)
            return
        body = send_head(self, data)
        if body is None:
            return
        if srv.drops > 0:  # announce the whole body, send a third of it, hang up
            srv.drops -= 1
            self.wfile.write(body[: len(body) // 3])
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class FileServer:
    """``files`` ({name: bytes}) served on 127.0.0.1; ``drops`` responses are cut short."""

    def __init__(self, files: dict[str, bytes]):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.files, self.httpd.seen, self.httpd.drops = dict(files), [], 0
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    @property
    def seen(self) -> list[tuple[str, str | None]]:
        return self.httpd.seen

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
