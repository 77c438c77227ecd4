"""``actionkit`` commands for saved and published models: ``predict``, ``models``."""

from __future__ import annotations

import argparse
from pathlib import Path

from actionkit.cli._common import (
    UsageError,
    add_command,
    int_at_least,
    load_model_file,
    positive_float,
    progress,
)


def _add_predict(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub, common, "predict", _run_predict,
        help="classify videos with a saved model",
        description=(
            "Print the top classes of each VIDEO. With --timeline, slide a --window second "
            "window every --stride seconds over the video and write per-window scores as CSV "
            "(one VIDEO: the file PATH; several: PATH is a folder and gets <video name>.csv)."
        ),
        examples=[
            "actionkit predict runs/a/model.pt clip1.mp4 clip2.mp4 --top-k 3",
            "actionkit predict runs/a/model.pt long.mp4 --timeline long.csv --window 2 --stride 1",
        ],
    )  # fmt: skip
    p.add_argument("model", metavar="MODEL_FILE", help="a model.pt written by training")
    p.add_argument("videos", metavar="VIDEO", nargs="+", help="video files")
    p.add_argument("--top-k", type=int_at_least(1), default=5, metavar="K")
    p.add_argument(
        "--clips",
        type=int_at_least(1),
        default=10,
        metavar="N",
        help="clips per video, scores averaged (default 10)",
    )
    p.add_argument("--timeline", metavar="PATH", help="write per-window scores as CSV")
    p.add_argument("--window", type=positive_float, default=2.0, metavar="SECONDS")
    p.add_argument("--stride", type=positive_float, default=1.0, metavar="SECONDS")  # fmt: skip


def _run_predict(args: argparse.Namespace) -> int:
    from actionkit.inference import predict, predict_timeline
    from actionkit.video import VideoReadError

    model = load_model_file(args.model)
    failed = 0
    for video in args.videos:
        try:
            if args.timeline:
                timeline = predict_timeline(
                    model, video, window=args.window, stride=args.stride, progress=progress()
                )
                target = _timeline_path(args.timeline, video, len(args.videos))
                timeline.to_csv(target)
                for start, end, label in timeline.segments():
                    print(f"{video}: {start:7.2f}–{end:7.2f} s  {label}")
                print(f"timeline: {target}")
            else:
                print(predict(model, video, top_k=args.top_k, num_clips=args.clips))
        except (VideoReadError, FileNotFoundError) as error:
            print(f"actionkit: error: {error}", flush=True)
            failed += 1
    return 1 if failed else 0


def _timeline_path(target: str, video: str, count: int) -> Path:
    if count == 1:
        return Path(target)
    folder = Path(target)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{Path(video).stem}.csv"


def _add_models(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub, common, "models", _run_models,
        help="list the model names --model accepts",
        description="List the models create_model / --model accept, with what each one is.",
        examples=["actionkit models", "actionkit models 'tsm_*'"],
    )  # fmt: skip
    p.add_argument("pattern", nargs="?", metavar="PATTERN", help="filter, e.g. 'r2plus1d_*'")


def _run_models(args: argparse.Namespace) -> int:
    from actionkit.models import get_builder, list_models

    names = list_models(args.pattern)
    if not names:
        raise UsageError(f"no model matches {args.pattern!r}; `actionkit models` lists them all")
    width = max(map(len, names))
    for name in names:
        doc = (get_builder(name).__doc__ or "").strip().splitlines()
        print(f"{name:<{width}}  {doc[0].replace('``', '') if doc else ''}")
    return 0


COMMANDS = (_add_predict, _add_models)
