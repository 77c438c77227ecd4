"""Where progress bars make sense: a terminal or a notebook, not a log file or a pipe."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["bars_visible", "in_notebook", "progress_bar"]


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (where tqdm.auto draws widgets)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def bars_visible() -> bool:
    """Whether a progress bar would be seen as a bar: in a notebook or on a terminal.

    Elsewhere (output redirected to a file, CI logs) every refresh becomes one more line.
    """
    stream = sys.stderr
    return in_notebook() or bool(getattr(stream, "isatty", lambda: False)())


def progress_bar(iterable: Any = None, *, show: bool = True, **options: Any):
    """A ``tqdm.auto`` bar, drawn only when ``show`` and where it is seen (:func:`bars_visible`);
    otherwise a disabled one that costs nothing and writes nothing."""
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=not (show and bars_visible()), **options)
