"""HMDB51: download and unpack the real dataset, or generate a small set laid out the same way.

:func:`download_hmdb51` leaves::

    ROOT/hmdb51_org/<class>/<video>.avi                                 6,766 videos, 51 classes
    ROOT/testTrainMulti_7030_splits/<class>_test_split<1|2|3>.txt       lines "<video>.avi <id>"
    ROOT/archives/hmdb51_org.rar, ROOT/archives/test_train_splits.rar   the downloads, kept

so that ``VideoDataset.from_hmdb51(files.videos, files.splits, split=1)`` loads split 1 (ids:
1 = train, 2 = test, 0 = unused; 70 train and 30 test videos a class). The videos archive is a RAR
of 51 RARs, one per class: the outer one is unpacked into ``ROOT/archives/hmdb51_org/``, then each
inner one into ``ROOT/hmdb51_org/`` and deleted. Every step resumes where an interrupted run
stopped (see :mod:`actionkit.datasets._archive`).

The serre-lab site publishes no checksums for these archives, so none is checked; what can be
verified is: each archive opens, holds what it should (51 ``<class>.rar`` of ``.avi`` files, and
split lists), and every member unpacks with the checksum RAR stores for it.

:func:`make_hmdb51_like` writes a small generated set in the same layout (for tests, and for the
HMDB51 notebook's small-parameters path).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

import numpy as np

from actionkit.datasets._archive import (
    ARCHIVES_DIR,
    DatasetFiles,
    check_members,
    extract,
    fetch_archives,
    list_members,
    read_marker,
    write_marker,
)
from actionkit.datasets._render import SAMPLE_CLASSES, render_sample_video
from actionkit.resources import hmdb51_classes
from actionkit.utils.atomic import write_text
from actionkit.utils.download import url_basename
from actionkit.utils.locks import file_lock
from actionkit.utils.progress import progress_bar
from actionkit.video import write_video

__all__ = [
    "HMDB51_SPLITS_URL",
    "HMDB51_URL",
    "DatasetFiles",
    "download_hmdb51",
    "make_hmdb51_like",
]

HMDB51_URL = "http://serre-lab.clps.brown.edu/wp-content/uploads/2013/10/hmdb51_org.rar"
HMDB51_SPLITS_URL = (
    "http://serre-lab.clps.brown.edu/wp-content/uploads/2013/10/test_train_splits.rar"
)
VIDEOS_DIR = "hmdb51_org"
SPLITS_DIR = "testTrainMulti_7030_splits"
_SPLIT_FILE = re.compile(r"^(?P<cls>.+)_test_split[123]\.txt$")


def download_hmdb51(
    root: str | os.PathLike,
    *,
    progress: bool = True,
    url: str = HMDB51_URL,
    splits_url: str = HMDB51_SPLITS_URL,
    splits_only: bool = False,
) -> DatasetFiles:
    """Download (once) and unpack HMDB51 and its official splits under ``root``.

    Archives already in ``root/archives/`` or ``root/`` (put there by hand) are used as they are;
    an interrupted download or extraction resumes. Once unpacked, the archives are no longer
    read (they may be deleted).

    Args:
        root: The dataset folder (created when needed).
        progress: Show progress bars.
        url: The videos archive (``http(s)://``, ``file://`` or a local path).
        splits_url: The split lists archive.
        splits_only: Only the split lists (for videos already there).

    Returns:
        The videos folder ``root/hmdb51_org`` and the splits folder
        ``root/testTrainMulti_7030_splits``.

    Raises:
        DownloadError: an archive cannot be downloaded; the message says where to put it by hand.
        ArchiveError: an archive is damaged or not the expected one (the message names it).
    """
    root = Path(root).expanduser()
    files = DatasetFiles(root / VIDEOS_DIR, root / SPLITS_DIR)
    root.mkdir(parents=True, exist_ok=True)
    with file_lock(root / ".hmdb51.lock", what=f"HMDB51 in {root}"):  # one process at a time
        _download(root, files, url, splits_url, splits_only, progress)
    return files


def _download(
    root: Path, files: DatasetFiles, url: str, splits_url: str, splits_only: bool, progress: bool
) -> None:
    videos_name, splits_name = url_basename(url), url_basename(splits_url)
    inner_dir = root / ARCHIVES_DIR / PurePosixPath(videos_name).stem
    need = {}
    if read_marker(splits_name, root) is None:
        need[splits_url] = "HMDB51 split archive"
    videos_done = splits_only or read_marker(videos_name, files.videos) is not None
    if not videos_done and read_marker(videos_name, inner_dir) is None:
        need[url] = "HMDB51 videos archive"
    archives = fetch_archives(need, root, progress=progress)

    if splits_url in archives:
        archive = archives[splits_url]
        check_members(archive, list_members(archive), f"{SPLITS_DIR}/<class>_test_split<1|2|3>.txt",
                      _is_split_member)  # fmt: skip
        extract(archive, root, progress=progress)
    if not videos_done:
        if url in archives:
            archive = archives[url]
            check_members(archive, list_members(archive), "one <class>.rar per HMDB51 class",
                          _is_class_archive)  # fmt: skip
            extract(archive, inner_dir, progress=progress)
        _extract_classes(inner_dir, files.videos, progress)
        count = sum(1 for p in files.videos.glob("*/*") if p.is_file())
        write_marker(videos_name, files.videos, {"archive": videos_name, "files": count})
        shutil.rmtree(inner_dir, ignore_errors=True)


def _is_split_member(path: PurePosixPath, is_dir: bool) -> bool:
    if path.parts[0] != SPLITS_DIR:
        return False
    return is_dir or (len(path.parts) == 2 and _SPLIT_FILE.match(path.name) is not None)


def _is_class_archive(path: PurePosixPath, is_dir: bool) -> bool:
    return (
        not is_dir
        and len(path.parts) == 1
        and path.suffix == ".rar"
        and path.stem in hmdb51_classes()
    )


def _extract_classes(inner_dir: Path, videos: Path, progress: bool) -> None:
    """Unpack each ``<class>.rar`` into ``videos/<class>/`` and delete it once done."""
    inner = sorted(inner_dir.glob("*.rar"))
    for archive in progress_bar(inner, desc="HMDB51 classes", unit="class", show=progress):
        cls = archive.stem
        members = list_members(archive)
        check_members(
            archive, members, f"{cls}/<video>.avi files", lambda p, d: d or p.suffix == ".avi"
        )
        names = [m.name.replace("\\", "/") for m in members]
        in_folder = all(n == cls or n.startswith(cls + "/") for n in names)
        extract(archive, videos, prefix="" if in_folder else cls, progress=False)
        archive.unlink()


# -- a generated stand-in ------------------------------------------------------------------------
_LIKE_MARKER = ".hmdb51_like.json"


def make_hmdb51_like(
    root: str | os.PathLike,
    *,
    classes: tuple[str, ...] = ("brush_hair", "cartwheel", "catch"),
    train_per_class: int = 4,
    test_per_class: int = 2,
    frames: int = 24,
    size: tuple[int, int] = (160, 120),
    seed: int = 0,
) -> DatasetFiles:
    """Write a small generated dataset laid out exactly as :func:`download_hmdb51` leaves HMDB51.

    ``root/hmdb51_org/<class>/<video>.avi`` (MPEG-4 Part 2 in AVI, like HMDB51's files, 25 fps)
    and ``root/testTrainMulti_7030_splits/<class>_test_split<1|2|3>.txt`` for the three splits
    (id 1 train, 2 test; each split holds out a different ``test_per_class`` videos), so that
    ``VideoDataset.from_hmdb51(files.videos, files.splits, split=1)`` loads
    ``train_per_class`` videos a class (``train=False``: ``test_per_class``). Label ids are those
    of the 51 HMDB51 classes. The videos are the sample set's moving shapes
    (:mod:`actionkit.datasets.sample`): class ``i`` moves like sample class ``i % 6``, so a model
    can learn them; video ``j`` of every class has the same look. A set already there with the
    same parameters is reused; with the defaults it takes about a second.

    Args:
        root: The dataset folder (created when needed).
        classes: HMDB51 class names (from :func:`actionkit.resources.hmdb51_classes`).
        train_per_class: Training videos per class and split.
        test_per_class: Test videos per class and split.
        frames: Frames per video.
        size: ``(width, height)`` of the frames (each at least 16).
        seed: Base seed: the same parameters give the same videos.

    Returns:
        The videos and splits folders.
    """
    known = hmdb51_classes()
    for name in classes:
        if name not in known:
            raise ValueError(
                f"class {name!r} is not an HMDB51 class; choose from {', '.join(known)}"
            )
    if len(set(classes)) != len(classes) or not classes:
        raise ValueError(f"classes must be distinct HMDB51 class names, got {classes!r}")
    for label, value in (("train_per_class", train_per_class), ("test_per_class", test_per_class)):
        if int(value) < 1:
            raise ValueError(f"{label} must be at least 1, got {value}")
    if int(frames) < 2:
        raise ValueError(f"frames must be at least 2, got {frames}")
    if len(size) != 2 or min(int(size[0]), int(size[1])) < 16:
        raise ValueError(f"size must be (width, height), each at least 16, got {size!r}")

    root = Path(root).expanduser()
    files = DatasetFiles(root / VIDEOS_DIR, root / SPLITS_DIR)
    params = {"classes": list(classes), "train_per_class": int(train_per_class),
              "test_per_class": int(test_per_class), "frames": int(frames),
              "size": [int(size[0]), int(size[1])], "seed": int(seed)}  # fmt: skip
    count = params["train_per_class"] + params["test_per_class"]
    jobs = [
        (cls, i, files.videos / cls / _video_name(cls, i)) for cls in classes for i in range(count)
    ]
    if _like_done(root, params) and all(path.is_file() for _, _, path in jobs):
        return files

    (root / _LIKE_MARKER).unlink(missing_ok=True)
    with ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1))) as pool:
        list(pool.map(lambda job: _write_like_video(job, classes, params), jobs))
    for cls in classes:
        names = [_video_name(cls, i) for i in range(count)]
        for split in (1, 2, 3):
            start = (split - 1) * params["test_per_class"]
            test = {(start + j) % count for j in range(params["test_per_class"])}
            lines = [f"{name} {2 if i in test else 1} \n" for i, name in enumerate(names)]
            write_text(files.splits / f"{cls}_test_split{split}.txt", "".join(lines))
    write_text(root / _LIKE_MARKER, json.dumps(params, indent=1) + "\n")
    return files


def _video_name(cls: str, index: int) -> str:
    return f"generated_{cls}_f_cm_np1_fr_med_{index}.avi"


def _like_done(root: Path, params: dict) -> bool:
    try:
        return json.loads((root / _LIKE_MARKER).read_text(encoding="utf-8")) == params
    except (OSError, ValueError):
        return False


def _write_like_video(job: tuple[str, int, Path], classes: tuple[str, ...], params: dict) -> None:
    cls, index, path = job
    motion = SAMPLE_CLASSES[classes.index(cls) % len(SAMPLE_CLASSES)]
    rng = np.random.default_rng([params["seed"], index])
    video = render_sample_video(motion, rng, params["frames"], tuple(params["size"]))
    write_video(path, video, 25.0, codec="mpeg4", crf=None, options={"b": "600k"})
