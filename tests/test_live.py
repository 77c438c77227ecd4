"""The live engine: newest frames only, bounded latency and memory, the same scores as predict,
events, and the `actionkit live` command on a file."""

from __future__ import annotations

import csv
import threading
import time
import tracemalloc

import numpy as np
import pytest
import torch

from actionkit.inference import predict
from actionkit.inference.events import EventTracker
from actionkit.inference.live import LivePredictor
from actionkit.models import save_model
from actionkit.video import open_video, write_video
from tests._tiny import tiny_model
from tests.test_cli import actionkit_cmd, one_error_line


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = tiny_model(num_classes=3)
    m.classes = ["bright", "dark", "grey"]
    return m.eval()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """3 s at 30 fps: dark for 1 s, bright for 2 s, with noise (48×32)."""
    rng = np.random.default_rng(0)
    levels = np.r_[np.full(30, 50), np.full(60, 200)]
    frames = np.clip(levels[:, None, None, None] + rng.integers(-20, 20, (90, 32, 48, 3)), 0, 255)
    path = tmp_path_factory.mktemp("live") / "clip.mp4"
    return write_video(path, frames.astype(np.uint8), fps=30)


def test_events_are_labels_held_long_enough():
    tracker = EventTracker(min_seconds=1.0)
    said = [("a", 0.0), ("a", 0.5), ("a", 1.2), ("b", 1.4), (None, 1.6), ("a", 2.0), ("a", 3.5)]
    events = [e for label, t in said if (e := tracker.update(label, 0.8, t)) is not None]
    assert [(e.label, e.start, e.end) for e in events] == [("a", 0.0, 1.4)]  # b: 0.2 s, too short
    last = tracker.close(3.5)
    assert (last.label, last.start, last.end, last.score) == ("a", 2.0, 3.5, 0.8)


def test_a_live_prediction_equals_predict_on_the_same_frames(model, clip):
    with LivePredictor(model, clip, realtime=False, top_k=3, runtime="torch") as live:
        results = list(live)
    assert results, "no prediction"
    frames_per = model.input_spec.frames_per_sample
    with open_video(clip) as reader:
        frames = reader.read(np.arange(len(reader)))
    for result in results[:: max(1, len(results) // 4)]:
        assert len(result.window) == frames_per
        assert list(np.diff(result.window)) == [live.stride] * (frames_per - 1)
        expected = predict(model, frames[list(result.window)], num_clips=1, top_k=3)
        np.testing.assert_allclose(result.raw, expected.probs, atol=1e-6)
    assert results[-1].frame_index == 89  # the end of the file is reached
    assert live.stats.frames_captured == 90


class _Slow(torch.nn.Module):
    """A real model that takes at least ``seconds`` per forward pass (10x too slow for 30 fps)."""

    def __init__(self, inner, seconds: float) -> None:
        super().__init__()
        self.inner, self.seconds = inner, seconds
        self.input_spec, self.classes = inner.input_spec, inner.classes

    @property
    def num_classes(self) -> int:
        return self.inner.num_classes

    def forward(self, x):
        time.sleep(self.seconds)
        return self.inner(x)


@pytest.mark.slow
def test_a_slow_model_makes_fewer_predictions_never_older_ones(model, clip):
    slow = _Slow(model, 0.7)  # the window (4 frames, 4 apart) moves on every 0.53 s
    tracemalloc.start()
    with LivePredictor(slow, clip, realtime=True, runtime="torch") as live:
        results, memory = [], []
        for result in live:
            results.append(result)
            memory.append(tracemalloc.get_traced_memory()[0])
    tracemalloc.stop()
    span = (model.input_spec.frames_per_sample - 1) * live.stride / 30
    assert 2 <= len(results) <= 6  # about one per 0.7 s over 3 s, not one per window
    # Each prediction is on frames captured just before it: the model's time and a little.
    assert max(r.latency for r in results) < 0.7 + 1.0
    assert max(r.frame_age for r in results) < span + 0.7 + 1.0
    assert live.stats.frames_dropped > 0  # windows the slow model never saw
    assert len(live._ring) == (model.input_spec.frames_per_sample - 1) * live.stride + 1
    assert max(memory[len(memory) // 2 :]) < 2 * max(memory[: len(memory) // 2]) + 2**20


def test_pushed_frames_of_another_size_mid_stream(model):
    from actionkit.video.stream import PushSource

    source = PushSource()
    live = LivePredictor(model, source, stride=1, runtime="torch").start()
    got = []
    live.on_result(got.append)

    def push():
        for i in range(24):
            size = (32, 48) if i < 12 else (40, 64)
            source.put(np.full((*size, 3), 10 * i, np.uint8))
            time.sleep(0.02)
        source.close()

    threading.Thread(target=push).start()
    live.wait(30)
    live.stop()
    assert got and got[-1].frame.shape == (40, 64, 3)
    assert all(np.isfinite(r.scores).all() and r.scores.sum() == pytest.approx(1) for r in got)


@pytest.mark.slow
def test_the_onnx_runtime_gives_the_same_scores(model, clip):
    with LivePredictor(model, clip, realtime=False, runtime="onnx") as live:
        results = list(live)
    assert type(live.model).__name__ == "ExportedModel"
    with open_video(clip) as reader:
        frames = reader.read(np.arange(len(reader)))
    for result in results[:: max(1, len(results) // 3)]:
        expected = predict(model, frames[list(result.window)], num_clips=1)
        np.testing.assert_allclose(result.raw, expected.probs, atol=1e-5)


def test_options_are_checked(model, clip):
    with pytest.raises(ValueError, match=r"labels 'jump' are not classes.*bright, dark, grey"):
        LivePredictor(model, clip, labels=["jump"])
    with pytest.raises(ValueError, match="smoothing='median' is not one of mean, ema"):
        LivePredictor(model, clip, smoothing="median")
    with pytest.raises(ValueError, match="runtime='tensorrt' is not one of auto, torch, onnx"):
        LivePredictor(model, clip, runtime="tensorrt")


@pytest.mark.slow
def test_the_live_command_on_a_file_writes_the_annotated_video_and_events(model, clip, tmp_path):
    model_file = save_model(model, tmp_path / "model.pt")
    out, events = tmp_path / "annotated.mp4", tmp_path / "events.csv"
    result = actionkit_cmd(
        "live", model_file, "--source", clip, "--out", out, "--events", events,
        "--as-fast-as-possible", "--min-event", 0.1, "--smooth", 2,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with open_video(out) as reader, open_video(clip) as source:
        assert len(reader) == len(source)  # every source frame, annotated
        drawn, plain = reader.read([45])[0], source.read([45])[0]
    assert np.abs(drawn[:8].astype(int) - plain[:8]).max() > 100  # the label box is there
    rows = list(csv.DictReader(events.open()))
    assert rows and set(rows[0]) == {"label", "start", "end", "duration", "score"}
    assert all(float(r["duration"]) >= 0.1 for r in rows)
    printed = [line for line in result.stdout.splitlines() if line.startswith("event: ")]
    assert len(printed) == len(rows)
    assert "predictions/s" in result.stderr.splitlines()[-1]


def test_the_live_command_names_bad_options(model, clip, tmp_path):
    model_file = save_model(model, tmp_path / "model.pt")
    bad = actionkit_cmd("live", model_file, "--source", clip, "--labels", "jump")
    assert bad.returncode == 2 and "'jump' are not classes" in one_error_line(bad.stderr)
    nowhere = actionkit_cmd("live", model_file, "--source", clip, "--out", tmp_path / "x/a.mp4")
    assert nowhere.returncode == 2 and "does not exist" in one_error_line(nowhere.stderr)


@pytest.mark.slow
def test_ctrl_c_stops_the_live_command_with_its_files_whole(model, tmp_path, shared_videos):
    import signal
    import subprocess

    from tests.test_cli import COMMAND

    model_file = save_model(model, tmp_path / "model.pt")
    out, events = tmp_path / "annotated.mp4", tmp_path / "events.csv"
    source = shared_videos / "h264_340x256_30fps.mp4"  # 10 s, played at its own rate
    args = ["live", model_file, "--source", source, "--out", out, "--events", events,
            "--runtime", "torch", "--min-event", 0.1]  # fmt: skip
    process = subprocess.Popen(
        [*COMMAND, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".annotated.*")) and time.monotonic() < deadline:
        time.sleep(0.2)  # wait until the annotated video is being written
    time.sleep(2.0)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    with open_video(out) as reader:
        assert 10 < len(reader) < 300  # whole, and stopped before the end of the source
    assert events.read_text().startswith("label,start,end,duration,score")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["annotated.mp4", "events.csv", "model.pt"]
    assert "stats: capture" in stderr


def test_an_engine_followed_by_callbacks_alone_stops(model):
    """Nobody iterates: results beyond the iterator's queue are dropped, stop() returns."""

    def frames():
        for i in range(400):
            time.sleep(0.005)
            yield np.full((32, 48, 3), i % 256, np.uint8)

    got = []
    live = LivePredictor(model, frames(), stride=1, runtime="torch")
    live.on_result(got.append)
    live.start()
    assert live.wait(60)
    stopper = threading.Thread(target=live.stop)
    stopper.start()
    stopper.join(15)
    assert not stopper.is_alive()
    assert len(got) > 64 and live.stats.predictions == len(got)  # more than the queue holds


@pytest.mark.slow
def test_the_engine_on_an_http_stream_goes_on_after_the_server_restarts(model):
    from tests.test_stream import _mpegts, _StreamServer

    data = _mpegts(n=600)  # 20 s at 30 fps
    servers = [_StreamServer(data, seconds=20.0)]
    live = LivePredictor(model, servers[0].url, runtime="torch").start()
    try:
        deadline = time.monotonic() + 60
        while live.stats.predictions < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        before = live.stats.predictions
        assert before >= 5
        servers[0].stop()
        time.sleep(1.0)
        servers.append(_StreamServer(data, seconds=20.0, port=servers[0].port))
        while live.stats.reconnects == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        later = live.stats.predictions
        while live.stats.predictions < later + 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert live.stats.reconnects >= 1 and live.stats.predictions >= later + 5
        assert live.latest.latency < 2.0  # the newest frames, not a backlog
    finally:
        live.stop()
        for server in servers:
            server.stop()
