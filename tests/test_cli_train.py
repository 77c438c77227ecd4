"""`actionkit train / evaluate / predict / models / demo`, run as a user runs them."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys

import pytest
import torch
from PIL import Image

from actionkit import cli
from actionkit.evaluation.metrics import EvalReport
from actionkit.models import list_models, load_model
from tests._tiny import make_bright_dark, tiny_model
from tests.test_cli import actionkit_cmd, one_error_line

# Every test using the `trained` run goes to one xdist worker, so that it trains once.
pytestmark = pytest.mark.xdist_group("cli_train")

TINY = ("--model", "tsm_efficientnet_lite0", "--segments", 4, "--crop-size", 32, "--workers", 0)
#: The settings the training tests were tuned with (SGD; TSM's own recipe is tested elsewhere).
SGD_FLAGS = (
    "--optimizer",
    "sgd",
    "--backbone-lr-mult",
    0.1,
    "--momentum",
    0.95,
    "--no-channels-last",
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """One real training run through the command, shared by the tests below."""
    root = tmp_path_factory.mktemp("cli_train")
    data = make_bright_dark(root / "my clips", per_class=6)
    test = make_bright_dark(root / "test clips", per_class=3, seed=5)
    run = root / "run"
    result = actionkit_cmd(
        "train", data, *TINY, *SGD_FLAGS, "--epochs", 3, "--lr", 0.02, "--batch-size", 4,
        "--val-fraction", 0.34, "--eval-clips", 2, "--out", run,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return {"data": data, "test": test, "run": run, "output": result.stdout}


@pytest.mark.slow
def test_train_writes_the_model_the_report_and_the_figures(trained):
    run = trained["run"]
    for name in ("model.pt", "checkpoint.pt", "history.csv", "report.json", "report.txt"):
        assert (run / name).stat().st_size > 0, name
    for name in ("confusion.png", "curves.png"):
        assert Image.open(run / name).size[0] > 200
    report = EvalReport.load(run / "report.json")
    assert report.num_videos == 4 and report.classes == ["bright", "dark"]
    assert report.settings["num_clips"] == 2
    with open(run / "history.csv", newline="") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["1", "2", "3"]
    model = load_model(run / "model.pt")
    assert model.classes == ["bright", "dark"] and model.input_spec.crop_size == 32
    assert model.input_spec.num_segments == 4
    assert f"top-1 {report.top1:.1%}" in trained["output"]
    assert str(run / "report.json") in trained["output"]


@pytest.mark.slow
def test_train_resume_of_a_finished_run_keeps_it(trained):
    run = trained["run"]
    before = (run / "history.csv").read_text()
    result = actionkit_cmd(
        "train", trained["data"], *TINY, *SGD_FLAGS, "--epochs", 3, "--lr", 0.02,
        "--batch-size", 4, "--val-fraction", 0.34, "--eval-clips", 2, "--out", run, "--resume",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (run / "history.csv").read_text() == before


@pytest.mark.slow
def test_train_from_an_earlier_model_with_every_setting_from_the_command_line(trained, tmp_path):
    earlier = trained["run"] / "model.pt"
    settings = {
        "epochs": 1, "lr": 1e-12, "backbone_lr_mult": 0.5, "optimizer": "adamw",
        "momentum": 0.8, "weight_decay": 0.0, "schedule": "constant", "warmup": 0.0,
        "batch_size": 3, "accumulate": 2, "label_smoothing": 0.1, "clip_grad_norm": 1.0,
        "freeze_epochs": 1, "mixed_precision": "no", "channels_last": True, "workers": 0,
        "val_every": 1, "early_stopping": 3, "seed": 7, "cpu": True,
    }  # fmt: skip
    flags = []
    for name, value in settings.items():
        flag = "--" + name.replace("_", "-")
        flags += [flag] if value is True else [flag, value]
    run = tmp_path / "again"
    result = actionkit_cmd(
        "train", trained["data"], *TINY, *flags, "--weights", earlier, "--eval-clips", 1,
        "--out", run,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    model, extra = load_model(run / "model.pt", return_extra=True)
    assert extra["config"] == settings  # every option reached the training settings

    # The frozen epoch at lr 1e-12 kept the earlier run's backbone (BatchNorm statistics too),
    # which is not ImageNet's: the weights came from --weights.
    def backbone(m) -> dict:
        return {k: v for k, v in m.state_dict().items() if not k.startswith("fc.")}

    mine, earlier_backbone = backbone(model), backbone(load_model(earlier))
    assert all(torch.equal(mine[k], earlier_backbone[k]) for k in earlier_backbone)
    imagenet = backbone(tiny_model())
    assert any(not torch.equal(mine[k], imagenet[k]) for k in imagenet)


def test_train_names_missing_weights(tmp_path, capsys):
    data = make_bright_dark(tmp_path / "clips", per_class=2)
    missing = tmp_path / "nowhere.pth"
    args = ["train", str(data), *map(str, TINY), "--weights", str(missing), "--out", str(tmp_path)]
    assert cli.main(args) == 1
    assert str(missing) in one_error_line(capsys.readouterr().err)


@pytest.mark.slow
def test_evaluate_a_saved_model_on_other_videos(trained, tmp_path):
    out = tmp_path / "eval"
    result = actionkit_cmd(
        "evaluate", trained["run"] / "model.pt", trained["test"], "--clips", 2, "--workers", 0,
        "--out", out,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = EvalReport.load(out / "report.json")
    assert report.num_videos == 6 and report.confusion.sum() == 6
    assert "mean class accuracy" in result.stdout and "bright" in result.stdout
    assert Image.open(out / "confusion.png").size[0] > 100


def test_evaluate_rejects_data_with_other_classes(trained, tmp_path):
    other = make_bright_dark(tmp_path / "other", per_class=1)
    (other / "dark").rename(other / "dim")
    result = actionkit_cmd("evaluate", trained["run"] / "model.pt", other, "--workers", 0)
    assert result.returncode == 2
    line = one_error_line(result.stderr)
    assert "classes the model does not know: dim" in line and "Traceback" not in result.stderr


@pytest.mark.slow
def test_predict_prints_top_classes_and_names_a_bad_file(trained, tmp_path):
    videos = sorted((trained["test"] / "bright").glob("*.mp4"))[:1]
    videos += sorted((trained["test"] / "dark").glob("*.mp4"))[:1]
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    result = actionkit_cmd("predict", trained["run"] / "model.pt", *videos, bad, "--top-k", 2)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    for video in videos:
        line = next(line for line in lines if line.startswith(str(video)))
        assert "bright" in line and "dark" in line  # both classes, with scores
    assert "bad.mp4" not in result.stdout  # results on stdout, the error on stderr
    assert any("bad.mp4" in line for line in result.stderr.splitlines())
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.slow
def test_predict_timeline_writes_csv(trained, tmp_path):
    video = sorted((trained["test"] / "dark").glob("*.mp4"))[0]
    target = tmp_path / "timeline.csv"
    result = actionkit_cmd(
        "predict", trained["run"] / "model.pt", video, "--timeline", target,
        "--window", 0.5, "--stride", 0.25,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with open(target, newline="") as f:
        rows = list(csv.DictReader(f))
    # 12 frames at 12 fps = 1 s: windows at 0, 0.25, 0.5.
    assert [float(r["start"]) for r in rows] == [0.0, 0.25, 0.5]
    assert set(rows[0]) >= {"start", "end", "top_label", "top_score", "bright", "dark"}
    assert str(target) in result.stdout


def test_models_lists_every_name_and_filters(capsys):
    assert cli.main(["models"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == list_models()
    assert cli.main(["models", "r2plus1d_34_*"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == list_models("r2plus1d_34_*")
    assert len(out.splitlines()) == 4
    assert cli.main(["models", "nothing*"]) == 2
    assert "no model matches 'nothing*'" in capsys.readouterr().err


def test_train_segments_and_clip_len_go_to_the_right_models(trained, tmp_path, capsys):
    assert load_model(trained["run"] / "model.pt").input_spec.num_segments == 4  # --segments
    data = make_bright_dark(tmp_path / "d", per_class=1)
    out = str(tmp_path / "r")
    args = ["train", str(data), "--out", out, "--workers", "0", "--scratch"]
    assert cli.main([*args, "--model", "r3d_18", "--segments", "8"]) == 1
    assert "r3d_18 reads clips, not TSN segments" in one_error_line(capsys.readouterr().err)
    assert cli.main([*args, "--model", "tsm_resnet18", "--clip-len", "8"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "tsm_resnet18 reads one frame per TSN segment" in line and "segments" in line
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
    with pytest.raises(SystemExit) as exit_:
        cli.main([*args, "--model", "r3d_18", "--frames", "8"])
    assert exit_.value.code == 2
    assert "--frames was split in two: --clip-len" in capsys.readouterr().err


def test_train_on_a_missing_folder_is_a_usage_error(tmp_path, capsys):
    args = ["train", str(tmp_path / "nope"), "--model", "r2plus1d_18", "--out", str(tmp_path)]
    assert cli.main(args) == 2
    assert "nope does not exist" in one_error_line(capsys.readouterr().err)


def test_train_with_an_unknown_model_names_close_ones(tmp_path, capsys):
    data = make_bright_dark(tmp_path / "d", per_class=1)
    args = ["train", str(data), "--model", "tsm_efficientnet", "--out", str(tmp_path / "r")]
    assert cli.main(args) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "Unknown model 'tsm_efficientnet'" in line and "tsm_efficientnet_lite0" in line


@pytest.mark.slow
def test_demo_fine_tunes_on_the_sample_set(tmp_path):
    out = tmp_path / "demo"
    result = actionkit_cmd("demo", "--out", out, "--epochs", 1, "--workers", 0)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["num_videos"] == 36 and len(report["classes"]) == 6
    assert report["settings"]["num_clips"] == 10
    model = load_model(out / "model.pt")
    assert model.arch == "tsm_efficientnet_lite0" and model.input_spec.crop_size == 96
    for name in ("confusion.png", "curves.png", "history.csv"):
        assert (out / name).exists()
    assert "held-out videos: 36" in result.stdout and str(out / "model.pt") in result.stdout


@pytest.mark.slow
def test_train_into_an_existing_run_is_refused_and_resume_extends_it(trained, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained["run"], run)
    files = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    again = (
        "train", trained["data"], *TINY, *SGD_FLAGS, "--epochs", 3, "--lr", 0.02,
        "--batch-size", 4, "--val-fraction", 0.34, "--eval-clips", 2, "--out", run,
    )  # fmt: skip
    refused = actionkit_cmd(*again)
    assert refused.returncode == 2
    line = one_error_line(refused.stderr)
    assert "already holds a training run" in line and "--resume" in line and "--overwrite" in line
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == files  # untouched

    other = actionkit_cmd(*again, "--resume", "--lr", 0.5)
    assert other.returncode == 2
    assert "--lr 0.5 (the run's: 0.02)" in one_error_line(other.stderr)

    longer = actionkit_cmd(*again[:-2], "--out", run, "--resume", "--epochs", 5)
    assert longer.returncode == 0, longer.stderr
    with open(run / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["epoch"] for row in rows] == ["1", "2", "3", "4", "5"]
    before = files["history.csv"].decode().splitlines()
    assert (run / "history.csv").read_text().splitlines()[: len(before)] == before
    assert "extending the finished 3-epoch run" in longer.stderr
    # The extra epochs warm up and decay again: the rate rose from the end of the first run.
    assert float(rows[3]["lr"]) > float(rows[2]["lr"])
    _, extra = load_model(run / "model.pt", return_extra=True)
    assert len(extra["history"]) == 5

    shorter = actionkit_cmd(*again[:-2], "--out", run, "--resume", "--epochs", 4)
    assert shorter.returncode == 2  # refused before any work
    assert "has finished 5 epochs; --epochs 4 must be more" in one_error_line(shorter.stderr)


def test_train_option_errors_name_the_option_before_torch_loads(tmp_path):
    data = make_bright_dark(tmp_path / "clips", per_class=2)
    code = (
        "import sys; from actionkit.cli import main; "
        f"rc = main(['train', {str(data)!r}, '--model', 'tsm_efficientnet_lite0', "
        f"'--out', {str(tmp_path / 'run')!r}, '--momentum', '1.5']); "
        "print(rc, 'torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["2", "False"], result.stderr
    line = one_error_line(result.stderr)
    assert "--momentum 1.5 must be in [0, 1)" in line and "momentum=" not in line


def test_train_refuses_one_class_before_training(tmp_path):
    data = make_bright_dark(tmp_path / "clips", per_class=2)
    shutil.rmtree(data / "dark")
    result = actionkit_cmd("train", data, *TINY, "--out", tmp_path / "run")
    assert result.returncode == 2
    assert "has 1 class (bright)" in one_error_line(result.stderr)
    assert not (tmp_path / "run").exists()


def test_train_refuses_a_split_without_validation_videos(tmp_path):
    data = make_bright_dark(tmp_path / "clips", per_class=3)
    result = actionkit_cmd("train", data, *TINY, "--val-fraction", 0.01, "--out", tmp_path / "r")
    assert result.returncode == 1
    line = one_error_line(result.stderr)
    assert "holds out no video" in line and "bright 3, dark 3" in line
    assert "val_fraction >= 0.17" in line  # round(3 * 0.17) = 1 video of each class
    assert not (tmp_path / "r" / "checkpoint.pt").exists()  # refused before any epoch
