"""The notebooks' conventions: a first code cell of UPPER_CASE parameters tagged `parameters`,
no outputs or execution counts committed, the installed package imported (no sys.path)."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert any(p.name.startswith("00_webcam") for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_notebook_follows_the_conventions(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    first = code[0]
    assert "parameters" in first.metadata.get("tags", [])
    names = [t.id for node in ast.parse(first.source).body for t in getattr(node, "targets", [])]
    assert names and all(name.isupper() for name in names), names
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
        assert "sys.path" not in cell.source


@pytest.mark.slow
def test_the_webcam_notebook_runs_top_to_bottom(tmp_path):
    """Headless (no browser sends frames): the model loads, the widgets and the predictor start
    and stop, and the last cell reports the counters."""
    import papermill

    from actionkit.models import save_model
    from tests._tiny import tiny_model

    model_path = save_model(tiny_model(), tmp_path / "model.pt")
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS[0]), str(out), kernel_name="python3", cwd=str(tmp_path),
        parameters={"MODEL_PATH": str(model_path), "TRAIN_IF_MISSING": False, "SECONDS": 1},
        progress_bar=False,
    )  # fmt: skip
    text = "".join(
        o.get("text", "")
        for c in nbformat.read(out, as_version=4).cells
        for o in c.get("outputs", [])
    )
    assert "weights are not here" in text  # no Kinetics weights in a test: the given model
    assert "camera:" in text and "predictor:" in text
