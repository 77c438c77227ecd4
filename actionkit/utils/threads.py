"""OpenMP's wait policy: sleeping waits, set before torch starts.

OpenMP worker threads that spin while they wait collapse when anything else wants the same
cores (DataLoader workers, a video decoder, a notebook's other kernel): one training epoch took
64-96 s against 9-13 s with sleeping waits, and eager inference 187-315 ms against 26-35 ms, on a
loaded 2-core machine. The policy is read once, when torch's OpenMP runtime starts, so it must be
in the environment before ``import torch``: ``import actionkit`` sets it (unless the user set
``OMP_WAIT_POLICY`` themselves), and :func:`ensure_passive_omp` says so once when torch was
imported first without it.
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["ensure_passive_omp", "set_passive_omp"]

log = logging.getLogger(__name__)

_VARIABLE = "OMP_WAIT_POLICY"
_state = {"torch_first": False, "warned": False}


def set_passive_omp() -> None:
    """Ask for sleeping OpenMP waits unless the user chose a policy; remember whether torch was
    already running (then it is too late for this process)."""
    if _VARIABLE in os.environ:
        return
    os.environ[_VARIABLE] = "PASSIVE"
    _state["torch_first"] = "torch" in sys.modules


def ensure_passive_omp() -> bool:
    """Whether this process runs with sleeping OpenMP waits; warns once when it does not.

    Called where the waits matter (``Learner.fit``, ``predict``).
    """
    set_passive_omp()
    if not _state["torch_first"]:
        return os.environ.get(_VARIABLE, "").upper() == "PASSIVE"
    if not _state["warned"]:
        _state["warned"] = True
        log.warning(
            "torch was imported before actionkit, so its threads spin while they wait (%s was "
            "not set): on a busy CPU this can make training and inference several times "
            "slower. Import actionkit first, or set %s=PASSIVE before starting Python.",
            _VARIABLE,
            _VARIABLE,
        )
    return False
