"""Export a model to ONNX or TorchScript, and run the exported file like the model.

::

    export_model(model, "model.onnx")                        # ONNX, dynamic batch axis
    export_model(model, "model.ts", format="torchscript")    # torch.jit.trace
    exported = load_exported("model.onnx")                  # onnxruntime (or torch.jit)
    logits = exported(batch)                                 # B×C×T×H×W or B×K×C×H×W

The file carries what the model knows about itself beside the graph, as one JSON document
(:data:`METADATA_KEY`): the architecture, the class names and the :class:`~actionkit.spec.InputSpec`
(ONNX: the model's ``metadata_props``; TorchScript: an ``_extra_files`` entry of the archive).
So an :class:`ExportedModel` can stand in for a
:class:`~actionkit.models.base.VideoClassifier` in :mod:`actionkit.inference`: it is callable on a
float batch and returns logits, and has ``input_spec``, ``classes``, ``num_classes``, ``arch``,
``eval()``, ``train(False)``, ``to()`` and ``parameters()``.

ONNX uses torch's ``torch.export``-based exporter (``dynamo=True``, which needs ``onnxscript``) at
opset 18, its lowest; the legacy TorchScript-based one is deprecated. Install the ``onnx`` extra
(``onnx``, ``onnxscript``, ``onnxruntime``) to export and run ONNX files.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from actionkit.spec import InputSpec
from actionkit.utils.atomic import atomic_path

__all__ = [
    "FORMATS",
    "METADATA_KEY",
    "ExportedModel",
    "example_input",
    "export_model",
    "load_exported",
]

#: The formats :func:`export_model` writes.
FORMATS = ("onnx", "torchscript")
#: Name of the JSON document (ONNX metadata key; TorchScript extra file) describing the model.
METADATA_KEY = "actionkit"
_EXTRA_FILE = f"{METADATA_KEY}.json"
_KIND = "actionkit-exported-model"
_VERSION = 1
#: The lowest opset torch's ONNX exporter writes (lower ones need a conversion that fails).
MIN_OPSET = 18
_INSTALL = "pip install 'actionkit[onnx]' (onnx, onnxscript, onnxruntime)"


def example_input(spec: InputSpec, batch_size: int = 1) -> torch.Tensor:
    """A random float batch shaped as a model with ``spec`` takes it.

    ``B×3×T×H×W`` for 3D models (``CTHW``), ``B×K×3×H×W`` for segment models (``KCHW``, with
    ``K = num_segments · clip_len``).
    """
    side = spec.crop_size
    sample = (
        (spec.frames_per_sample, 3, side, side)
        if spec.uses_segments
        else (3, spec.clip_len, side, side)
    )
    return torch.randn(batch_size, *sample, generator=torch.Generator().manual_seed(0))


def _metadata(model: nn.Module, fmt: str) -> dict[str, Any]:
    spec = getattr(model, "input_spec", None)
    if not isinstance(spec, InputSpec):
        raise TypeError(
            f"cannot export a {type(model).__name__}: it has no input_spec (an actionkit "
            "VideoClassifier carries one, e.g. from create_model or load_model)"
        )
    classes = getattr(model, "classes", None)
    num_classes = int(model.num_classes)
    return {
        "kind": _KIND,
        "version": _VERSION,
        "format": fmt,
        "arch": str(getattr(model, "arch", "") or type(model).__name__),
        "num_classes": num_classes,
        "classes": list(classes) if classes is not None else None,
        "input_spec": spec.to_dict(),
    }


@contextlib.contextmanager
def _cpu_eval(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode on the CPU for the block (a copy if it is elsewhere); the caller's
    model gets its train/eval mode back."""
    param = next(model.parameters(), None)
    if param is not None and param.device.type != "cpu":
        yield copy.deepcopy(model).cpu().eval()
        return
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def export_model(
    model: nn.Module,
    path: str | Path,
    format: str = "onnx",
    *,
    opset: int = MIN_OPSET,
    batch_size: int = 1,
) -> Path:
    """Write ``model`` (a :class:`~actionkit.models.base.VideoClassifier`) to ``path``.

    The model is traced in eval mode, on the CPU, with a random batch of ``batch_size`` samples
    shaped by its ``input_spec``; the file is written to a temporary file and renamed, so a
    crash leaves no half-written export. ONNX files have a dynamic batch axis (any batch size
    runs); TorchScript traces also run other batch sizes. The sample shape is fixed.

    Args:
        model: The model; its ``input_spec``, ``classes`` and ``arch`` go into the file.
        path: The file to write (its folder must exist).
        format: ``"onnx"`` or ``"torchscript"``.
        opset: ONNX operator set version (at least :data:`MIN_OPSET`).
        batch_size: Samples in the example batch the model is traced with.

    Returns:
        ``path``, as a :class:`~pathlib.Path`.

    Raises:
        ValueError: Unknown ``format``, ``opset`` too low, or a bad ``batch_size``.
        TypeError: ``model`` has no ``input_spec``.
        FileNotFoundError: The folder of ``path`` does not exist.
        ImportError: ONNX asked for without ``onnxscript`` installed.
    """
    if format not in FORMATS:
        raise ValueError(f"format={format!r} is not valid; choose one of {FORMATS}")
    if not isinstance(opset, int) or opset < MIN_OPSET:
        raise ValueError(f"opset={opset!r} is not valid; torch's ONNX exporter needs ≥ {MIN_OPSET}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer")
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"folder {path.parent} does not exist (for {path})")
    meta = _metadata(model, format)
    example = example_input(InputSpec.from_dict(meta["input_spec"]), batch_size)
    with _cpu_eval(model) as net, torch.no_grad():
        if format == "onnx":
            _export_onnx(net, example, path, meta, opset)
        else:
            _export_torchscript(net, example, path, meta)
    return path


def _export_onnx(
    model: nn.Module, example: torch.Tensor, path: Path, meta: dict[str, Any], opset: int
) -> None:
    try:
        import onnxscript  # noqa: F401  (torch's exporter needs it)
    except ImportError as err:
        raise ImportError(f"exporting to ONNX needs onnxscript: {_INSTALL}") from err
    # the exporter reports its steps on stdout; a command's stdout is for its results
    with contextlib.redirect_stdout(io.StringIO()):
        program = torch.onnx.export(
            model,
            (example,),
            dynamo=True,
            opset_version=opset,
            input_names=["video"],
            output_names=["logits"],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            verbose=False,
        )
    program.model.metadata_props[METADATA_KEY] = json.dumps(meta)
    with atomic_path(path, suffix=".onnx") as tmp:
        program.save(tmp, external_data=False)


def _export_torchscript(
    model: nn.Module, example: torch.Tensor, path: Path, meta: dict[str, Any]
) -> None:
    # Deprecation notices for jit.trace are not the user's concern, and the tracer's warnings
    # about shape checks turned constants hold for the fixed sample shape (checked when run).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.trace.* is deprecated")
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        traced = torch.jit.trace(model, example, check_trace=False)
    with atomic_path(path, suffix=".pt") as tmp:
        traced.save(str(tmp), _extra_files={_EXTRA_FILE: json.dumps(meta)})


class ExportedModel:
    """An exported model file, run like the model it came from (inference only).

    Call it on a float batch (``B×3×T×H×W`` for 3D models, ``B×K×3×H×W`` for TSN/TSM) to get
    the logits ``(B, num_classes)`` as a torch tensor. ONNX files run with onnxruntime on the
    CPU (inputs are copied there; the logits come back on the input's device); TorchScript files
    with ``torch.jit`` where :meth:`to` puts them.

    Attributes:
        path: The file.
        format: ``"onnx"`` or ``"torchscript"``.
        arch: The architecture name it was exported from.
        classes: Class names (``None`` when the model had none).
        input_spec: The input the model expects.
        training: Always ``False``.
    """

    training = False

    def __init__(self, path: Path, fmt: str, meta: dict[str, Any], runner: Any) -> None:
        self.path = path
        self.format = fmt
        self.arch: str = meta["arch"]
        self.classes: list[str] | None = meta.get("classes")
        self.input_spec: InputSpec = InputSpec.from_dict(meta["input_spec"])
        self._num_classes = int(meta["num_classes"])
        self._runner = runner

    @property
    def num_classes(self) -> int:
        """Number of scores per sample."""
        return self._num_classes

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample (a batch is ``(B, *sample_shape)``)."""
        return tuple(example_input(self.input_spec).shape[1:])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)`` of the float batch ``x``."""
        if (
            not isinstance(x, torch.Tensor)
            or x.ndim != 5
            or tuple(x.shape[1:]) != self.sample_shape
        ):
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"{self.arch} ({self.format}) takes a batch of shape (B, "
                f"{', '.join(map(str, self.sample_shape))}), got {got}"
            )
        if self.format == "torchscript":
            return self._runner(x.float())
        array = x.detach().to("cpu", torch.float32).contiguous().numpy()
        (logits,) = self._runner.run(["logits"], {"video": array})
        return torch.from_numpy(logits).to(x.device)

    forward = __call__

    def eval(self) -> ExportedModel:
        """Nothing to do (an exported model is always in eval mode); returns ``self``."""
        return self

    def train(self, mode: bool = True) -> ExportedModel:
        """``train(False)`` does nothing; an exported model cannot be trained."""
        if mode:
            raise ValueError(f"{self.path} is an exported model: it runs inference only")
        return self

    def to(
        self, device: str | torch.device | None = None, *args: Any, **kwargs: Any
    ) -> ExportedModel:
        """TorchScript: move the module to ``device``; ONNX: nothing (onnxruntime runs on the
        CPU here). Returns ``self``."""
        if self.format == "torchscript" and device is not None:
            self._runner.to(device)
        return self

    def parameters(self) -> Iterator[torch.Tensor]:
        """The TorchScript module's parameters (where it runs); none for ONNX (the CPU)."""
        return iter(self._runner.parameters()) if self.format == "torchscript" else iter(())

    def __repr__(self) -> str:
        return (
            f"ExportedModel({str(self.path)!r}, format={self.format!r}, arch={self.arch!r}, "
            f"num_classes={self.num_classes})"
        )


def load_exported(path: str | Path, *, providers: list[str] | None = None) -> ExportedModel:
    """Open a file :func:`export_model` wrote (ONNX or TorchScript, told apart by its content).

    ONNX runs with an onnxruntime session using ``torch.get_num_threads()`` intra-op threads,
    which sleep rather than spin while they wait (spinning threads starve anything else on the
    cores: 109 ms vs 31 ms measured under load).

    Args:
        path: The exported file.
        providers: onnxruntime execution providers (default ``["CPUExecutionProvider"]``).

    Raises:
        FileNotFoundError: No file at ``path``.
        ValueError: The file is not a model exported by actionkit (the message says why).
        ImportError: An ONNX file without onnxruntime installed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such exported model: {path}")
    if zipfile.is_zipfile(path):
        return _load_torchscript(path)
    return _load_onnx(path, providers)


def _not_exported(path: Path, why: str) -> ValueError:
    return ValueError(
        f"{path} is not a model exported by actionkit ({why}); write one with "
        "`actionkit export MODEL_FILE --format onnx|torchscript --out FILE`"
    )


def _parse_meta(path: Path, text: str | bytes | None, fmt: str) -> dict[str, Any]:
    if not text:
        raise _not_exported(path, f"a {fmt} file without actionkit's description of the model")
    try:
        meta = json.loads(text)
    except ValueError:
        meta = None
    if not isinstance(meta, dict) or meta.get("kind") != _KIND:
        raise _not_exported(path, f"its {METADATA_KEY!r} entry is not actionkit's")
    if meta.get("version", 0) > _VERSION:
        raise ValueError(
            f"{path} was exported by a newer actionkit (version {meta['version']}); "
            f"this one reads version {_VERSION}"
        )
    return meta


def _load_torchscript(path: Path) -> ExportedModel:
    extra = {_EXTRA_FILE: ""}
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.* is deprecated")
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except RuntimeError as err:
        raise _not_exported(path, "a zip archive that is no TorchScript module") from err
    meta = _parse_meta(path, extra[_EXTRA_FILE], "TorchScript")
    module.eval()
    return ExportedModel(path, "torchscript", meta, module)


def _load_onnx(path: Path, providers: list[str] | None) -> ExportedModel:
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise ImportError(f"running an ONNX file needs onnxruntime: {_INSTALL}") from err
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only
    try:
        session = ort.InferenceSession(
            str(path), options, providers=providers or ["CPUExecutionProvider"]
        )
    except Exception as err:  # onnxruntime raises its own exception kinds
        first = " ".join(str(err).split())[:200]
        raise _not_exported(path, f"neither TorchScript nor ONNX: {first}") from err
    meta = _parse_meta(path, session.get_modelmeta().custom_metadata_map.get(METADATA_KEY), "ONNX")
    return ExportedModel(path, "onnx", meta, session)
