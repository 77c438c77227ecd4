"""``actionkit`` commands for saved and published models: ``predict``, ``models``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from actionkit.cli._common import (
    UsageError,
    add_command,
    int_at_least,
    load_model_file,
    positive_float,
    progress,
)

if TYPE_CHECKING:
    from actionkit.models.catalog import ModelInfo


def _add_predict(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub, common, "predict", _run_predict,
        help="classify videos with a saved model",
        description=(
            "Print the top classes of each VIDEO. With --timeline, slide a --window second "
            "window every --stride seconds over the video and write per-window scores as CSV "
            "(one VIDEO: the file PATH; several: PATH is a folder and gets <video name>.csv). "
            "Results go to stdout, warnings and errors to stderr; the exit status is 1 when a "
            "video failed, 2 when MODEL_FILE or PATH cannot be used."
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
    p.add_argument(
        "--on-short", choices=("warn", "error", "ignore"), default="warn",
        help="a video with fewer frames than one clip reads (a still image...): warn "
        "(default), fail it (exit status 1), or ignore",
    )  # fmt: skip
    p.add_argument(
        "--batch-size", type=int_at_least(1), default=None, metavar="N",
        help="clips per forward pass (default: 1 on the CPU, 8 on a GPU)",
    )  # fmt: skip
    p.set_defaults(fast_exit=True)


def _run_predict(args: argparse.Namespace) -> int:
    from actionkit.inference import predict, predict_timeline
    from actionkit.inference.predict import ShortVideoError
    from actionkit.utils.memory import keep_freed_memory
    from actionkit.video import VideoReadError

    if args.timeline and len(args.videos) > 1 and Path(args.timeline).is_file():
        raise UsageError(
            f"--timeline {args.timeline} is a file; with several videos it must be a folder"
        )
    try:
        model = load_model_file(args.model)
    except ValueError as exc:  # a file that is not a model: the argument is unusable
        raise UsageError(str(exc)) from exc
    keep_freed_memory()
    options = {"batch_size": args.batch_size, "on_short": args.on_short}
    failed = 0
    for video in args.videos:
        try:
            if args.timeline:
                timeline = predict_timeline(
                    model, video, window=args.window, stride=args.stride, progress=progress(),
                    **options,
                )  # fmt: skip
                target = _timeline_path(args.timeline, video, len(args.videos))
                timeline.to_csv(target)
                for start, end, label in timeline.segments():
                    print(f"{video}: {start:7.2f}–{end:7.2f} s  {label}")
                print(f"timeline: {target}")
            else:
                print(predict(model, video, top_k=args.top_k, num_clips=args.clips, **options))
        except (VideoReadError, ShortVideoError, FileNotFoundError) as error:
            print(f"actionkit: error: {error}", file=sys.stderr, flush=True)
            failed += 1
    sys.stdout.flush()
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
        help="list the model names --model accepts, and which work offline",
        description=(
            "List the models create_model / --model accept: the name, whether its pretrained "
            "weights are on this machine ('offline': in the weights cache or shipped with a "
            "package, hash-checked; 'download': fetched on first use), what they were "
            "pretrained on, and what the model is. --files shows each weights file and where "
            "to put it by hand on a machine without a network."
        ),
        examples=[
            "actionkit models",
            "actionkit models 'tsm_*'",
            "actionkit models --offline",
            "actionkit models r2plus1d_18 --files",
        ],
    )  # fmt: skip
    p.add_argument("pattern", nargs="?", metavar="PATTERN", help="filter, e.g. 'r2plus1d_*'")
    p.add_argument(
        "--offline", action="store_true", help="only the models whose weights are here now"
    )
    p.add_argument(
        "--files", action="store_true", help="show each weights file: where it is, or goes"
    )


def _run_models(args: argparse.Namespace) -> int:
    from actionkit.models import list_models
    from actionkit.models.catalog import model_info

    names = list_models(args.pattern)
    if not names:
        raise UsageError(f"no model matches {args.pattern!r}; `actionkit models` lists them all")
    infos = [model_info(name) for name in names]
    if args.offline:
        infos = [info for info in infos if info.offline]
        if not infos:
            print(
                "actionkit: no model matching that has its weights on this machine; "
                "`actionkit models --files` says where each file goes",
                file=sys.stderr,
            )
            return 1
    width = max(len(info.name) for info in infos)
    trained = max(len(info.pretrained_on or "?") for info in infos)
    for info in infos:
        state = {True: "offline", False: "download", None: "?"}[info.offline]
        print(
            f"{info.name:<{width}}  {state:<8}  {info.pretrained_on or '?':<{trained}}  "
            f"{info.summary}"
        )
        if args.files:
            for line in _weights_lines(info):
                print(f"    {line}")
    return 0


def _weights_lines(info: ModelInfo) -> list[str]:
    """Where each weights file of ``info`` is, or where to put it."""
    if not info.weights:
        missing = " (the package that ships them is not installed)" if info.shipped else ""
        return [f"weights: none known{missing}"]
    lines = []
    for record in info.weights:
        good = record.local_path()
        if info.shipped:
            lines.append(f"shipped with a package: {good or record.url}")
        elif good is not None:
            lines.append(f"{record.cache_name}: here, {good}")
        else:
            wrong = record.local_path(verify=False) is not None
            lines.append(f"{record.cache_name}: from {record.url}")
            lines.append(
                f"  offline, put it at {record.cache_path}"
                + (" (the file there now has the wrong hash)" if wrong else "")
            )
    return lines


COMMANDS = (_add_predict, _add_models)
