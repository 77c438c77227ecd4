"""The dataset commands, run as a user runs them (the installed command); the demo itself is
tested in test_cli_train.py."""

import shutil
from pathlib import Path

import pytest

from tests.test_cli import actionkit_cmd, one_error_line


@pytest.mark.slow
def test_sample_data_then_check(tmp_path):
    data = tmp_path / "sample data"
    made = actionkit_cmd("sample-data", data, "--videos-per-class", 4)
    assert made.returncode == 0, made.stderr
    classes = (data / "classes.txt").read_text().split()
    assert len(classes) == 6 and sorted(p.name for p in data.iterdir() if p.is_dir()) == classes
    assert all(len(list((data / c).glob("*.mp4"))) == 4 for c in classes)

    checked = actionkit_cmd("check", data)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "24 videos checked: 24 readable, 0 unreadable" in checked.stdout

    (data / classes[0] / "broken.mp4").write_text("not a video")
    checked = actionkit_cmd("check", data)
    assert checked.returncode == 1
    assert "unreadable" in checked.stdout and "broken.mp4" in checked.stdout

    (data / classes[0] / "broken.mp4").unlink()
    checked = actionkit_cmd("check", data)
    assert checked.returncode == 0


def test_check_names_a_file_that_is_not_a_video(tmp_path):
    data = tmp_path / "data"
    assert actionkit_cmd("sample-data", data, "--videos-per-class", 2).returncode == 0
    shutil.copy(Path(__file__), data / "growing" / "truncated.mp4")
    result = actionkit_cmd("check", data)
    assert result.returncode == 1 and "truncated.mp4" in result.stdout


def test_check_of_a_non_folder_is_one_line(tmp_path):
    result = actionkit_cmd("check", tmp_path / "nowhere")
    assert result.returncode == 2
    assert "nowhere" in one_error_line(result.stderr)
