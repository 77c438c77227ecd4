"""UCF101: download and unpack the videos and the official split lists.

:func:`download_ucf101` leaves::

    ROOT/UCF-101/<Class>/v_<Class>_gXX_cYY.avi       13,320 videos, 101 classes
    ROOT/ucfTrainTestlist/classInd.txt               "1 ApplyEyeMakeup" ...
    ROOT/ucfTrainTestlist/trainlist0N.txt            "Class/v_Class_gXX_cYY.avi 1"
    ROOT/ucfTrainTestlist/testlist0N.txt             "Class/v_Class_gXX_cYY.avi"
    ROOT/archives/UCF101.rar, ROOT/archives/UCF101TrainTestSplits-RecognitionTask.zip

so that ``VideoDataset.from_ucf101(files.videos, files.splits, split=1)`` loads split 1. The video
folder keeps the name it has in the archive (``UCF-101`` in the official one);
:attr:`DatasetFiles.videos` points at it. Archives put by hand in ``ROOT/archives/`` or ``ROOT/``
are used as they are; interrupted downloads and extractions resume.

UCF's site publishes no checksums for these archives, so none is checked; what can be verified
is: each archive opens, holds what it should (one folder of ``<Class>/*.avi`` with UCF101 class
names; ``ucfTrainTestlist/`` with ``classInd.txt``), and every member unpacks with the checksum
the archive stores for it.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from actionkit.datasets._archive import (
    ArchiveError,
    DatasetFiles,
    check_members,
    extract,
    fetch_archives,
    list_members,
    read_marker,
    safe_path,
)
from actionkit.resources import ucf101_classes
from actionkit.utils.download import url_basename
from actionkit.utils.locks import file_lock

__all__ = ["UCF101_SPLITS_URL", "UCF101_URL", "DatasetFiles", "download_ucf101"]

UCF101_URL = "https://www.crcv.ucf.edu/datasets/human-actions/ucf101/UCF101.rar"
UCF101_SPLITS_URL = (
    "https://www.crcv.ucf.edu/wp-content/uploads/2019/03/UCF101TrainTestSplits-RecognitionTask.zip"
)
SPLITS_DIR = "ucfTrainTestlist"


def download_ucf101(
    root: str | os.PathLike,
    *,
    progress: bool = True,
    url: str = UCF101_URL,
    splits_url: str = UCF101_SPLITS_URL,
    splits_only: bool = False,
) -> DatasetFiles:
    """Download (once) and unpack UCF101 and its official split lists under ``root``.

    Args:
        root: The dataset folder (created when needed).
        progress: Show progress bars.
        url: The videos archive (``http(s)://``, ``file://`` or a local path).
        splits_url: The split lists archive (ZIP).
        splits_only: Only the split lists (for videos already there).

    Returns:
        The videos folder (``root/UCF-101`` for the official archive) and ``root/ucfTrainTestlist``.

    Raises:
        DownloadError: an archive cannot be downloaded; the message says where to put it by hand.
        ArchiveError: an archive is damaged or not the expected one (the message names it).
    """
    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    with file_lock(root / ".ucf101.lock", what=f"UCF101 in {root}"):  # one process at a time
        return _download(root, url, splits_url, splits_only, progress)


def _download(
    root: Path, url: str, splits_url: str, splits_only: bool, progress: bool
) -> DatasetFiles:
    videos_name, splits_name = url_basename(url), url_basename(splits_url)
    need = {}
    if read_marker(splits_name, root) is None:
        need[splits_url] = "UCF101 split lists archive"
    if not splits_only and read_marker(videos_name, root) is None:
        need[url] = "UCF101 videos archive"
    archives = fetch_archives(need, root, progress=progress)

    if splits_url in archives:
        archive = archives[splits_url]
        members = list_members(archive)
        check_members(archive, members, f"{SPLITS_DIR}/classInd.txt and the split lists",
                      lambda p, d: p.parts[0] == SPLITS_DIR)  # fmt: skip
        if not any(PurePosixPath(m.name).name == "classInd.txt" for m in members):
            raise ArchiveError(f"{archive} holds no {SPLITS_DIR}/classInd.txt")
        extract(archive, root, progress=progress)
    if url in archives:
        archive = archives[url]
        _check_videos(archive)
        info = extract(archive, root, progress=progress)
    else:
        info = read_marker(videos_name, root) or {"top": ["UCF-101"]}  # splits_only: the usual
    return DatasetFiles(root / info["top"][0], root / SPLITS_DIR)


def _check_videos(archive: Path) -> None:
    """An :class:`ArchiveError` unless ``archive`` holds one folder of ``<Class>/*.avi``."""
    classes = set(ucf101_classes())
    members = list_members(archive)
    check_members(archive, members, "UCF-101/<Class>/v_<Class>_gXX_cYY.avi files",
                  lambda p, d: _is_video_member(p, d, classes))  # fmt: skip
    top = sorted({safe_path(m.name, archive).parts[0] for m in members})
    if len(top) != 1:
        raise ArchiveError(
            f"{archive} should hold one folder of class folders (UCF-101/), it holds {top}"
        )


def _is_video_member(path: PurePosixPath, is_dir: bool, classes: set[str]) -> bool:
    """``<top>/<Class>/<name>.avi`` (or one of its folders), with a UCF101 class name."""
    parts = path.parts
    if is_dir:
        return len(parts) == 1 or (len(parts) == 2 and parts[1] in classes)
    return len(parts) == 3 and parts[1] in classes and path.suffix.lower() == ".avi"
