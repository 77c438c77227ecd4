"""What every ``actionkit`` command shares: argument types, the way a command is declared."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

PROG = "actionkit"

__all__ = [
    "PROG",
    "UsageError",
    "add_command",
    "int_at_least",
    "load_model_file",
    "need_path",
    "positive_float",
    "progress",
    "workers_option",
]


class UsageError(Exception):
    """The arguments are well-formed but unusable (a missing folder...): exit status 2."""


class HelpFormatter(argparse.HelpFormatter):
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


def unit_float(text: str) -> float:
    """A number from 0 to 1 (a score, a probability)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{value} must be between 0 and 1")
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
        formatter_class=HelpFormatter,
    )
    parser.set_defaults(run=run)
    return parser


def workers_option(parser: argparse.ArgumentParser, default: int | None, text: str) -> None:
    """The ``--workers N`` option most commands share."""
    parser.add_argument(
        "--workers", type=int_at_least(0 if default == 0 else 1), default=default, metavar="N",
        help=text,
    )  # fmt: skip


def need_path(path: str, what: str) -> None:
    """A :class:`UsageError` naming ``what`` when ``path`` does not exist."""
    if not Path(path).exists():
        raise UsageError(f"{what} {path} does not exist")


#: Suffixes of exported models (``actionkit export``), run with their own runtime.
EXPORTED_SUFFIXES = (".onnx", ".ts", ".torchscript")


def load_model_file(path: str):
    """The model saved at ``path``: a ``model.pt``, or an exported ``.onnx`` / ``.ts`` file
    (a :class:`UsageError` when there is no such file)."""
    need_path(path, "MODEL_FILE")
    if Path(path).suffix.lower() in EXPORTED_SUFFIXES:
        from actionkit.models.export import load_exported

        return load_exported(path)
    from actionkit.models import load_model

    return load_model(path)
