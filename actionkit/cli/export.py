"""``actionkit export``: write a saved model as ONNX or TorchScript."""

from __future__ import annotations

import argparse
from pathlib import Path

from actionkit.cli._common import UsageError, add_command, load_model_file

FORMATS = ("onnx", "torchscript")  # actionkit.models.export.FORMATS, without importing torch


def _add_export(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub, common, "export", _run_export,
        help="export a saved model to ONNX or TorchScript",
        description=(
            "Write MODEL_FILE as an ONNX file (opset 18, any batch size, runs with onnxruntime) "
            "or a TorchScript file (torch.jit.trace), with the model's classes and input spec "
            "inside it; actionkit.models.export.load_exported runs either like the model. The "
            "export is checked against the model on a random batch of 2 (the largest logit "
            "difference is printed; --no-check skips it). ONNX needs the onnx extra: "
            "pip install 'actionkit[onnx]'."
        ),
        examples=[
            "actionkit export runs/a/model.pt --out runs/a/model.onnx",
            "actionkit export runs/a/model.pt --format torchscript --out runs/a/model.ts",
        ],
    )  # fmt: skip
    p.add_argument("model", metavar="MODEL_FILE", help="a model.pt written by training")
    p.add_argument("--format", choices=FORMATS, default="onnx", help="what to write (default onnx)")
    p.add_argument("--out", required=True, metavar="FILE", help="the file to write")
    p.add_argument(
        "--no-check", dest="check", action="store_false",
        help="do not compare the export's output with the model's",
    )  # fmt: skip


def _run_export(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.is_dir():
        raise UsageError(
            f"--out {out} is a folder; give the file to write, e.g. {out / 'model.onnx'}"
        )
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: folder {out.parent} does not exist")
    try:
        model = load_model_file(args.model)
    except ValueError as exc:  # a file that is not a model: the argument is unusable
        raise UsageError(str(exc)) from exc

    import torch

    from actionkit.models.export import example_input, export_model, load_exported

    try:
        export_model(model, out, args.format)
    except ImportError as exc:
        raise UsageError(str(exc)) from exc
    size = out.stat().st_size / 1e6
    print(f"wrote {out} ({args.format}, {size:.1f} MB, {model.arch}, {model.num_classes} classes)")
    if args.check:
        exported = load_exported(out)
        batch = example_input(model.input_spec, batch_size=2)
        with torch.inference_mode():
            diff = (exported(batch) - model(batch)).abs().max().item()
        print(f"check: largest logit difference from the model on a batch of 2: {diff:.2g}")
    return 0


COMMANDS = (_add_export,)
