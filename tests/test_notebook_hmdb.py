"""Notebook 02 (HMDB51 fine-tuning) on its small path: a generated HMDB51-shaped set, R(2+1)D-18
from scratch at 32² for one epoch, run top to bottom with papermill; the outcomes are read back
from the executed notebook and the files it left."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "02_training_hmdb.ipynb"
SMALL = {
    "GENERATED": True,
    "MODEL_NAME": "r2plus1d_18",
    "PRETRAINED": False,
    "CROP_SIZE": 32,
    "EPOCHS": 1,
}


def _printed(path: Path) -> str:
    return "".join(
        o.get("text", "")
        for c in nbformat.read(path, as_version=4).cells
        for o in c.get("outputs", [])
    )


@pytest.mark.slow
def test_the_hmdb51_notebook_runs_its_small_path(tmp_path, private_cache):
    """Split counts as generated, every video prepared with its frames kept, a top-1 in range
    that the saved report agrees with, and a model file that loads with HMDB51's classes."""
    import papermill

    from actionkit import EvalReport, load_model
    from actionkit.datasets.hmdb51 import make_hmdb51_like
    from actionkit.resources import hmdb51_classes
    from actionkit.train.history import read_history
    from actionkit.video import probe

    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK), str(out), kernel_name="python3", cwd=str(tmp_path), parameters=SMALL,
        progress_bar=False,
    )  # fmt: skip
    text = _printed(out)

    defaults = inspect.signature(make_hmdb51_like).parameters
    classes = defaults["classes"].default
    n_train, n_test = defaults["train_per_class"].default, defaults["test_per_class"].default
    assert (
        f"split 1: {len(classes) * n_train} training videos, {len(classes) * n_test} test videos "
        f"in {len(classes)} classes (of 51)"
    ) in text
    assert f"per class: {n_train} training, {n_test} test" in text

    data = tmp_path / "data/hmdb51_generated"
    sources = sorted((data / "hmdb51_org").rglob("*.avi"))
    prepared = data / "hmdb51_org_128"
    assert len(sources) == len(classes) * (n_train + n_test)
    copies = [prepared / p.relative_to(data / "hmdb51_org").with_suffix(".mp4") for p in sources]
    assert sorted(prepared.rglob("*.mp4")) == copies
    source, copy = probe(sources[0]), probe(copies[0])
    assert (source.codec, copy.codec) == ("mpeg4", "h264")
    assert copy.num_frames == source.num_frames
    assert f"converted {len(sources)}, skipped 0" in text and "failed 0" in text

    run = tmp_path / "runs/hmdb51_generated"
    top1 = float(re.search(r"^top-1\s+([\d.]+) %", text, re.MULTILINE).group(1))
    assert 0.0 <= top1 <= 100.0
    report = EvalReport.load(run / "report.json")
    assert report.num_videos == len(classes) * n_test
    assert report.settings["num_clips"] == 10
    assert top1 == pytest.approx(100 * report.top1, abs=0.005)
    assert len(read_history(run / "history.csv")) == 1
    assert (run / "confusion.png").stat().st_size > 0 and (run / "curves.png").stat().st_size > 0

    model = load_model(run / "model.pt")
    assert list(model.classes) == list(hmdb51_classes())
    assert model.input_spec.crop_size == 32
