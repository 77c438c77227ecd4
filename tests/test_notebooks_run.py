"""The tutorial notebooks 01, 04 and 10 run top to bottom with papermill on small parameters, and
what they report is checked from the executed notebook: the numbers, the files, the figures."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import nbformat
import pytest

from tests.conftest import find_shared_data

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def run_notebook(name: str, tmp_path: Path, **parameters) -> nbformat.NotebookNode:
    """Execute ``notebooks/<name>`` in ``tmp_path`` and return the executed notebook."""
    import papermill

    out = tmp_path / f"executed_{name}"
    papermill.execute_notebook(
        str(NOTEBOOKS / name), str(out), kernel_name="python3", cwd=str(tmp_path),
        parameters=parameters, progress_bar=False,
    )  # fmt: skip
    return nbformat.read(out, as_version=4)


def cell(nb: nbformat.NotebookNode, snippet: str) -> nbformat.NotebookNode:
    """The one code cell whose source holds ``snippet``."""
    (found,) = [c for c in nb.cells if c.cell_type == "code" and snippet in c.source]
    return found


def text(cell_or_nb: nbformat.NotebookNode) -> str:
    """Everything printed by a cell (or by every cell of a notebook)."""
    cells = cell_or_nb.cells if "cells" in cell_or_nb else [cell_or_nb]
    return "".join(o.get("text", "") for c in cells for o in c.get("outputs", []))


def pngs(cell: nbformat.NotebookNode) -> int:
    """Figures a cell displayed."""
    return sum("image/png" in o.get("data", {}) for o in cell.get("outputs", []))


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))


def percent(pattern: str, printed: str) -> float:
    value = float(re.search(pattern, printed, re.MULTILINE).group(1))
    assert 0.0 <= value <= 100.0
    return value


@pytest.mark.slow
def test_the_training_introduction_trains_evaluates_predicts_and_reloads(tmp_path):
    from actionkit.evaluation import EvalReport
    from actionkit.ui.plots import read_history

    nb = run_notebook(
        "01_training_introduction.ipynb", tmp_path,
        VIDEOS_PER_CLASS=3, CROP_SIZE=32, EPOCHS=1, NUM_CLIPS=2,
    )  # fmt: skip
    assert re.search(r"^tsm_efficientnet_lite0\s+ImageNet.*offline$", text(nb), re.MULTILINE)
    assert "train: VideoDataset(12 videos, 6 classes" in text(nb)  # 3 a class, a quarter held out
    run = tmp_path / "runs/intro"
    assert len(read_history(run / "history.csv")) == 1
    report = EvalReport.load(run / "report.json")
    assert report.num_videos == 6 and report.settings["num_clips"] == 2
    evaluation = cell(nb, "evaluate(model, val")
    assert percent(r"^top-1\s+([\d.]+) %", text(evaluation)) == pytest.approx(
        100 * report.top1, abs=0.006
    )
    assert pngs(cell(nb, "show_batch")) == 1
    assert pngs(cell(nb, "plot_history")) == 1
    assert pngs(evaluation) == 2  # the confusion matrix and the misclassified videos
    timeline = cell(nb, "predict_timeline")
    assert pngs(timeline) == 1
    truth = [
        (round(float(row["start"]), 1), round(float(row["end"]), 1), row["label"])
        for row in read_csv(tmp_path / "data/sample_long/ground_truth.csv")
    ]
    assert f"true:      {truth}" in text(timeline)
    assert "same prediction after loading: True" in text(nb)


@pytest.mark.slow
def test_the_evaluation_notebook_compares_protocols_and_draws_the_true_segments(tmp_path):
    from actionkit.datasets.sample import SAMPLE_CLASSES
    from actionkit.evaluation import EvalReport
    from actionkit.models import save_model
    from tests._tiny import tiny_model

    model = tiny_model(num_classes=len(SAMPLE_CLASSES))
    model.classes = list(SAMPLE_CLASSES)
    model_path = save_model(model, tmp_path / "runs/tiny/model.pt")
    nb = run_notebook(
        "04_evaluation.ipynb", tmp_path, MODEL_PATH=str(model_path), TRAIN_IF_MISSING=False,
        TEST_VIDEOS_PER_CLASS=2, NUM_CLIPS=3,
    )  # fmt: skip
    report = EvalReport.load(tmp_path / "runs/tiny/heldout_report.json")
    assert report.num_videos == 12  # 2 generated held-out videos of each of the 6 classes
    first = cell(nb, "report = evaluate(")
    assert percent(r"^top-1\s+([\d.]+) %", text(first)) == pytest.approx(
        100 * report.top1, abs=0.006
    )
    assert "most confused (true → predicted: videos)" in text(first)
    assert pngs(first) == 1
    rows = re.findall(r"^(centre|three-crop)\s+(\d+)\s+([\d.]+)%\s+([\d.]+)$", text(nb), re.M)
    assert [(crop, int(clips)) for crop, clips, *_ in rows] == [
        ("centre", 1), ("centre", 3), ("three-crop", 1), ("three-crop", 3),
    ]  # fmt: skip
    assert all(0 <= float(top1) <= 100 for *_, top1, _ in rows)
    assert float(rows[1][2]) == pytest.approx(100 * report.top1, abs=0.01)  # same protocol
    timeline = cell(nb, "predict_timeline")
    assert pngs(timeline) == 1
    truth = read_csv(tmp_path / "data/untrimmed_eval/ground_truth.csv")
    assert f"{len(truth)} true segments drawn" in text(timeline)
    assert text(timeline).count("  true ") == len(truth) == 4


@pytest.mark.slow
def test_the_video_transformation_notebook_draws_every_transform(tmp_path):
    from actionkit.data import sampling
    from actionkit.video import open_video

    shared = find_shared_data()
    video = str(shared / "videos/h264_340x256_30fps.mp4") if shared else ""
    nb = run_notebook(
        "10_video_transformation.ipynb", tmp_path, VIDEO_PATH=video, NUM_FRAMES=8, DRAWS=3
    )
    printed = text(nb)
    source = re.search(r"^source: (.+)$", printed, re.M).group(1)
    assert source == (video or "data/sample/moving_left/moving_left_000.mp4")
    with open_video(tmp_path / source) as reader:
        num_frames = len(reader)
    tsn = sampling.segment_frames(num_frames, 8, train=False).indices
    assert f"TSN test frames: {tsn.tolist()}" in printed
    assert "train preset output: (3, 8, 112, 112) torch.float32" in printed
    assert "one box for all 8 frames" in printed
    one_figure = (
        "RandomResizedCrop(", "MultiScaleCrop(CROP", "RandomCrop(CROP", "show_same_crop(",
        "RandomHorizontalFlip", "ColorJitter(", "show_normalization(", "clip_frames(",
    )  # fmt: skip
    for snippet in one_figure:
        assert pngs(cell(nb, snippet)) == 1, snippet
    assert pngs(cell(nb, "ThreeCrop(CROP")) == 2  # the centre crop and the three crops
    assert pngs(cell(nb, "plot_sampling(")) == 2  # the time axis and the frames TSN reads
    figures = sum(pngs(c) for c in nb.cells if c.cell_type == "code")
    assert figures == 14
