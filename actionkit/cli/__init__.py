"""The ``actionkit`` command.

Each command group is a module here (:mod:`~actionkit.cli.data`, :mod:`~actionkit.cli.train`,
:mod:`~actionkit.cli.models`) with a ``COMMANDS`` tuple; each subcommand is two small functions:
``_add_<name>(subparsers, common)`` declares its arguments and ``_run_<name>(args) -> int`` does
the work, importing what it needs inside (so ``actionkit --help`` stays fast and a broken part
only affects its own command). Add a command by writing both and listing the first in its
module's ``COMMANDS``.

Errors: a wrong command line is argparse's usage message and exit status 2; anything that goes
wrong while running is one line on stderr (``actionkit: error: ...``) and exit status 1 (2 when
the arguments name something unusable, such as a missing folder). ``--debug`` adds the traceback
and debug logging. Results go to stdout; errors and warnings to stderr.

The console script is :func:`console_main`: :func:`main`, then, for the commands that declare
it safe (``fast_exit``: they leave no open file, thread or child process behind), an immediate
``os._exit`` once stdout and stderr are flushed, which skips the second or so that tearing down
torch's modules takes. :func:`main` itself returns the status, for Python callers.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Sequence

from actionkit import __version__
from actionkit.cli._common import PROG, HelpFormatter, UsageError
from actionkit.utils.threads import set_passive_omp

__all__ = ["PROG", "UsageError", "build_parser", "console_main", "main"]

log = logging.getLogger(__name__)


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
            "  actionkit annotate data/raw_videos --labels walk,wave\n"
            "\n"
            "`actionkit COMMAND --help` describes a command."
        ),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    sub.required = True
    from actionkit.cli import annotate, clips, data, download, export, live, models, train

    for add in (
        *data.COMMANDS,
        *download.COMMANDS,
        *train.COMMANDS,
        *models.COMMANDS,
        *live.COMMANDS,
        *export.COMMANDS,
        *annotate.COMMANDS,
        *clips.COMMANDS,
    ):
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
    return _main(argv)[0]


def console_main() -> None:
    """The ``actionkit`` console script: :func:`main` on ``sys.argv``, then exit.

    Commands marked ``fast_exit`` (``predict``, ``check``) end with ``os._exit`` once stdout
    and stderr are flushed: their files are closed and their threads joined by then, and
    skipping the interpreter's teardown saves about a second after torch was imported.
    """
    status, fast = _main(None)
    if fast:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


def _main(argv: Sequence[str] | None) -> tuple[int, bool]:
    """:func:`main`'s work: ``(exit status, whether the command allows a fast exit)``."""
    # OpenMP threads that spin while they wait collapse (50x slower measured) when anything else
    # wants the same cores, e.g. DataLoader workers on a 2-core machine; sleeping waits cost
    # little. Set before torch starts; an explicit setting wins.
    set_passive_omp()
    parser = build_parser()
    args = parser.parse_args(argv)  # a bad command line exits here with status 2
    debug = getattr(args, "debug", False)
    fast = getattr(args, "fast_exit", False)
    try:
        with _logging(debug):
            return int(args.run(args) or 0), fast
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130, fast
    except Exception as exc:
        if debug:
            traceback.print_exc()
        print(f"{PROG}: error: {_one_line(exc, debug)}", file=sys.stderr)
        return (2 if isinstance(exc, UsageError) else 1), fast


if __name__ == "__main__":
    console_main()
