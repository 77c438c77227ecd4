"""``actionkit`` commands for fine-tuning: ``train``, ``evaluate``, ``demo``."""

from __future__ import annotations

import argparse
from pathlib import Path

from actionkit.cli._common import (
    UsageError,
    add_command,
    int_at_least,
    load_model_file,
    need_path,
    positive_float,
    progress,
)
from actionkit.recipe import RECIPE_FIELDS
from actionkit.train.config import (
    OPTIMIZERS,
    PRECISIONS,
    SCHEDULES,
    TrainConfig,
    existing_run_files,
)


class _Renamed(argparse.Action):
    """``--frames`` was split in two; say so instead of "unrecognized arguments"."""

    def __init__(self, option_strings, dest, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs="?", **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        parser.error(
            "--frames was split in two: --clip-len N (frames per clip, 3D models) and "
            "--segments K (TSN/TSM)"
        )


_DATA_HELP = "a dataset folder (DATA/<class>/<videos>) or a list file of `path label` lines"


def _add_train(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub, common, "train", _run_train,
        help="fine-tune a pretrained model on your clips and evaluate it",
        description=(
            "Fine-tune --model on DATA, holding out --val-fraction of each class (or the videos "
            "in --val), then evaluate on the held-out videos with --eval-clips clips each. The "
            "run folder gets model.pt, checkpoint.pt (after every epoch: --resume continues "
            "from it), history.csv, report.json/.txt, confusion.png and curves.png."
        ),
        examples=[
            "actionkit train data/my_clips --model tsm_efficientnet_lite0 --epochs 12 --out runs/a",
            "actionkit train data/hmdb51_128/train.txt --val data/hmdb51_128/test.txt \\",
            "    --model r2plus1d_34_8_ig65m --epochs 6 --lr 1e-3 --accumulate 2 --out runs/hmdb",
            "actionkit train data/my_clips --model r2plus1d_18 --out runs/a --resume",
        ],
    )  # fmt: skip
    p.add_argument("data", metavar="DATA", help=_DATA_HELP)
    p.add_argument("--model", required=True, metavar="NAME", help="see `actionkit models`")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder")
    p.add_argument("--val", metavar="DATA", help="held-out videos (default: split from DATA)")
    p.add_argument(
        "--val-fraction",
        type=positive_float,
        default=0.2,
        metavar="F",
        help="share of each class held out when --val is not given (default 0.2)",
    )
    _add_train_settings(p)
    p.add_argument(
        "--eval-clips",
        type=int_at_least(1),
        default=10,
        metavar="N",
        help="clips per video in the final evaluation (default 10)",
    )
    p.add_argument(
        "--no-flip",
        dest="flip",
        action="store_false",
        help="no horizontal flips (when left and right mean different actions)",
    )
    p.add_argument(
        "--clip-len",
        type=int_at_least(1),
        metavar="N",
        help="frames per clip, for 3D models (R(2+1)D, R3D...); default: the model's",
    )
    p.add_argument(
        "--segments",
        type=int_at_least(1),
        metavar="K",
        help="segments (one frame each) per video, for TSN/TSM; default: the model's (8)",
    )
    p.add_argument("--frames", action=_Renamed, help=argparse.SUPPRESS)
    p.add_argument(
        "--crop-size",
        type=int_at_least(16),
        metavar="PX",
        help="input crop side; default: the model's (112 or 224)",
    )
    p.add_argument("--scratch", action="store_true", help="random weights instead of pretrained")
    p.add_argument(
        "--weights",
        metavar="PATH_OR_URL",
        help="start from this checkpoint of --model's architecture instead of the published "
        "weights (e.g. a file downloaded by hand, or an earlier run's model.pt)",
    )
    run = p.add_mutually_exclusive_group()
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue the run saved in RUN_DIR (with --epochs N: extend a finished run to N)",
    )
    run.add_argument("--overwrite", action="store_true", help="replace the run already in RUN_DIR")


#: The TrainConfig fields `train` sets, as option keywords (the default is TrainConfig's).
_SETTINGS: dict[str, dict] = {
    "epochs": {"type": int_at_least(1), "metavar": "N", "help": "passes over the training set"},
    "lr": {"type": positive_float, "help": "peak learning rate of the new head"},
    "backbone_lr_mult": {"type": float, "metavar": "M", "help": "backbone trains at lr × M"},
    "optimizer": {"choices": OPTIMIZERS},
    "momentum": {"type": float, "metavar": "F", "help": "SGD momentum"},
    "weight_decay": {"type": float, "metavar": "WD", "help": "not on biases and norms"},
    "schedule": {"choices": SCHEDULES},
    "warmup": {"type": float, "metavar": "F", "help": "share of the steps spent warming up"},
    "batch_size": {"type": int_at_least(1), "metavar": "N", "help": "clips per batch per device"},
    "accumulate": {"type": int_at_least(1), "metavar": "N", "help": "batches per optimizer step"},
    "label_smoothing": {"type": float, "metavar": "F", "help": "cross-entropy label smoothing"},
    "clip_grad_norm": {"type": positive_float, "metavar": "NORM", "help": "clip gradients"},
    "freeze_epochs": {"type": int_at_least(0), "metavar": "N", "help": "train only the head first"},
    "mixed_precision": {"choices": PRECISIONS, "help": "auto: bf16/fp16 on a GPU, fp32 on CPU"},
    "channels_last": {"action": "store_true", "help": "channels-last memory format"},
    "workers": {"type": int_at_least(0), "metavar": "N", "help": "DataLoader worker processes"},
    "val_every": {"type": int_at_least(1), "metavar": "N", "help": "validate every N epochs"},
    "early_stopping": {"type": int_at_least(1), "metavar": "N",
                       "help": "stop after N validations without improvement"},
    "seed": {"type": int, "help": "new head, data order and augmentation"},
    "cpu": {"action": "store_true", "help": "train on the CPU even when there is a GPU"},
}  # fmt: skip


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_train_settings(parser: argparse.ArgumentParser) -> None:
    """One option per entry of ``_SETTINGS``; unset ones come from :class:`TrainConfig`
    (its own default, or the model's recipe where that is ``None``)."""
    defaults = TrainConfig()
    for name, options in _SETTINGS.items():
        default = getattr(defaults, name)
        options = dict(options)
        if name == "channels_last":
            options = {"action": argparse.BooleanOptionalAction, "help": options["help"]}
        if default is None and name in RECIPE_SET:
            shown = "the model's recipe"
        else:
            shown = "off" if default is None or default is False else default
        options["help"] = f"{options.get('help', '')} (default: {shown})".lstrip()
        parser.add_argument(_option(name), default=None, **options)


#: Settings that default to the model's recipe (`actionkit models` shows the recipes).
RECIPE_SET = frozenset({*RECIPE_FIELDS, "channels_last"})


def _given_settings(args: argparse.Namespace) -> dict:
    """The training settings typed on the command line, checked (before torch is imported);
    a bad value is named by its option."""
    given = {name: getattr(args, name) for name in _SETTINGS if getattr(args, name) is not None}
    try:
        TrainConfig(**given)
    except ValueError as error:
        text = str(error)
        for name in given:
            text = text.replace(f"{name}=", f"{_option(name)} ")
        raise UsageError(text) from None
    return given


def _run_train(args: argparse.Namespace) -> int:
    given = _given_settings(args)
    need_path(args.data, "DATA")
    if args.val:
        need_path(args.val, "--val")
    _check_out_dir(args)
    from actionkit.train.workflow import build_model, load_dataset, train_and_evaluate

    classes = load_dataset(args.data, train=False).classes
    if len(classes) < 2:
        raise UsageError(
            f"DATA {args.data} has {len(classes)} class ({', '.join(classes) or 'none'}): a "
            "classifier needs at least two; add a class of clips without the action "
            "(e.g. DATA/background/)"
        )
    model = build_model(
        args.model, len(classes), pretrained=not args.scratch, weights=args.weights,
        clip_len=args.clip_len, segments=args.segments, crop_size=args.crop_size,
        seed=given.get("seed", 0),
    )  # fmt: skip
    if args.resume:
        _check_resumed_settings(Path(args.out) / "checkpoint.pt", given)
    config = TrainConfig(**given) if (given or not args.resume) else None
    result = train_and_evaluate(
        model, args.data, args.out, val=args.val, val_fraction=args.val_fraction,
        config=config, eval_clips=args.eval_clips, flip=args.flip, resume=args.resume,
        overwrite=args.overwrite, progress=progress(),
    )  # fmt: skip
    print(result.report)
    print(result.summary())
    return 0


def _check_out_dir(args: argparse.Namespace) -> None:
    """Refuse to train over a run in --out unless --resume or --overwrite (before any work)."""
    out = Path(args.out)
    found = existing_run_files(out)
    if args.resume and found and not (out / "checkpoint.pt").exists():
        raise UsageError(
            f"--resume: {out} holds {', '.join(found)} but no checkpoint.pt to continue from; "
            "use --overwrite to start again there"
        )
    if found and not (args.resume or args.overwrite):
        raise UsageError(
            f"{out} already holds a training run ({', '.join(found)}): add --resume to "
            "continue it, --overwrite to replace it, or choose another --out"
        )


def _check_resumed_settings(checkpoint: Path, given: dict) -> None:
    """--resume takes the saved run's settings: the same values may be typed again, others
    are refused by name (--epochs is the run's total: more extends a finished run)."""
    if not checkpoint.exists():
        return  # nothing to continue: a new run
    from actionkit.train.checkpoint import load_checkpoint, resume_config

    state = load_checkpoint(checkpoint)
    saved = TrainConfig.from_dict(state["config"])
    differ = [
        f"{_option(name)} {value} (the run's: {getattr(saved, name)})"
        for name, value in given.items()
        if name != "epochs" and value != getattr(saved, name)
    ]
    if differ:
        raise UsageError(
            f"--resume continues the run in {checkpoint.parent} with its saved settings; "
            f"these differ: {'; '.join(differ)}. Drop them, or start a new run (--overwrite "
            "or another --out); --epochs N extends a finished run to N epochs"
        )
    if "epochs" in given:
        try:
            resume_config(state, {"epochs": given["epochs"]})
        except ValueError as error:
            raise UsageError(f"--resume: {str(error).replace('epochs=', '--epochs ')}") from None


def _add_evaluate(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub, common, "evaluate", _run_evaluate,
        help="evaluate a saved model on labelled videos",
        description=(
            "Score every video in DATA with --clips uniformly spaced clips (softmax averaged) and "
            "print top-1/top-5, mean class accuracy, per-class precision/recall and the most "
            "confused classes. DATA's class names must be the model's."
        ),
        examples=["actionkit evaluate runs/a/model.pt data/my_test_clips --out runs/a/test"],
    )  # fmt: skip
    p.add_argument("model", metavar="MODEL_FILE", help="a model.pt written by training")
    p.add_argument("data", metavar="DATA", help=_DATA_HELP)
    p.add_argument(
        "--clips",
        type=int_at_least(1),
        default=10,
        metavar="N",
        help="clips per video (default 10)",
    )
    p.add_argument("--three-crop", action="store_true", help="three crops per clip")
    p.add_argument("--batch-size", type=int_at_least(1), default=4, metavar="N")
    p.add_argument("--workers", type=int_at_least(0), default=2, metavar="N")
    p.add_argument("--out", metavar="DIR",
                   help="also write report.json, report.txt and confusion.png here")  # fmt: skip


def _run_evaluate(args: argparse.Namespace) -> int:
    from actionkit.evaluation import evaluate
    from actionkit.train.workflow import load_dataset, write_report

    model = load_model_file(args.model)
    need_path(args.data, "DATA")
    if not model.classes:
        raise UsageError(f"{args.model} has no class names: cannot match them to DATA's")
    unknown = sorted(set(load_dataset(args.data, train=False).classes) - set(model.classes))
    if unknown:
        raise UsageError(
            f"DATA {args.data} has classes the model does not know: {', '.join(unknown)} "
            f"(the model's classes: {', '.join(model.classes)})"
        )
    data = load_dataset(args.data, classes=model.classes, spec=model.input_spec, train=False)
    report = evaluate(
        model, data, num_clips=args.clips, three_crop=args.three_crop,
        batch_size=args.batch_size, workers=args.workers, progress=progress(),
    )  # fmt: skip
    print(report)
    if args.out:
        files = write_report(report, args.out)
        print(f"report: {files['report']}")
    return 0


def _add_demo(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from actionkit.train.demo import DEMO_MODEL

    p = add_command(
        sub, common, "demo", _run_demo,
        help="fine-tune and evaluate a model offline on the generated sample dataset",
        description=(
            f"Build the sample dataset (or use --data), fine-tune {DEMO_MODEL} (ImageNet "
            "weights shipped with the package: no network needed), evaluate it on held-out "
            "videos and write the model, report and figures to --out."
        ),
        examples=["actionkit demo", "actionkit demo --data data/my_clips --model tsm_resnet50"],
    )  # fmt: skip
    p.add_argument("--out", default="runs/demo", metavar="DIR", help="run folder (runs/demo)")
    p.add_argument("--data", metavar="DIR", help="your dataset instead of the sample one")
    p.add_argument("--model", default=DEMO_MODEL, metavar="NAME", help=f"default {DEMO_MODEL}")
    p.add_argument("--epochs", type=int_at_least(1), default=None, metavar="N")
    p.add_argument("--workers", type=int_at_least(0), default=2, metavar="N")  # fmt: skip


def _run_demo(args: argparse.Namespace) -> int:
    from actionkit.train.demo import run_demo

    if args.data:
        need_path(args.data, "--data")
    result = run_demo(
        out_dir=args.out, data_dir=args.data, model_name=args.model, epochs=args.epochs,
        workers=args.workers, progress=progress(),
    )  # fmt: skip
    print(result.summary())
    return 0


COMMANDS = (_add_train, _add_evaluate, _add_demo)
