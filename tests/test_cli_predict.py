"""`actionkit predict` and `actionkit check` as a user runs them: streams, exit statuses, short
videos and list files (issue 9). A real tiny model file, real generated videos, the real decoder."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from actionkit import cli
from actionkit.models import save_model
from actionkit.video import write_video
from tests._tiny import tiny_model
from tests.test_cli import one_error_line


def _jpeg(path: Path) -> Path:
    buffer = io.BytesIO()
    Image.fromarray(np.full((48, 64, 3), 128, np.uint8)).save(buffer, format="JPEG")
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """A saved 4-segment model, a 20-frame video, a JPEG renamed .mp4 and a 2-frame video."""
    root = tmp_path_factory.mktemp("predict")
    frames = np.random.default_rng(0).integers(0, 255, (20, 36, 48, 3), dtype=np.uint8)
    return {
        "model": save_model(tiny_model(pretrained=True), root / "model.pt"),
        "video": write_video(root / "good.mp4", frames, fps=10),
        "photo": _jpeg(root / "photo.mp4"),
        "two": write_video(root / "two.mp4", frames[:2], fps=10),
        "root": root,
    }


def run(capsys, *args) -> tuple[int, str, str]:
    status = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def test_results_go_to_stdout_errors_to_stderr_and_a_failure_exits_1(files, capsys):
    missing = files["root"] / "missing.mp4"
    status, out, err = run(capsys, "predict", files["model"], files["video"], missing, "--clips", 2)
    assert status == 1
    assert out.startswith(f"{files['video']}: ") and len(out.splitlines()) == 1
    assert str(missing) not in out
    assert one_error_line(err).endswith(f"cannot read video {missing}: no such file")


@pytest.mark.parametrize("short", ["photo", "two"])
def test_a_still_image_or_too_few_frames_is_warned_about(files, capsys, short):
    path = files[short]
    status, out, err = run(capsys, "predict", files["model"], path, "--clips", 1)
    assert status == 0 and out.startswith(f"{path}: ")
    what = "a still image (1 frame)" if short == "photo" else "only 2 frames"
    assert err.strip() == (
        f"actionkit: warning: {path}: {what}, fewer than the 4 frames one clip of the model "
        "reads; frames are repeated to fill it, so its scores mean little"
    )


def test_on_short_error_fails_the_video_and_ignore_is_quiet(files, capsys):
    args = ("predict", files["model"], files["photo"], files["video"], "--clips", 1)
    status, out, err = run(capsys, *args, "--on-short", "error")
    assert status == 1
    assert out.startswith(f"{files['video']}: ") and str(files["photo"]) not in out
    assert "a still image (1 frame)" in one_error_line(err)
    status, out, err = run(capsys, *args, "--on-short", "ignore")
    assert status == 0 and len(out.splitlines()) == 2 and err == ""


def test_the_timeline_warns_about_a_still_image_too(files, capsys, tmp_path):
    target = tmp_path / "photo.csv"
    status, out, err = run(capsys, "predict", files["model"], files["photo"], "--timeline", target)
    assert status == 0 and target.is_file() and f"timeline: {target}" in out
    assert "a still image (1 frame)" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("photo", "video"), "is not an actionkit model file"),  # MODEL_FILE is a JPEG
        (("model", "video", "two", "--timeline", "video"), "must be a folder"),
    ],
)
def test_unusable_predict_arguments_exit_2(files, capsys, args, message):
    status, out, err = run(capsys, "predict", *(str(files.get(a, a)) for a in args))
    assert status == 2 and out == ""
    assert message in one_error_line(err)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (("--on-short", "maybe"), "--on-short: invalid choice: 'maybe'"),
        (("--batch-size", "0"), "--batch-size: 0 must be at least 1"),
    ],
)
def test_bad_predict_options_exit_2(capsys, option, message):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["predict", "m.pt", "v.mp4", *option])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: actionkit predict") and message in err


def test_check_accepts_the_list_files_train_accepts(files, capsys, tmp_path):
    root = files["root"]
    (tmp_path / "list.txt").write_text(f"{root / 'good.mp4'} run\n{root / 'two.mp4'} walk\n")
    (tmp_path / "list.csv").write_text(f"path,label\n{root / 'good.mp4'},run\n")
    for listing, count in ((tmp_path / "list.txt", 2), (tmp_path / "list.csv", 1)):
        status, out, err = run(capsys, "check", listing, "--workers", 1)
        assert status == 0, err
        assert out.startswith(f"{count} videos checked: {count} readable, 0 unreadable")
    (tmp_path / "bad.txt").write_text("just-one-field\n")
    status, out, err = run(capsys, "check", tmp_path / "bad.txt")
    assert status == 2 and "bad.txt" in one_error_line(err)
    status, out, err = run(capsys, "check", tmp_path / "nowhere")
    assert status == 2 and "neither a dataset folder nor a list file" in one_error_line(err)


def test_check_counts_a_0_byte_file_as_empty_and_a_photo_as_a_still(files, capsys, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "zero.mp4").write_bytes(b"")
    _jpeg(tmp_path / "a" / "photo.mp4")
    write_video(tmp_path / "a" / "ok.mp4", np.zeros((40, 32, 32, 3), np.uint8), fps=10)
    status, out, _ = run(capsys, "check", tmp_path)
    assert status == 1
    first, *listed = out.strip().splitlines()
    assert first.startswith("3 videos checked: 1 readable, 0 unreadable, 1 empty, 1 still image")
    assert sorted(line.split()[0] for line in listed) == ["empty", "still"]


def test_python_m_runs_the_command_with_separate_streams(files):
    # `python -m actionkit.cli` (and the console script) end with a fast exit after flushing:
    # everything written must still arrive, on the right stream.
    missing = files["root"] / "missing.mp4"
    result = subprocess.run(
        [sys.executable, "-m", "actionkit.cli", "predict", str(files["model"]),
         str(files["video"]), str(missing), "--clips", "1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith(f"{files['video']}: ") and str(missing) not in result.stdout
    assert one_error_line(result.stderr).endswith(f"{missing}: no such file")
