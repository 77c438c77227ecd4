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
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence

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
def int_at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
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


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value} must be positive")
    return value


def progress() -> bool:
    """Progress bars only where someone watches them (not in logs or pipes)."""
    return sys.stderr.isatty()


def add_command(
    sub: argparse._SubParsersAction,
    common: argparse.ArgumentParser,
    name: str,
    run: Callable[[argparse.Namespace], int],
    *,
    help: str,
    description: str,
    examples: Sequence[str],
) -> argparse.ArgumentParser:
    """Declare subcommand ``name`` (its help, description and examples); returns its parser."""
    parser = sub.add_parser(
        name,
        parents=[common],
        help=help,
        description=description,
        epilog="example"
        + ("s" if len(examples) > 1 else "")
        + ":\n"
        + "".join(f"  {line}\n" for line in examples),
        formatter_class=_HelpFormatter,
    )
    parser.set_defaults(run=run)
    return parser


def workers_option(parser: argparse.ArgumentParser, default: int | None, text: str) -> None:
    """The ``--workers N`` option most commands share."""
    parser.add_argument(
        "--workers", type=int_at_least(0 if default == 0 else 1), default=default, metavar="N",
        help=text,
    )  # fmt: skip


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
    from actionkit import cli_data, cli_train

    for add in (*cli_data.COMMANDS, *cli_train.COMMANDS):
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
    # OpenMP threads that spin while they wait collapse (50x slower measured) when anything else
    # wants the same cores, e.g. DataLoader workers on a 2-core machine; sleeping waits cost
    # little. Set before torch starts; an explicit setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
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
