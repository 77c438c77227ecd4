"""Export to ONNX and TorchScript (issue 10): parity with eager, the carried description, the
export-friendly temporal shift, the `actionkit export` command and its errors. Real models."""

from __future__ import annotations

import json
import re

import numpy as np
import onnx
import pytest
import torch

from actionkit import cli
from actionkit.inference import predict
from actionkit.models import create_model, layers, save_model
from actionkit.models.export import (
    METADATA_KEY,
    ExportedModel,
    example_input,
    export_model,
    load_exported,
)
from tests._tiny import tiny_model
from tests.test_cli import one_error_line

pytestmark = pytest.mark.usefixtures("no_network")

CLASSES = ["bright", "dark"]
TOLERANCE = 1e-4  # float32 logits; measured differences are ~1e-6 or below


def max_diff(exported: ExportedModel, model: torch.nn.Module, batch: torch.Tensor) -> float:
    with torch.inference_mode():
        return (exported(batch) - model(batch)).abs().max().item()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny TSM EfficientNet-Lite0 (real weights), saved and exported both ways (batch 1)."""
    root = tmp_path_factory.mktemp("export")
    model = tiny_model(pretrained=True)
    model.classes = list(CLASSES)
    model.eval()
    return {
        "model": model,
        "root": root,
        "model_file": save_model(model, root / "model.pt"),
        "onnx": export_model(model, root / "model.onnx"),
        "torchscript": export_model(model, root / "model.ts", format="torchscript"),
    }


# -- the temporal shift -----------------------------------------------------------------------
def slice_assignment_shift(x: torch.Tensor, k: int, fold_div: int = 8) -> torch.Tensor:
    """The shift as it was written before (in-place slice assignment into zeros)."""
    nk, c, h, w = x.shape
    x = x.reshape(nk // k, k, c, h, w)
    fold = c // fold_div
    out = torch.zeros_like(x)
    out[:, :-1, :fold] = x[:, 1:, :fold]
    out[:, 1:, fold : 2 * fold] = x[:, :-1, fold : 2 * fold]
    out[:, :, 2 * fold :] = x[:, :, 2 * fold :]
    return out.reshape(nk, c, h, w)


@pytest.mark.parametrize("k, c", [(1, 16), (4, 16), (8, 24), (3, 7), (2, 3)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_the_shift_is_bit_identical_to_the_slice_assignment_one(k, c, channels_last):
    x = torch.randn(2 * k, c, 5, 4, generator=torch.Generator().manual_seed(k * c))
    x[0, 0, 0, 0] = float("nan")
    x[-1, -1, 0, 0] = -0.0
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    new = layers.TemporalShift(k)(x)
    old = slice_assignment_shift(x, k)
    assert new.shape == old.shape and new.stride() == old.stride()  # layout kept too
    assert torch.equal(new.detach().view(torch.int32), old.detach().view(torch.int32))
    up = torch.randn(old.shape)
    (grad_new,) = torch.autograd.grad(new, x, up)
    (grad_old,) = torch.autograd.grad(old, x, up)
    assert torch.equal(grad_new, grad_old)


def test_the_onnx_graph_has_plain_ops_and_a_dynamic_batch(tiny):
    graph = onnx.load(tiny["onnx"])
    ops = {node.op_type for node in graph.graph.node}
    assert "ScatterND" not in ops and {"Concat", "Slice"} <= ops
    assert max(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")) >= 17
    batch = graph.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param and not batch.dim_value  # symbolic: any batch size
    meta = json.loads({p.key: p.value for p in graph.metadata_props}[METADATA_KEY])
    assert meta["classes"] == CLASSES and meta["arch"] == "tsm_efficientnet_lite0"


# -- parity and the description carried beside the graph ---------------------------------------
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_the_tiny_tsm_matches_eager_at_another_batch_size(tiny, fmt):
    exported = load_exported(tiny[fmt])
    model = tiny["model"]
    assert exported.format == fmt
    assert exported.input_spec == model.input_spec
    assert exported.classes == CLASSES and exported.num_classes == 2
    assert exported.arch == "tsm_efficientnet_lite0"
    batch = example_input(model.input_spec, batch_size=2) * 2  # traced with 1
    out = exported(batch)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 2)
    diff = max_diff(exported, model, batch)
    print(f"tsm_efficientnet_lite0 {fmt}: max abs diff {diff:.3g}")
    assert diff < TOLERANCE


def test_onnx_runs_with_torch_threads_and_no_spinning(tiny):
    session = load_exported(tiny["onnx"])._runner
    options = session.get_session_options()
    assert options.intra_op_num_threads == torch.get_num_threads()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_an_exported_model_stands_in_for_the_model_in_predict(tiny, fmt):
    frames = np.random.default_rng(1).integers(0, 255, (16, 36, 48, 3), dtype=np.uint8)
    want = predict(tiny["model"], frames, num_clips=3)
    got = predict(load_exported(tiny[fmt]), frames, num_clips=3, batch_size=2)
    assert got.classes == want.classes
    np.testing.assert_allclose(got.probs, want.probs, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize(
    "name, kwargs, spec",
    [
        ("tsn_resnet50", {"num_segments": 2}, {"num_segments": 2, "crop_size": 64, "resize": 72}),
        ("r2plus1d_34_8_ig65m", {}, {"clip_len": 4, "crop_size": 64, "resize": 72}),
    ],
)
def test_tsn_resnet50_and_r2plus1d_34_match_eager(tmp_path, name, kwargs, spec, fmt):
    model = create_model(name, pretrained=False, num_classes=5, **kwargs).eval()
    model.input_spec = model.input_spec.replace(**spec)
    exported = load_exported(export_model(model, tmp_path / f"m.{fmt}", format=fmt))
    batch = example_input(model.input_spec, batch_size=2)
    assert exported(batch).shape == (2, 5)
    diff = max_diff(exported, model, batch)
    print(f"{name} {fmt}: max abs diff {diff:.3g}")
    assert diff < TOLERANCE


# -- bad input -------------------------------------------------------------------------------
def test_export_model_names_a_bad_format_and_the_choices(tiny, tmp_path):
    with pytest.raises(ValueError, match=r"format='tflite'.*\('onnx', 'torchscript'\)"):
        export_model(tiny["model"], tmp_path / "m.tflite", format="tflite")
    with pytest.raises(ValueError, match="opset=11"):
        export_model(tiny["model"], tmp_path / "m.onnx", opset=11)
    with pytest.raises(FileNotFoundError, match="missing"):
        export_model(tiny["model"], tmp_path / "missing" / "m.ts", format="torchscript")
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary file


def test_export_leaves_the_models_mode_and_a_wrong_shape_is_named(tiny, tmp_path):
    model = tiny_model(pretrained=False).train()
    exported = load_exported(export_model(model, tmp_path / "m.ts", format="torchscript"))
    assert model.training
    with pytest.raises(ValueError, match=r"shape \(B, 4, 3, 32, 32\), got \(2, 4, 3, 64, 64\)"):
        exported(torch.zeros(2, 4, 3, 64, 64))
    with pytest.raises(ValueError, match="inference only"):
        exported.train()
    assert exported.eval() is exported and exported.train(False) is exported


def test_load_exported_refuses_files_that_are_no_export(tiny, tmp_path):
    text = tmp_path / "notes.onnx"
    text.write_text("hello")
    bare = tmp_path / "bare.onnx"  # a valid ONNX graph without actionkit's description
    node = onnx.helper.make_node("Identity", ["x"], ["y"])
    value = onnx.helper.make_tensor_value_info
    graph = onnx.helper.make_graph([node], "g", [value("x", 1, [1])], [value("y", 1, [1])])
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), bare)
    for path, why in [
        (tiny["model_file"], "zip archive that is no TorchScript"),
        (text, "neither TorchScript nor ONNX"),
        (bare, "without actionkit's description"),
    ]:
        with pytest.raises(
            ValueError, match=f"{re.escape(str(path))} is not a model exported by actionkit.*{why}"
        ):
            load_exported(path)
    with pytest.raises(FileNotFoundError, match=r"missing\.onnx"):
        load_exported(tmp_path / "missing.onnx")


# -- the command -----------------------------------------------------------------------------
def run(capsys, *args) -> tuple[int, str, str]:
    status = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("fmt", ["torchscript", pytest.param("onnx", marks=pytest.mark.slow)])
def test_the_command_writes_an_export_that_loads_back(tiny, capsys, fmt):
    target = tiny["root"] / f"cli.{fmt}"
    status, out, err = run(capsys, "export", tiny["model_file"], "--format", fmt, "--out", target)
    assert status == 0, err
    wrote, check = out.splitlines()
    assert wrote.startswith(f"wrote {target} ({fmt}, ")
    assert float(check.rsplit(" ", 1)[1]) < TOLERANCE
    exported = load_exported(target)
    assert exported.classes == CLASSES and exported.input_spec == tiny["model"].input_spec
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_the_command_errors_are_one_line_with_exit_status_2(tiny, capsys, tmp_path):
    not_a_model = tmp_path / "clip.pt"
    not_a_model.write_text("not a model")
    status, out, err = run(capsys, "export", not_a_model, "--out", tmp_path / "m.onnx")
    assert status == 2 and not out
    assert "clip.pt is not an actionkit model file" in one_error_line(err)

    status, _, err = run(capsys, "export", tiny["model_file"], "--out", tmp_path / "no" / "m.onnx")
    assert status == 2
    assert one_error_line(err).endswith(f"folder {tmp_path / 'no'} does not exist")

    status, _, err = run(capsys, "export", tmp_path / "missing.pt", "--out", tmp_path / "m.onnx")
    assert status == 2 and "missing.pt does not exist" in one_error_line(err)

    status, _, err = run(capsys, "export", tiny["model_file"], "--out", tmp_path)
    assert status == 2 and "is a folder" in one_error_line(err)
    assert list(tmp_path.iterdir()) == [not_a_model]


def test_an_unknown_format_is_a_usage_error(tiny, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["export", str(tiny["model_file"]), "--format", "tflite", "--out", "m"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'tflite'" in err and "'onnx', 'torchscript'" in err
