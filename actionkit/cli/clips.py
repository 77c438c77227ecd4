"""``actionkit clips``: labeled segments to a folder-per-class training set with split files."""

from __future__ import annotations

import argparse
from pathlib import Path

from actionkit.cli._common import (
    UsageError,
    add_command,
    int_at_least,
    need_path,
    progress,
    workers_option,
)


def _fractions(text: str) -> tuple[float, float, float]:
    """``--split 0.7,0.15,0.15``: train, val and test shares."""
    try:
        values = tuple(float(x) for x in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) < 0 or values[0] <= 0 or abs(sum(values) - 1) > 1e-6:
        raise argparse.ArgumentTypeError(
            f"{text!r} must be three shares train,val,test >= 0 summing to 1, e.g. 0.7,0.15,0.15"
        )
    return values  # type: ignore[return-value]


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{value} must be >= 0 seconds")
    return value


def _add_clips(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub, common, "clips", _run_clips,
        help="cut labeled segments into a training set (folder per class, split files)",
        description=(
            "Cut every segment of ANNOTATIONS (the annotation tool's annotations.json, a VIA 3 "
            "project JSON or CSV export, or a CSV video,start,end,label) out of its video in "
            "--videos, frame-exact and re-encoded as H.264 MP4, into --out/<label>/. "
            "--negatives adds clips of a background class from time no segment covers. Writes "
            "train.csv, val.csv and test.csv (path,label), clips.csv and classes.txt; the split "
            "is stratified by class and grouped by source video, so no video has clips in two "
            "splits. Rerunning skips the clips already cut and gives the same split. Exit "
            "status 1 when some clips failed (the others are written), 2 when an argument is "
            "unusable."
        ),
        examples=[
            "actionkit clips videos/annotations.json --videos videos --out clips --negatives 20",
            "actionkit train clips/train.csv --val clips/val.csv --out runs/mine",
        ],
    )  # fmt: skip
    p.add_argument("annotations", metavar="ANNOTATIONS", help="the annotation file")
    p.add_argument(
        "--videos", required=True, metavar="DIR", help="the folder its video paths start from"
    )
    p.add_argument("--out", required=True, metavar="CLIPS", help="where the clips go")
    p.add_argument(
        "--negatives", type=int_at_least(0), default=0, metavar="N",
        help="background clips to add from unlabeled time (default 0)",
    )  # fmt: skip
    p.add_argument(
        "--margin", type=_seconds, default=1.0, metavar="S",
        help="seconds between a background clip and any segment (default 1)",
    )  # fmt: skip
    p.add_argument(
        "--background", default="background", metavar="NAME",
        help="the background class's name (default background)",
    )  # fmt: skip
    p.add_argument(
        "--split", type=_fractions, default=(0.7, 0.15, 0.15), metavar="TRAIN,VAL,TEST",
        help="shares of the source videos per split (default 0.7,0.15,0.15)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seeds negatives and split (default 0)")
    workers_option(p, None, "clips cut in parallel (default: the number of CPUs)")
    p.add_argument(
        "--short-side", type=int_at_least(2), default=None, metavar="PX",
        help="scale clips down to this short side (default: the source size)",
    )  # fmt: skip


def _run_clips(args: argparse.Namespace) -> int:
    from actionkit.annotate.clips import cut_clips

    need_path(args.annotations, "ANNOTATIONS")
    if not Path(args.annotations).is_file():
        raise UsageError(f"ANNOTATIONS {args.annotations} is not a file")
    if not Path(args.videos).is_dir():
        raise UsageError(f"--videos {args.videos} is not a folder")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise UsageError(f"--out {args.out} exists and is not a folder")
    try:
        result = cut_clips(
            args.annotations, args.videos, args.out, negatives=args.negatives,
            margin=args.margin, background=args.background, splits=args.split, seed=args.seed,
            workers=args.workers, short_side=args.short_side, progress=progress(),
        )  # fmt: skip
    except ValueError as exc:  # the annotation file or an argument, before anything is written
        raise UsageError(str(exc)) from exc
    print(result)
    names = ("train.csv", "val.csv", "test.csv", "clips.csv", "classes.txt")
    print(f"clips: {result.out} ({', '.join(n for n in names if (result.out / n).is_file())})")
    return 0 if result.ok else 1


COMMANDS = (_add_clips,)
