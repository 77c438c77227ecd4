"""``actionkit download``: fetch and unpack HMDB51 or UCF101 with their official splits."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from actionkit.cli._common import PROG, UsageError, add_command, progress

DATASETS = ("hmdb51", "ucf101")


def _add_download(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub, common, "download", _run_download,
        help="download and unpack HMDB51 or UCF101 with the official splits",
        description=(
            "Download DATASET's videos and official split lists into ROOT/archives/ (resuming "
            "an interrupted download), unpack them under ROOT (resuming an interrupted "
            "extraction; members that would land outside ROOT are refused) and print how to "
            "load a split and make the fast copy. Without network, put the archives by hand in "
            "ROOT/archives/ (the error message names them) and run it again. HMDB51 needs about "
            "2 GB for the archive and 2 GB unpacked, UCF101 6.5 GB and 6.5 GB."
        ),
        examples=[
            "actionkit download hmdb51 data/hmdb51",
            "actionkit download ucf101 data/ucf101",
            "actionkit download hmdb51 data/hmdb51 --split-only",
        ],
    )  # fmt: skip
    p.add_argument("dataset", choices=DATASETS, metavar="DATASET", help="hmdb51 or ucf101")
    p.add_argument("root", metavar="ROOT", help="the dataset folder (created when needed)")
    p.add_argument(
        "--split-only", action="store_true",
        help="only the split lists (for videos you already have)",
    )  # fmt: skip
    p.add_argument(
        "--url", default=None, metavar="URL",
        help="the videos archive from elsewhere (a mirror, a file:// URL or a local path)",
    )  # fmt: skip
    p.add_argument(
        "--splits-url", default=None, metavar="URL", help="the split lists archive from elsewhere"
    )


def _run_download(args: argparse.Namespace) -> int:
    from actionkit.datasets._archive import ArchiveError
    from actionkit.utils.download import DownloadError

    root = Path(args.root).expanduser()
    if root.exists() and not root.is_dir():
        raise UsageError(f"ROOT {root} exists and is not a folder")
    if args.dataset == "hmdb51":
        from actionkit.datasets.hmdb51 import HMDB51_SPLITS_URL, HMDB51_URL, download_hmdb51

        fetch, urls, loader = download_hmdb51, (HMDB51_URL, HMDB51_SPLITS_URL), "from_hmdb51"
    else:
        from actionkit.datasets.ucf101 import UCF101_SPLITS_URL, UCF101_URL, download_ucf101

        fetch, urls, loader = download_ucf101, (UCF101_URL, UCF101_SPLITS_URL), "from_ucf101"
    try:
        files = fetch(
            root, progress=progress(), url=args.url or urls[0],
            splits_url=args.splits_url or urls[1], splits_only=args.split_only,
        )  # fmt: skip
    except DownloadError as exc:  # no network: the message says where to put the archives
        raise UsageError(str(exc)) from exc
    except ArchiveError as exc:  # damaged or unexpected: the message names the archive
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    print(f"splits: {files.splits}")
    if args.split_only:
        return 0
    print(f"videos: {files.videos}")
    fast = files.videos.with_name(f"{args.dataset}_128")
    where = f"{str(files.videos)!r}, {str(files.splits)!r}"
    print(
        "load split 1 in Python:\n"
        "    from actionkit.data import VideoDataset\n"
        f"    train = VideoDataset.{loader}({where}, split=1)\n"
        f"    test = VideoDataset.{loader}({where}, split=1, train=False)\n"
        "make the fast copy for training (short side 128):\n"
        f"    actionkit prepare {files.videos} {fast} --short-side 128"
    )
    return 0


COMMANDS = (_add_download,)
