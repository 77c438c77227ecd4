"""The ``actionkit`` command.

Each subcommand is two small functions: ``_add_<name>(subparsers)`` declares its arguments and
``_run_<name>(args) -> int`` does the work, importing what it needs inside (so ``actionkit --help``
stays fast and a broken optional part only affects its own command). Add a command by writing
both and listing the first in :data:`_COMMANDS`.

Errors: a wrong command line is argparse's usage message and exit status 2; anything that goes
wrong while running is one line on stderr (``actionkit: error: ...``) and exit status 1 (2 when
the arguments name something unusable, such as a missing folder). ``--debug`` adds the traceback
and debug logging.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from actionkit import __version__

PROG = "actionkit"

log = logging.getLogger(__name__)


class UsageError(Exception):
    """The arguments are well-formed but unusable (a missing folder...): exit status 2."""


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps descriptions as usual but keeps texts with line breaks (the examples) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


# -- argument types ------------------------------------------------------------------------------
def _int_at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise argparse.ArgumentTypeError(f"{value} must be at least {minimum}{upper}")
        return value

    parse.__name__ = "integer"  # what argparse names in "invalid integer value"
    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value} must be positive")
    return value


def _progress() -> bool:
    """Progress bars only where someone watches them (not in logs or pipes)."""
    return sys.stderr.isatty()


# -- prepare -------------------------------------------------------------------------------------
def _add_prepare(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "prepare",
        parents=[common],
        help="transcode a dataset once into small, fast-seeking videos",
        description=(
            "Transcode every video under SRC into DST (same folders, .mp4) with the short side "
            "scaled to --short-side, every frame kept in order and a keyframe every --gop "
            "frames, so that training reads small frames and seeks cheaply. Other files (split "
            "lists, class files, annotations) are copied. Rerunning skips what is done; failed "
            "files are listed and make the exit status 1."
        ),
        epilog=(
            "example:\n"
            "  actionkit prepare data/hmdb51_org data/hmdb51_128 --short-side 128\n"
            "  actionkit check data/hmdb51_128"
        ),
        formatter_class=_HelpFormatter,
    )
    p.add_argument("src", metavar="SRC", help="the dataset folder")
    p.add_argument("dst", metavar="DST", help="where the prepared copy goes (outside SRC)")
    p.add_argument(
        "--short-side",
        type=_int_at_least(2),
        default=128,
        metavar="PX",
        help="short side of the output frames; smaller videos keep their size (default 128)",
    )
    p.add_argument(
        "--workers",
        type=_int_at_least(1),
        default=None,
        metavar="N",
        help="files transcoded in parallel (default: the number of CPUs)",
    )
    p.add_argument(
        "--gop",
        type=_int_at_least(1),
        default=8,
        metavar="FRAMES",
        help="keyframe interval: shorter seeks faster, costs space (default 8)",
    )
    p.add_argument(
        "--crf",
        type=_int_at_least(0, 51),
        default=23,
        help="x264 quality, 0–51, lower is better and bigger (default 23)",
    )
    p.add_argument(
        "--fps",
        type=_positive_float,
        default=None,
        help="frame rate stamped on the outputs (default: each source's average); frames are "
        "never dropped or repeated",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="redo every file, also those already prepared"
    )
    p.set_defaults(run=_run_prepare)


def _run_prepare(args: argparse.Namespace) -> int:
    from actionkit.prepare import check_paths, prepare_dataset

    try:
        _, dst = check_paths(args.src, args.dst)
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    report = prepare_dataset(
        args.src,
        args.dst,
        short_side=args.short_side,
        fps=args.fps,
        crf=args.crf,
        gop=args.gop,
        workers=args.workers,
        overwrite=args.overwrite,
        progress=_progress(),
    )
    print(report)
    print(f"prepared dataset: {dst}")
    return 0 if report.ok else 1


# -- sample-data ---------------------------------------------------------------------------------
def _add_sample_data(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "sample-data",
        parents=[common],
        help="generate the small offline demo dataset",
        description=(
            "Write a small generated action dataset (one folder per class, H.264 videos and a "
            "classes.txt) to DIR. A complete dataset already there is reused."
        ),
        epilog="example:\n  actionkit sample-data data/sample --videos-per-class 12",
        formatter_class=_HelpFormatter,
    )
    p.add_argument("dir", metavar="DIR", help="folder to write the dataset to")
    p.add_argument(
        "--videos-per-class",
        type=_int_at_least(1),
        default=None,
        metavar="N",
        help="videos per class (default: the generator's default)",
    )
    p.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    p.set_defaults(run=_run_sample_data)


def _run_sample_data(args: argparse.Namespace) -> int:
    from actionkit.datasets.sample import make_sample_dataset

    options = {"videos_per_class": args.videos_per_class, "seed": args.seed}
    root = make_sample_dataset(args.dir, **{k: v for k, v in options.items() if v is not None})
    print(f"sample dataset: {root}")
    return 0


# -- check ---------------------------------------------------------------------------------------
def _add_check(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "check",
        parents=[common],
        help="open every video of a dataset folder and list the bad ones",
        description=(
            "Scan DATA (one folder per class) and open every video: report unreadable, empty and "
            "too short files. Exit status 1 when a file cannot be used."
        ),
        epilog="example:\n  actionkit check data/hmdb51_128",
        formatter_class=_HelpFormatter,
    )
    p.add_argument("data", metavar="DATA", help="dataset folder: DATA/<class>/<videos>")
    p.add_argument(
        "--workers",
        type=_int_at_least(1),
        default=None,
        metavar="N",
        help="files opened in parallel",
    )
    p.set_defaults(run=_run_check)


def _run_check(args: argparse.Namespace) -> int:
    if not Path(args.data).is_dir():
        raise UsageError(f"DATA {args.data} is not a folder")
    from actionkit.data import VideoDataset

    report = VideoDataset.from_folder(args.data).check(workers=args.workers, progress=_progress())
    print(report)
    return 0 if report.ok else 1


# -- demo ----------------------------------------------------------------------------------------
def _add_demo(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "demo",
        parents=[common],
        help="the whole path on the generated sample dataset, offline",
        description=(
            "Build the sample dataset (or use --data), load it and show what the model gets; "
            "results go to --out."
        ),
        epilog="example:\n  actionkit demo --out runs/demo",
        formatter_class=_HelpFormatter,
    )
    p.add_argument(
        "--out", default="runs/demo", metavar="DIR", help="output folder (default runs/demo)"
    )
    p.add_argument(
        "--data", default=None, metavar="DIR", help="use this dataset instead of the sample one"
    )
    p.add_argument(
        "--workers",
        type=_int_at_least(0),
        default=2,
        metavar="N",
        help="DataLoader worker processes (default 2)",
    )
    p.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from actionkit.demo import run_demo, summary

    result = run_demo(out_dir=args.out, data_dir=args.data, workers=args.workers)
    print(summary(result))
    return 0


_COMMANDS = (_add_prepare, _add_sample_data, _add_check, _add_demo)


# -- the command ---------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The ``actionkit`` argument parser with every subcommand."""
    # --debug is accepted before or after the subcommand; SUPPRESS keeps a subcommand's absent
    # flag from overwriting one given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks and debug messages",
    )
    parser = argparse.ArgumentParser(
        prog=PROG,
        parents=[common],
        description="Fine-tune, evaluate and run video action-recognition models on your clips.",
        epilog=(
            "examples:\n"
            "  actionkit demo\n"
            "  actionkit sample-data data/sample\n"
            "  actionkit prepare data/hmdb51_org data/hmdb51_128 --short-side 128\n"
            "  actionkit check data/hmdb51_128\n"
            "\n"
            "`actionkit COMMAND --help` describes a command."
        ),
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    sub.required = True
    for add in _COMMANDS:
        add(sub, common)
    return parser


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.levelno >= logging.WARNING:
            return f"{PROG}: {record.levelname.lower()}: {text}"
        return text


@contextlib.contextmanager
def _logging(debug: bool) -> Iterator[None]:
    """Log to stderr while the command runs (and restore the previous setup after it, for
    callers of :func:`main` inside a Python process)."""
    handler = logging.StreamHandler(sys.stderr)
    if debug:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(_Formatter("%(message)s"))
    root, ours = logging.getLogger(), logging.getLogger("actionkit")
    handlers, root_level, our_level = root.handlers[:], root.level, ours.level
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    ours.setLevel(logging.DEBUG if debug else logging.INFO)
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(root_level)
        ours.setLevel(our_level)


def _one_line(exc: BaseException, debug: bool) -> str:
    """The error as one line; unexpected kinds of errors are named and point to ``--debug``."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    text = " ".join(str(exc).split())
    if isinstance(exc, UsageError | OSError | ValueError) and text:
        return text
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if debug else f"{text} (--debug shows the traceback)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)  # a bad command line exits here with status 2
    debug = getattr(args, "debug", False)
    try:
        with _logging(debug):
            return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            traceback.print_exc()
        print(f"{PROG}: error: {_one_line(exc, debug)}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1


if __name__ == "__main__":
    sys.exit(main())
