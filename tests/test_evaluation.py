"""Video-level evaluation on real videos with a real model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from actionkit.data import VideoDataset
from actionkit.evaluation import evaluate, score_videos
from actionkit.models import create_model
from tests._tiny import make_bright_dark, tiny_model


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    return make_bright_dark(tmp_path_factory.mktemp("eval"), per_class=3, frames=10)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return tiny_model().eval()


def test_every_video_once_and_the_unreadable_listed(videos, model, tmp_path):
    data = VideoDataset.from_folder(videos, spec=model.input_spec, train=False)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 500)
    data.samples.append(type(data.samples[0])(broken, 1))
    report = evaluate(model, data, num_clips=2, batch_size=4, workers=0, progress=False)
    assert report.num_videos == 6  # 7 videos in batches of 4, the broken one not scored
    assert report.unreadable == [str(broken)]
    scored = sorted(p["path"] for p in report.predictions)
    assert scored == sorted(str(p) for p in videos.rglob("*.mp4"))
    assert report.confusion.sum() == 6 and report.settings["num_clips"] == 2


def test_video_scores_are_the_mean_of_the_clip_softmax(videos, model):
    data = VideoDataset.from_folder(videos, spec=model.input_spec, train=False, num_clips=3)
    scores = score_videos(model, data, batch_size=2, workers=0, progress=False)
    assert scores.clip_scores.shape == (6, 3, 2)
    with torch.no_grad():
        clips = data[4]["video"]  # 3 clips of K×C×H×W
        expected = model(clips).softmax(-1).mean(0).numpy()
    np.testing.assert_allclose(scores.video_scores[4], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scores.video_scores.sum(1), 1.0, rtol=1e-5)
    assert list(scores.index) == list(range(6))


@pytest.mark.parametrize("layout", ["KCHW", "CTHW"])
def test_three_crop_scores_three_views_of_each_clip(videos, layout):
    torch.manual_seed(0)
    if layout == "KCHW":
        net = tiny_model().eval()
    else:
        net = create_model("r2plus1d_18", pretrained=False, num_classes=2).eval()
        net.input_spec = net.input_spec.replace(crop_size=24, resize=28, clip_len=4)
    data = VideoDataset.from_folder(videos, spec=net.input_spec, train=False)
    report = evaluate(net, data, num_clips=2, three_crop=True, workers=0, progress=False)
    scores = score_videos(
        net, data.subset(data.samples, train=False, num_clips=2, three_crop=True),
        workers=0, progress=False,
    )  # fmt: skip
    assert scores.clip_scores.shape == (6, 6, 2)  # 2 clips × 3 crops per video
    assert report.num_videos == 6 and report.settings["three_crop"] is True
