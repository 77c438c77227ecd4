"""The notebooks' conventions: a first code cell of UPPER_CASE parameters tagged `parameters`,
no outputs or execution counts committed, the installed package imported (no sys.path)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
NOTEBOOKS_BY_NAME = {p.name: p for p in NOTEBOOKS}


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


@pytest.mark.slow
def test_the_labeling_notebook_goes_from_raw_videos_to_a_timeline(tmp_path):
    """03 on generated untrimmed videos: the example labels imported into annotations.json,
    clips cut with background clips and a split by source video, a model trained and
    evaluated, a timeline of the held-out video, the annotation page served and stopped."""
    import csv

    import papermill

    from actionkit.annotate import load_annotations

    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS_BY_NAME["03_custom_labeling.ipynb"]), str(out), kernel_name="python3",
        cwd=str(tmp_path), progress_bar=False,
        parameters={"NUM_VIDEOS": 5, "EPOCHS": 2, "CROP_SIZE": 64, "NEGATIVES": 4},
    )  # fmt: skip
    text = "".join(
        o.get("text", "")
        for c in nbformat.read(out, as_version=4).cells
        for o in c.get("outputs", [])
    )
    annotations = load_annotations(tmp_path / "data/raw_videos/annotations.json")
    assert annotations.num_segments() == 5 * 4  # the generator's 4 actions per video
    assert f"imported {annotations.num_segments()} segments" in text
    assert re.search(r"http://127\.0\.0\.1:\d+/\?token=[\w-]{20,}", text)
    clips = tmp_path / "data/raw_videos_clips"
    with open(clips / "clips.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert sum(r["label"] == "background" for r in rows) == 4
    split_of = {}
    for row in rows:
        assert split_of.setdefault(row["video"], row["split"]) == row["split"]
    assert (tmp_path / "runs/custom_labeling/model.pt").is_file()
    top1 = float(re.search(r"top-1\s+([\d.]+) %", text).group(1))
    assert 0.0 <= top1 <= 100.0
    assert "true:" in text and "moving_left" in text.split("true:")[1]
