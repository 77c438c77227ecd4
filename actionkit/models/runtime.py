"""Which runtime runs a model for inference: eager PyTorch, or the model exported to ONNX and
run with ONNX Runtime, which was measured 5-6x faster on a CPU (BENCHMARKS.md, issue 10).

``runtime="auto"`` (what the live engine uses) takes ONNX Runtime on a CPU when it is installed
(the ``onnx`` extra) and eager PyTorch otherwise, and on a GPU.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import shutil
import tempfile
import time
import weakref
from pathlib import Path

import torch

from actionkit.models.export import ExportedModel, export_model, load_exported

__all__ = ["RUNTIMES", "onnx_available", "with_runtime"]

log = logging.getLogger(__name__)

#: The ONNX export of each model object, made once per process.
_EXPORTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

#: What ``runtime`` accepts.
RUNTIMES = ("auto", "torch", "onnx")


def onnx_available() -> bool:
    """Whether the model can be exported to ONNX and run with ONNX Runtime here."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnxscript"))


def with_runtime(model, runtime: str = "auto", device: str | torch.device | None = None):
    """``model`` as it should run for inference with ``runtime`` on ``device``.

    Args:
        model: A classifier (an :class:`ExportedModel` is returned as it is).
        runtime: ``"torch"`` (eager), ``"onnx"`` (export once to a temporary file, run with
            ONNX Runtime on the CPU) or ``"auto"`` (ONNX on a CPU where it is installed). The
            export is made once per model object (change the weights after it: pass a copy).
        device: Where the model is to run (default: where its parameters are).

    Raises:
        ValueError: an unknown ``runtime``, or ``"onnx"`` for a GPU device or without the
            ``onnx`` extra installed.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime={runtime!r} is not one of {', '.join(RUNTIMES)}")
    if runtime == "torch" or isinstance(model, ExportedModel):
        return model
    where = torch.device(device) if device is not None else _device_of(model)
    if where.type != "cpu":
        if runtime == "onnx":
            raise ValueError(f"runtime='onnx' runs on the CPU; the model is to run on {where}")
        return model
    if not onnx_available():
        if runtime == "onnx":
            raise ValueError("runtime='onnx' needs pip install 'actionkit[onnx]'")
        return model
    if model in _EXPORTED:
        return _EXPORTED[model]
    start = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="actionkit-onnx-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    exported = load_exported(export_model(model, folder / "model.onnx", format="onnx"))
    log.info(
        "running %s with ONNX Runtime (exported in %.0f s; runtime='torch' keeps PyTorch)",
        getattr(model, "arch", type(model).__name__), time.perf_counter() - start,
    )  # fmt: skip
    _EXPORTED[model] = exported
    return exported


def _device_of(model) -> torch.device:
    param = next(iter(model.parameters()), None)
    return param.device if param is not None else torch.device("cpu")
