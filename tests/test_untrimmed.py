"""The generated untrimmed videos: the segments written match the frames drawn."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from actionkit.datasets.untrimmed import GROUND_TRUTH_FILE, make_untrimmed_videos
from actionkit.video import open_video


def motion(frames: np.ndarray) -> np.ndarray:
    """Mean absolute change from each frame to the next."""
    return np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))


def test_segments_cover_the_motion_and_only_it(tmp_path):
    truth = make_untrimmed_videos(tmp_path, num_videos=2, actions_per_video=3, seed=1)
    assert len(truth) == 6
    assert {s.label for s in truth} == {"growing", "moving_left", "moving_right"}
    with open(tmp_path / GROUND_TRUTH_FILE, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["video"] for r in rows] == [s.video for s in truth]
    for row, seg in zip(rows, truth, strict=True):
        assert round(float(row["start"]) * 25) == seg.start_frame
        assert round(float(row["end"]) * 25) == seg.end_frame + 1
    with open_video(tmp_path / "video_000.mp4") as reader:
        frames = reader.read(list(range(len(reader))))
    change = motion(frames)  # change[i]: from frame i to i + 1
    inside = np.zeros(len(change), bool)
    for seg in truth[:3]:
        inside[seg.start_frame : seg.end_frame] = True  # transitions within the action
    assert change[inside].min() > 3 * np.median(change[~inside])
    assert np.median(change[~inside]) < 2.0  # the still stretches hardly change


def test_equal_seeds_give_equal_segments(tmp_path):
    a = make_untrimmed_videos(tmp_path / "a", num_videos=1, seed=3)
    b = make_untrimmed_videos(tmp_path / "b", num_videos=1, seed=3)
    assert a == b
    assert (tmp_path / "a" / "video_000.mp4").read_bytes() == (
        tmp_path / "b" / "video_000.mp4"
    ).read_bytes()


def test_a_bad_class_names_the_choices(tmp_path):
    with pytest.raises(ValueError, match=r"'walking'.*growing"):
        make_untrimmed_videos(tmp_path, classes=("walking",))
