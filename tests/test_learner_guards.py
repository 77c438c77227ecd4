"""What the learner refuses, warns about and shows: a run's files, one class, an empty split,
upscaled videos, the OpenMP wait policy, and the lines a script or notebook sees."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from actionkit.data import VideoDataset
from actionkit.evaluation.metrics import compute_report
from actionkit.train.learner import Learner
from actionkit.train.workflow import RunResult
from tests._tiny import SGD, make_bright_dark, tiny_model


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return make_bright_dark(tmp_path_factory.mktemp("guards"), per_class=4, frames=8)


def _learner(clips, out, **settings):
    model = tiny_model()
    data = VideoDataset.from_folder(clips, spec=model.input_spec)
    train, val = data.split(val_fraction=0.25, seed=0)
    settings = {**SGD, "batch_size": 4, "workers": 0, "lr": 0.02, "epochs": 1, **settings}
    return Learner(model, train, val, out_dir=out, progress=False, **settings)


def test_a_new_run_over_another_runs_files_is_refused(clips, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "model.pt").write_bytes(b"fifteen epochs of someone's work")
    with pytest.raises(FileExistsError, match=r"already holds a training run \(model.pt\)"):
        _learner(clips, out).fit()
    assert (out / "model.pt").read_bytes() == b"fifteen epochs of someone's work"


@pytest.mark.slow
def test_overwrite_replaces_and_a_learners_second_fit_is_its_own(clips, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "best_model.pt").write_bytes(b"old")
    learner = _learner(clips, out)
    learner.fit(overwrite=True)
    assert (out / "model.pt").exists() and (out / "best_model.pt").read_bytes() != b"old"
    learner.fit(1)  # the same learner going on: not refused, its history goes on
    assert [row["epoch"] for row in learner.history] == [1, 2]


def test_one_class_is_refused(clips, tmp_path):
    model = tiny_model(num_classes=1)
    data = VideoDataset.from_folder(clips, classes=["bright"], spec=model.input_spec)
    with pytest.raises(ValueError, match=r"1 class \('bright'\).*at least two.*background"):
        Learner(model, data, progress=False)


def test_a_split_without_validation_videos_is_refused_with_the_counts(clips):
    data = VideoDataset.from_folder(clips)
    with pytest.raises(ValueError, match=r"holds out no video.*bright 4, dark 4.*>= 0.13"):
        data.split(val_fraction=0.01)
    train, val = data.split(val_fraction=0.13)  # the fraction it suggests holds one out
    assert len(val) == 2 and len(train) == 6


def test_upscaled_videos_are_warned_about(clips, caplog):
    caplog.set_level(logging.WARNING, logger="actionkit")
    _learner(clips, None).fit()  # 24-px videos resized to the model's 36
    assert any("upscaled 1.5x" in r.getMessage() for r in caplog.records)
    caplog.clear()
    model = tiny_model()
    model.input_spec = model.input_spec.replace(crop_size=20, resize=24)
    data = VideoDataset.from_folder(clips, spec=model.input_spec)
    train, val = data.split(val_fraction=0.25)
    Learner(model, train, val, progress=False, workers=0, epochs=1, batch_size=4).fit()
    assert not any("upscaled" in r.getMessage() for r in caplog.records)


def test_the_summary_shows_top5_only_with_more_than_five_classes():
    scores = np.eye(3)[[0, 1, 2, 0]]
    report = compute_report(scores, np.array([0, 1, 2, 1]), ["a", "b", "c"])
    text = RunResult(None, None, report).summary()
    assert "top-1 75.0%" in text and "top-5" not in text


ROOT = Path(__file__).resolve().parents[1]
SCRIPT = """
import actionkit, os, sys
from actionkit import Learner, VideoDataset
sys.path.insert(0, {root!r})
from tests._tiny import tiny_model
model = tiny_model()
data = VideoDataset.from_folder({clips!r}, spec=model.input_spec)
train, val = data.split(val_fraction=0.25, seed=0)
Learner(model, train, val, workers=0, epochs=2, batch_size=2).fit()
print(os.environ["OMP_WAIT_POLICY"])
"""


@pytest.mark.slow
def test_a_script_sees_the_settings_and_one_line_per_epoch_and_no_bar_in_a_log(clips, tmp_path):
    """A plain script (no logging set up) whose stderr goes to a file: the settings and each
    epoch's metrics are there, the batch bars are not (each refresh would be one more line)."""
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(SCRIPT.format(root=str(ROOT), clips=str(clips))))
    env = {k: v for k, v in __import__("os").environ.items() if k != "OMP_WAIT_POLICY"}
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "PASSIVE"  # import actionkit set the wait policy
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("settings: optimizer=adamw lr=0.002 backbone_lr_mult=1.0")
    assert "2d-imagenet-adamw recipe" in lines[0]
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in epochs] == ["epoch 1", "epoch 2"]
    assert "train_loss" in epochs[0] and "val_top1" in epochs[1]
    assert not any("batch/s" in line or "s/batch" in line for line in lines)  # no bars
    # The evaluation bars of validation are not drawn into the log either.
    assert len(lines) <= 6, result.stderr


def test_torch_imported_first_is_named_once():
    code = (
        "import logging, torch; logging.basicConfig(); "
        "from actionkit.utils.threads import ensure_passive_omp as e; print(e(), e())"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "OMP_WAIT_POLICY"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.stdout.split() == ["False", "False"]
    assert result.stderr.count("torch was imported before actionkit") == 1
    env["OMP_WAIT_POLICY"] = "PASSIVE"  # set by the user: nothing to say
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.stdout.split() == ["True", "True"] and "before actionkit" not in result.stderr
