"""The `actionkit` command, run for real through its console script."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import actionkit
from actionkit import cli
from actionkit.data.prepare import TEMP_SUFFIX
from actionkit.video import write_video

SCRIPT = Path(sys.executable).parent / "actionkit"
# The installed console script (`pip install -e .`); `python -m actionkit.cli` where it is missing.
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "actionkit.cli"]


def actionkit_cmd(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*COMMAND, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("actionkit: error: "), stderr
    return lines[0]


@pytest.fixture
def dataset(tmp_path) -> Path:
    root = tmp_path / "raw data"
    frames = np.random.default_rng(0).integers(0, 255, (6, 90, 160, 3), dtype=np.uint8)
    write_video(root / "wave/a.mp4", frames, 25)
    write_video(root / "clap/b.avi", frames[:4], 25, codec="mjpeg")
    (root / "classes.txt").write_text("clap\nwave\n")
    return root


def test_console_script_is_installed():
    if not SCRIPT.exists():
        pytest.skip("console script not installed (run `pip install -e .`)")
    result = actionkit_cmd("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"actionkit {actionkit.__version__}"


def test_prepare_then_rerun(dataset, tmp_path):
    dst = tmp_path / "small"
    result = actionkit_cmd("prepare", dataset, dst, "--short-side", 64, "--workers", 2)
    assert result.returncode == 0, result.stderr
    assert "converted 2, skipped 0 (up to date), copied 1, failed 0" in result.stdout
    assert "size: " in result.stdout and f"prepared dataset: {dst}" in result.stdout
    assert "Traceback" not in result.stderr
    assert sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_file()) == [
        ".actionkit-prepare.json",
        "clap/b.mp4",
        "classes.txt",
        "wave/a.mp4",
    ]
    again = actionkit_cmd("prepare", dataset, dst, "--short-side", 64)
    assert again.returncode == 0
    assert "converted 0, skipped 3 (up to date), copied 0, failed 0" in again.stdout


def test_prepare_with_a_bad_file_lists_it_and_exits_1(dataset, tmp_path):
    (dataset / "wave/broken.mp4").write_text("not a video")
    result = actionkit_cmd("prepare", dataset, tmp_path / "out", "--workers", 1)
    assert result.returncode == 1
    assert "converted 2" in result.stdout and "failed 1" in result.stdout
    assert "  wave/broken.mp4: not a video" in result.stdout
    assert "Traceback" not in result.stderr
    assert (tmp_path / "out/wave/a.mp4").exists()


def test_prepare_other_settings_on_the_same_folder_needs_overwrite(dataset, tmp_path):
    dst = tmp_path / "out"
    assert actionkit_cmd("prepare", dataset, dst, "--workers", 1).returncode == 0
    refused = actionkit_cmd("prepare", dataset, dst, "--gop", 4)
    assert refused.returncode == 1
    assert "gop=8 (now 4)" in one_error_line(refused.stderr)
    redone = actionkit_cmd("prepare", dataset, dst, "--gop", 4, "--overwrite", "--workers", 1)
    assert redone.returncode == 0 and "converted 2" in redone.stdout


def test_missing_source_is_one_line_without_traceback(tmp_path):
    result = actionkit_cmd("prepare", tmp_path / "nope", tmp_path / "out")
    assert result.returncode == 2
    assert "does not exist" in one_error_line(result.stderr)
    assert result.stdout == ""
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(tmp_path, where):
    args = ["prepare", tmp_path / "nope", tmp_path / "out"]
    args = ["--debug", *args] if where == "before" else [*args, "--debug"]
    result = actionkit_cmd(*args)
    assert result.returncode == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("actionkit: error: SRC")


def test_destination_inside_source_is_a_usage_error(dataset):
    result = actionkit_cmd("prepare", dataset, dataset / "prepared")
    assert result.returncode == 2
    assert "inside SRC" in one_error_line(result.stderr)
    assert not (dataset / "prepared").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "required: COMMAND"),
        (("prepare",), "required: SRC, DST"),
        (("prepare", "a", "b", "--crf", "99"), "--crf: 99 must be at least 0 and at most 51"),
        (("prepare", "a", "b", "--workers", "two"), "'two' is not a whole number"),
        (("prepare", "a", "b", "--fps", "0"), "--fps: 0.0 must be positive"),
        (("nonsense",), "invalid choice: 'nonsense'"),
    ],
)
def test_usage_errors_exit_2(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(list(args))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: actionkit")
    assert message in err
    assert "Traceback" not in err


def test_usage_error_through_the_script():
    result = actionkit_cmd("prepare", "--short-side", "-3", "a", "b")
    assert result.returncode == 2
    assert "--short-side: -3 must be at least 2" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "command",
    ["prepare", "sample-data", "check", "train", "evaluate", "predict", "models", "demo"],
)
def test_every_command_has_help_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: actionkit {command}" in out
    assert re.search(f"examples?:\n  actionkit {command}", out)


def test_top_level_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for command in ("prepare", "sample-data", "check", "train", "evaluate", "predict", "models"):
        assert command in out
    assert "examples:" in out


def test_unexpected_error_is_named_and_exits_1(monkeypatch, dataset, tmp_path, capsys):
    import actionkit.data.prepare

    def broken(*args, **kwargs):
        raise RuntimeError("something\ninside broke")

    monkeypatch.setattr(actionkit.data.prepare, "prepare_dataset", broken)
    assert cli.main(["prepare", str(dataset), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert one_error_line(err) == (
        "actionkit: error: RuntimeError: something inside broke (--debug shows the traceback)"
    )
    assert cli.main(["--debug", "prepare", str(dataset), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: something" in err


def test_interrupt_exits_130(monkeypatch, dataset, tmp_path, capsys):
    import actionkit.data.prepare

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(actionkit.data.prepare, "prepare_dataset", interrupted)
    assert cli.main(["prepare", str(dataset), str(tmp_path / "out")]) == 130
    assert capsys.readouterr().err == "actionkit: interrupted\n"


def test_check_of_a_missing_folder_is_a_usage_error(tmp_path, capsys):
    assert cli.main(["check", str(tmp_path / "nope")]) == 2
    assert "neither a dataset folder nor a list file" in one_error_line(capsys.readouterr().err)


@pytest.mark.slow
def test_ctrl_c_stops_at_once_and_leaves_no_partial_file(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    # Four 40 s clips of noise: cheap to write (once, then hard-linked) and slow to transcode:
    # about 23 s of CPU (11.5 s on two idle cores) after the first temporary file appears, so
    # the run cannot finish between that file showing and the signal, loaded or not. (The
    # resume below redoes that work: the price of the margin.)
    noise = np.random.default_rng(0).integers(0, 256, (16, 180, 320, 3), dtype=np.uint8)
    frames = (noise[t % len(noise)] for t in range(1000))
    first = write_video(src / "c0/v0.mp4", frames, 25, options={"preset": "ultrafast"})
    (src / "c1").mkdir()
    for i in range(1, 4):
        os.link(first, src / f"c{i % 2}/v{i}.mp4")
    proc = subprocess.Popen(
        [*COMMAND, "prepare", str(src), str(dst), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's Ctrl-C reaches it
    )
    deadline = time.monotonic() + 120
    while not list(dst.rglob(f".v*.mp4.*{TEMP_SUFFIX}")) and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0, (
        "the run finished before the Ctrl-C reached it: it lost the race its long inputs are "
        "meant to rule out (were they transcoded unusually fast?)"
    )
    assert proc.returncode == 130
    assert stderr.strip().splitlines()[-1] == "actionkit: interrupted"
    assert "Traceback" not in stderr
    assert not list(dst.rglob(f"*{TEMP_SUFFIX}"))
    # Whatever was finished is complete; the rest resumes.
    report = subprocess.run([*COMMAND, "prepare", str(src), str(dst)], capture_output=True)
    assert report.returncode == 0
    assert len(list(dst.rglob("*.mp4"))) == 4
