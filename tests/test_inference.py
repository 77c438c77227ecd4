"""Single-video inference: real models, real (tiny, generated) videos, the real decoder."""

from __future__ import annotations

import csv
import logging
import math
import re
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

from actionkit.data import VideoDataset, presets, sampling
from actionkit.data.sources import Sample
from actionkit.inference import Prediction, predict
from actionkit.inference.predict import ShortVideoError, default_batch_size
from actionkit.inference.timeline import Timeline, predict_timeline
from actionkit.models import VideoClassifier, create_model
from actionkit.spec import InputSpec
from actionkit.video import VideoReadError, probe, read_frames, write_video

REAL_FILE = "h264_340x256_32frames.mp4"  # 32 frames, 340×256, 30 fps


# --------------------------------------------------------------------------------------------
# fixtures


class BrightnessModel(VideoClassifier):
    """Fixture model: "dark" or "bright" from the mean pixel value (threshold 0.5), any layout."""

    def __init__(self, layout: str = "CTHW") -> None:
        super().__init__()
        kchw = layout == "KCHW"
        self.input_spec = InputSpec(
            layout=layout,
            clip_len=1 if kchw else 4,
            num_segments=4 if kchw else 1,
            crop_size=16,
            resize=16,
            mean=(0.0, 0.0, 0.0),
            std=(1.0, 1.0, 1.0),
        )
        self.classes = ["dark", "bright"]
        self.fc = nn.Linear(1, 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[-20.0], [20.0]]))
            self.fc.bias.copy_(torch.tensor([10.0, -10.0]))

    def stages(self) -> list[tuple[str, nn.Module]]:
        return []

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1).mean(dim=1, keepdim=True)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return features if pre_logits else self.fc(features)

    def get_classifier(self) -> nn.Module:
        return self.fc


def textured(num_frames: int, height: int = 40, width: int = 48, seed: int = 0) -> np.ndarray:
    """Smooth moving colour patterns (compress well, differ from frame to frame)."""
    t = np.arange(num_frames)[:, None, None, None]
    y = np.arange(height)[None, :, None, None]
    x = np.arange(width)[None, None, :, None]
    phase = np.random.default_rng(seed).uniform(0, 2 * np.pi, size=3)
    wave = np.sin(0.3 * x + 0.2 * y + 0.5 * t + phase) + np.cos(0.15 * x - 0.4 * t + phase)
    return np.clip(128 + 60 * wave, 0, 255).astype(np.uint8)


def levels(values: list[int], frames_each: int, size: int = 16) -> np.ndarray:
    """Flat grey frames, ``frames_each`` of each level in ``values``."""
    per_frame = np.repeat(np.asarray(values, dtype=np.uint8), frames_each)
    return np.broadcast_to(per_frame[:, None, None, None], (len(per_frame), size, size, 3)).copy()


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    # Short side 40 == the models' resize below: decoding at resize is exact, no scaling.
    return write_video(tmp_path_factory.mktemp("inference") / "clip.mp4", textured(30), fps=10)


@pytest.fixture(scope="module")
def tsm() -> VideoClassifier:
    # The offline ImageNet backbone (installed package, no download). A randomly initialised
    # EfficientNet-Lite0 gives features of ~1e-11: every video would score exactly 1/3 each.
    torch.manual_seed(0)
    model = create_model("tsm_efficientnet_lite0", pretrained=True, num_classes=3, num_segments=4)
    nn.init.normal_(model.get_classifier().weight, std=0.1)  # scores that differ between clips
    model.input_spec = model.input_spec.replace(crop_size=32, resize=40)
    return model


@pytest.fixture(scope="module")
def r2p1d() -> VideoClassifier:
    torch.manual_seed(0)
    model = create_model("r2plus1d_18", pretrained=False, num_classes=3)
    model.input_spec = model.input_spec.replace(crop_size=16, resize=40, clip_len=4, frame_step=2)
    return model


@pytest.fixture(params=["tsm", "r2p1d"])
def model(request) -> VideoClassifier:
    return request.getfixturevalue(request.param)


def evaluation_probs(model: VideoClassifier, path: Path, num_clips: int) -> np.ndarray:
    """What evaluation computes: VideoDataset test items through the model, softmax averaged."""
    dataset = VideoDataset(
        [Sample(path, 0)], ["a", "b", "c"], spec=model.input_spec, train=False,
        num_clips=num_clips, strict=True,
    )  # fmt: skip
    clips = dataset[0]["video"]
    if clips.ndim == 4:  # one clip (segment layouts with num_clips=1): add the clip axis
        clips = clips[None]
    model.eval()
    with torch.no_grad():
        return torch.softmax(model(clips), dim=1).mean(dim=0).double().numpy()


def expected_starts(duration: float, window: float, stride: float) -> np.ndarray:
    """Windows every ``stride`` while they fit, then one ending at the end if the tail is left."""
    if duration < window:
        return np.zeros(1)
    starts = [0.0]
    while starts[-1] + stride + window <= duration + 1e-9:
        starts.append(starts[-1] + stride)
    if starts[-1] + window < duration - 1e-6:
        starts.append(duration - window)
    return np.array(starts)


def expected_window_count(duration: float, window: float, stride: float) -> int:
    return len(expected_starts(duration, window, stride))


# --------------------------------------------------------------------------------------------
# predict


@pytest.mark.parametrize("num_clips", [1, 3])
def test_predict_equals_evaluation(model, video, num_clips):
    model.train()  # predict must switch to eval itself, and put the mode back
    pred = predict(model, video, num_clips=num_clips)
    assert model.training
    np.testing.assert_allclose(pred.probs, evaluation_probs(model, video, num_clips), atol=1e-5)
    assert pred.probs.shape == (3,)
    assert np.ptp(pred.probs) > 0.01  # a model that scores every class the same tests nothing
    assert pred.probs.sum() == pytest.approx(1.0, abs=1e-6)
    assert pred.path == str(video)


def test_predict_matches_a_manual_3d_computation(r2p1d, video):
    spec = r2p1d.input_spec
    indices = sampling.uniform_clips(30, spec.clip_len, spec.frame_step, num_clips=4).indices
    frames = read_frames(video, indices.ravel())
    tf = presets.eval_transform(spec)
    clips = torch.stack([tf(frames[i * spec.clip_len : (i + 1) * spec.clip_len]) for i in range(4)])
    r2p1d.eval()
    with torch.no_grad():
        manual = torch.softmax(r2p1d(clips), dim=1).mean(dim=0).numpy()
    pred = predict(r2p1d, video, num_clips=4, batch_size=3)  # batches of 3 + 1
    np.testing.assert_allclose(pred.probs, manual, atol=1e-5)


def test_path_and_frames_give_the_same_prediction(model, video):
    frames = read_frames(video, np.arange(probe(video).num_frames))
    from_path = predict(model, video, num_clips=2)
    from_array = predict(model, frames, num_clips=2)
    from_tensor = predict(model, torch.from_numpy(frames), num_clips=2)
    np.testing.assert_allclose(from_array.probs, from_path.probs, atol=1e-6)
    np.testing.assert_allclose(from_tensor.probs, from_path.probs, atol=1e-6)
    assert from_array.path is None and str(from_array).startswith("<frames>: ")


def test_top_k_is_ordered_clipped_and_named(r2p1d, video):
    pred = predict(r2p1d, video, top_k=10, num_clips=2)
    order = np.argsort(-pred.probs)
    assert pred.classes == [f"class_{i}" for i in order]  # no class names: class_<i>
    assert pred.scores == pytest.approx(pred.probs[order].tolist())
    assert pred.scores == sorted(pred.scores, reverse=True)
    one = predict(r2p1d, video, top_k=1, num_clips=2)
    assert one.classes == pred.classes[:1]
    text = str(pred)
    assert text.startswith(f"{video}: {pred.classes[0]} ")
    assert text.count(",") == 2


def test_class_names_come_from_the_model():
    model = BrightnessModel()
    dark, bright = levels([30], 8), levels([220], 8)
    assert predict(model, dark, top_k=1).classes == ["dark"]
    pred = predict(model, bright)
    assert pred.classes == ["bright", "dark"]
    assert pred.scores[0] > 0.99
    # `label` is an id, as everywhere else: the index of the best class in model.classes
    assert pred.label == model.classes.index("bright") and isinstance(pred.label, int)
    assert predict(model, dark).label == model.classes.index("dark")


def test_predict_errors(tsm, tmp_path):
    frames = np.zeros((8, 40, 48, 3), np.uint8)
    with pytest.raises(ValueError, match="top_k=0"):
        predict(tsm, frames, top_k=0)
    with pytest.raises(ValueError, match="num_clips=0"):
        predict(tsm, frames, num_clips=0)
    with pytest.raises(ValueError, match="empty"):
        predict(tsm, np.zeros((0, 40, 48, 3), np.uint8))
    with pytest.raises(ValueError, match=r"\(40, 48, 3\).*T×H×W×3"):
        predict(tsm, np.zeros((40, 48, 3), np.uint8))
    with pytest.raises(ValueError, match=r"\(8, 3, 40, 48\).*T×H×W×3"):
        predict(tsm, np.zeros((8, 3, 40, 48), np.uint8))
    with pytest.raises(ValueError, match="float32"):
        predict(tsm, frames.astype(np.float32))
    with pytest.raises(ValueError, match="list"):
        predict(tsm, [frames[0]])


def test_unreadable_files_raise_video_read_error_naming_them(tsm, tmp_path):
    missing = tmp_path / "missing.mp4"
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    for bad in (missing, junk):
        with pytest.raises(VideoReadError, match=re.escape(str(bad))):
            predict(tsm, bad)
        with pytest.raises(VideoReadError, match=re.escape(str(bad))):
            predict_timeline(tsm, bad, progress=False)


def test_a_still_image_warns_errors_or_passes_as_asked(tmp_path, caplog):
    from PIL import Image

    photo = tmp_path / "photo.mp4"  # issue 9: a JPEG renamed .mp4 got a confident prediction
    Image.fromarray(levels([220], 1, size=32)[0]).save(photo, format="JPEG")
    model = BrightnessModel("KCHW")  # reads 4 frames per clip
    with caplog.at_level(logging.WARNING, logger="actionkit.inference"):
        pred = predict(model, photo)
    assert pred.classes[0] == "bright"
    assert f"{photo}: a still image (1 frame), fewer than the 4 frames" in caplog.text
    with pytest.raises(ShortVideoError, match=re.escape(f"{photo}: a still image")) as info:
        predict(model, photo, on_short="error")
    assert (info.value.path, info.value.num_frames, info.value.needed) == (str(photo), 1, 4)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="actionkit.inference"):
        predict(model, photo, on_short="ignore")
    assert caplog.text == ""
    with pytest.raises(ValueError, match="on_short='loud'"):
        predict(model, photo, on_short="loud")


def test_fewer_frames_than_a_clip_reads_is_flagged_and_enough_is_not(caplog):
    model = BrightnessModel("CTHW")  # clip_len 4
    with pytest.raises(ShortVideoError, match=r"<frames>: only 3 frames, fewer than the 4"):
        predict(model, levels([30], 3), on_short="error")
    with caplog.at_level(logging.WARNING, logger="actionkit.inference"):
        predict(model, levels([30], 4))
    assert caplog.text == ""


def test_default_batch_is_small_on_the_cpu_and_larger_on_a_gpu():
    assert default_batch_size("cpu") == 1
    assert default_batch_size(torch.device("cuda", 0)) == 8


# --------------------------------------------------------------------------------------------
# timeline


@pytest.mark.parametrize(
    ("num_frames", "fps", "window", "stride"),
    [
        (50, 10, 2.0, 1.0),
        (50, 10, 1.5, 0.5),
        (45, 15, 1.0, 0.4),
        (50, 10, 5.0, 1.0),
        (30, 10, 1, 2),
        (10, 10, 0.05, 0.05),  # windows shorter than a frame interval still get a frame
    ],
)
def test_timeline_windows(tmp_path, num_frames, fps, window, stride):
    path = write_video(tmp_path / "v.mp4", levels([30], num_frames), fps=fps)
    timeline = predict_timeline(BrightnessModel(), path, window=window, stride=stride)
    duration = num_frames / fps
    count = expected_window_count(duration, window, stride)
    assert len(timeline) == count and timeline.scores.shape == (count, 2)
    np.testing.assert_allclose(timeline.starts, expected_starts(duration, window, stride))
    np.testing.assert_allclose(timeline.ends, timeline.starts + min(window, duration))
    assert timeline.ends[-1] == pytest.approx(duration)  # the tail is covered
    np.testing.assert_allclose(timeline.scores.sum(axis=1), 1.0, atol=1e-6)
    assert [t[2] for t in timeline.top()] == ["dark"] * count


@pytest.mark.parametrize("layout", ["CTHW", "KCHW"])
def test_the_tail_gets_a_last_window_ending_at_the_end(tmp_path, layout):
    # The user's case: 2.57 s, window 2, stride 1. Windows from 0 only would leave 2-2.57 s
    # unscored; the last window ends at the video's end and sees the bright tail.
    fps = 30
    frames = np.concatenate([levels([30], 60), levels([220], 17)])  # dark 2 s, bright 0.57 s
    path = write_video(tmp_path / "tail.mp4", frames, fps=fps)
    model = BrightnessModel(layout)
    timeline = predict_timeline(model, path, window=2.0, stride=1.0, progress=False)
    np.testing.assert_allclose(timeline.starts, [0.0, 77 / fps - 2.0])
    np.testing.assert_allclose(timeline.ends, [2.0, 77 / fps])
    first = math.ceil(timeline.starts[-1] * fps - 1e-6)
    cut = predict(model, frames[first:], num_clips=1)
    np.testing.assert_allclose(timeline.scores[-1], cut.probs, atol=1e-5)
    assert timeline.segments()[-1][1] == pytest.approx(77 / fps)


def test_video_shorter_than_a_window_gives_one_window(tsm, tmp_path):
    frames = textured(12)
    path = write_video(tmp_path / "short.mp4", frames, fps=10)
    timeline = predict_timeline(tsm, path, window=2.0, stride=1.0, progress=False)
    assert len(timeline) == 1
    assert (timeline.starts[0], timeline.ends[0]) == pytest.approx((0.0, 1.2))
    whole = predict(tsm, read_frames(path, np.arange(12)), num_clips=1)
    np.testing.assert_allclose(timeline.scores[0], whole.probs, atol=1e-5)


def test_each_window_is_scored_like_a_clip_cut_there(model, video):
    fps, window, stride = 10, 1.2, 0.5
    timeline = predict_timeline(model, video, window=window, stride=stride, batch_size=3)
    frames = read_frames(video, np.arange(30))
    assert len(timeline) == expected_window_count(3.0, window, stride)
    for k, (start, end) in enumerate(zip(timeline.starts, timeline.ends, strict=True)):
        first, last = math.ceil(start * fps - 1e-6), math.ceil(end * fps - 1e-6)
        cut = predict(model, frames[first:last], num_clips=1)
        np.testing.assert_allclose(timeline.scores[k], cut.probs, atol=1e-5, err_msg=f"window {k}")
    assert timeline.classes == ["class_0", "class_1", "class_2"]


@pytest.mark.parametrize("layout", ["CTHW", "KCHW"])
def test_timeline_finds_where_the_action_changes(tmp_path, layout):
    fps, change = 10, 4.2  # dark for 4.2 s, then bright for 3.8 s
    frames = levels([30, 220], 1)
    frames = np.concatenate([np.repeat(frames[:1], 42, 0), np.repeat(frames[1:], 38, 0)])
    path = write_video(tmp_path / "halves.mp4", frames, fps=fps)
    stride = 0.5
    timeline = predict_timeline(BrightnessModel(layout), path, window=1.0, stride=stride)
    labels = [t[2] for t in timeline.top()]
    switch = labels.index("bright")
    assert labels == ["dark"] * switch + ["bright"] * (len(labels) - switch)
    assert timeline.starts[switch] <= change <= timeline.ends[switch]
    (s0, e0, l0), (s1, e1, l1) = timeline.segments()
    assert (l0, l1) == ("dark", "bright")
    assert s0 == 0.0 and e1 == pytest.approx(timeline.ends[-1]) and e0 == s1
    assert abs(e0 - change) <= stride


def test_segments_drop_uncertain_windows(tmp_path):
    stride = 0.5
    path = write_video(tmp_path / "three.mp4", levels([30, 128, 220], 30), fps=10)  # 3 s each
    timeline = predict_timeline(BrightnessModel(), path, window=1.0, stride=stride)
    assert timeline.scores.max(axis=1).min() < 0.6  # the grey windows are uncertain
    assert len(timeline.segments()) >= 2
    (s0, e0, l0), (s1, e1, l1) = timeline.segments(min_score=0.9)
    assert (l0, l1) == ("dark", "bright")
    assert s0 == 0.0 and e1 == pytest.approx(timeline.ends[-1])
    assert abs(e0 - 3.0) <= stride and abs(s1 - 6.0) <= stride and e0 < s1
    with pytest.raises(ValueError, match=r"min_score=1\.5"):
        timeline.segments(min_score=1.5)


def test_timeline_csv_round_trip(tmp_path):
    path = write_video(tmp_path / "halves.mp4", levels([30, 220], 20), fps=10)
    timeline = predict_timeline(BrightnessModel(), path, window=1.0, stride=0.5)
    out = tmp_path / "csv" / "timeline.csv"
    out.parent.mkdir()
    out.write_text("old content")
    assert timeline.to_csv(out) == out
    with out.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["start", "end", "top_label", "top_score", "dark", "bright"]
    assert len(rows) == len(timeline) + 1
    for row, (start, end, label, score), probs in zip(
        rows[1:], timeline.top(), timeline.scores, strict=True
    ):
        assert row[2] == label
        got = [float(v) for v in row[:2] + row[3:]]
        np.testing.assert_allclose(got, [start, end, score, *probs], atol=1e-5)
    assert sorted(p.name for p in out.parent.iterdir()) == ["timeline.csv"]  # no temp file left


def test_timeline_plot(tmp_path):
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    path = write_video(tmp_path / "halves.mp4", levels([30, 220], 20), fps=10)
    timeline = predict_timeline(BrightnessModel(), path, window=1.0, stride=0.5)
    fig = timeline.plot()
    try:
        (ax,) = fig.axes
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert set(lines) == {"dark", "bright"}
        np.testing.assert_allclose(lines["bright"].get_ydata(), timeline.scores[:, 1])
        np.testing.assert_allclose(lines["dark"].get_xdata(), (timeline.starts + timeline.ends) / 2)
    finally:
        plt.close(fig)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "2"])
def test_timeline_rejects_bad_window_and_stride(video, bad):
    model = BrightnessModel()
    with pytest.raises(ValueError, match=re.escape(f"window={bad!r}")):
        predict_timeline(model, video, window=bad)
    with pytest.raises(ValueError, match=re.escape(f"stride={bad!r}")):
        predict_timeline(model, video, stride=bad)


# --------------------------------------------------------------------------------------------
# a real-world file through the real decoder


def test_real_video_predict_and_timeline(tsm, shared_videos):
    path = shared_videos / REAL_FILE
    pred = predict(tsm, path, num_clips=2, top_k=2)  # decoded at short side 40 from 340×256
    assert isinstance(pred, Prediction) and len(pred.classes) == 2
    np.testing.assert_allclose(pred.probs, evaluation_probs(tsm, path, 2), atol=1e-5)
    timeline = predict_timeline(tsm, path, window=0.5, stride=0.25, progress=False)
    assert isinstance(timeline, Timeline)
    assert len(timeline) == expected_window_count(32 / 30, 0.5, 0.25)
    np.testing.assert_allclose(timeline.scores.sum(axis=1), 1.0, atol=1e-6)
