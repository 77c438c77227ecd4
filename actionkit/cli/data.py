"""``actionkit`` commands for data: ``prepare``, ``sample-data``, ``check``."""

from __future__ import annotations

import argparse
from pathlib import Path

from actionkit.cli._common import (
    UsageError,
    add_command,
    int_at_least,
    positive_float,
    progress,
    workers_option,
)


def _add_prepare(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub, common, "prepare", _run_prepare,
        help="transcode a dataset once into small, fast-seeking videos",
        description=(
            "Transcode every video under SRC into DST (same folders, .mp4) with the short side "
            "scaled to --short-side, every frame kept in order and a keyframe every --gop "
            "frames, so that training reads small frames and seeks cheaply. Other files (split "
            "lists, class files, annotations) are copied. Rerunning skips what is done; failed "
            "files are listed and make the exit status 1."
        ),
        examples=[
            "actionkit prepare data/hmdb51_org data/hmdb51_128 --short-side 128",
            "actionkit check data/hmdb51_128",
        ],
    )  # fmt: skip
    p.add_argument("src", metavar="SRC", help="the dataset folder")
    p.add_argument("dst", metavar="DST", help="where the prepared copy goes (outside SRC)")
    p.add_argument(
        "--short-side", type=int_at_least(2), default=128, metavar="PX",
        help="short side of the output frames; smaller videos keep their size (default 128)",
    )  # fmt: skip
    workers_option(p, None, "files transcoded in parallel (default: the number of CPUs)")
    p.add_argument(
        "--gop", type=int_at_least(1), default=8, metavar="FRAMES",
        help="keyframe interval: shorter seeks faster, costs space (default 8)",
    )  # fmt: skip
    p.add_argument(
        "--crf", type=int_at_least(0, 51), default=23,
        help="x264 quality, 0–51, lower is better and bigger (default 23)",
    )  # fmt: skip
    p.add_argument(
        "--fps", type=positive_float, default=None,
        help="frame rate stamped on the outputs (default: each source's average); frames are "
        "never dropped or repeated",
    )  # fmt: skip
    p.add_argument(
        "--overwrite", action="store_true", help="redo every file, also those already prepared"
    )


def _run_prepare(args: argparse.Namespace) -> int:
    from actionkit.data.prepare import check_paths, prepare_dataset

    try:
        _, dst = check_paths(args.src, args.dst)
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    report = prepare_dataset(
        args.src, args.dst, short_side=args.short_side, fps=args.fps, crf=args.crf,
        gop=args.gop, workers=args.workers, overwrite=args.overwrite, progress=progress(),
    )  # fmt: skip
    print(report)
    print(f"prepared dataset: {dst}")
    return 0 if report.ok else 1


def _add_sample_data(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub, common, "sample-data", _run_sample_data,
        help="generate the small offline demo dataset",
        description=(
            "Write a small generated action dataset (one folder per class, H.264 videos and a "
            "classes.txt) to DIR. A complete dataset already there is reused."
        ),
        examples=["actionkit sample-data data/sample --videos-per-class 12"],
    )  # fmt: skip
    p.add_argument("dir", metavar="DIR", help="folder to write the dataset to")
    p.add_argument(
        "--videos-per-class", type=int_at_least(1), default=None, metavar="N",
        help="videos per class (default: the generator's default)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=None, help="random seed (default 0)")


def _run_sample_data(args: argparse.Namespace) -> int:
    from actionkit.datasets.sample import make_sample_dataset

    options = {"videos_per_class": args.videos_per_class, "seed": args.seed}
    root = make_sample_dataset(args.dir, **{k: v for k, v in options.items() if v is not None})
    print(f"sample dataset: {root}")
    return 0


def _add_check(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub, common, "check", _run_check,
        help="open every video of a dataset folder or list file and list the bad ones",
        description=(
            "Open every video of DATA, as `actionkit train` reads it: a folder with one "
            "subfolder per class, or a list file (`path label` lines, or CSV). Report the "
            "unreadable, empty (0 bytes or no frame) and still-image files, listed files that "
            "are missing, files with fewer frames than one clip reads, and files shorter than "
            "a clip. Exit status 1 when a file cannot be used, 2 when DATA cannot."
        ),
        examples=["actionkit check data/hmdb51_128", "actionkit check data/train_list.txt"],
    )  # fmt: skip
    p.add_argument(
        "data", metavar="DATA", help="dataset folder (DATA/<class>/<videos>) or list file"
    )
    p.add_argument(
        "--classes", metavar="FILE", default=None,
        help="class file fixing the label ids (default: sorted names, or the list's labels)",
    )  # fmt: skip
    workers_option(p, None, "files opened in parallel")
    p.set_defaults(fast_exit=True)


def _run_check(args: argparse.Namespace) -> int:
    from actionkit.data import VideoDataset

    data = Path(args.data)
    if args.classes is not None and not Path(args.classes).is_file():
        raise UsageError(f"--classes {args.classes} is not a file")
    # What `actionkit train` accepts (actionkit.train.workflow.load_dataset), without importing
    # the training stack: a folder, or a list / CSV file.
    try:
        if data.is_dir():
            dataset = VideoDataset.from_folder(data, classes=args.classes)
        elif data.is_file():
            dataset = VideoDataset.from_list(data, classes=args.classes)
        else:
            raise UsageError(f"DATA {data} is neither a dataset folder nor a list file")
    except (ValueError, UnicodeDecodeError) as exc:  # a list or class file that cannot be read
        raise UsageError(f"DATA {data}: {exc}") from exc
    report = dataset.check(workers=args.workers, progress=progress())
    print(report)
    return 0 if report.ok else 1


COMMANDS = (_add_prepare, _add_sample_data, _add_check)
