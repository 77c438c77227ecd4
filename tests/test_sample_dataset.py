"""The generated sample dataset: layout, decoding, determinism, idempotence, repair, and that its
paired classes differ only in the direction of time.

Files are decoded with PyAV directly, so these tests do not depend on actionkit.video.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np
import pytest

from actionkit.datasets.sample import (
    SAMPLE_CLASSES,
    _video_rng,
    make_sample_dataset,
    render_sample_video,
)

PAIRS = [  # (forwards, backwards)
    ("moving_right", "moving_left"),
    ("moving_down", "moving_up"),
    ("growing", "shrinking"),
]
SMALL = {"videos_per_class": 2, "num_frames": 24}  # a quick dataset for the build-logic tests


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack(
            [f.to_ndarray(format="rgb24", threads=1) for f in container.decode(video=0)]
        )


def mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("*.mp4"))}


def luma(frames: np.ndarray) -> np.ndarray:
    return frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def object_track(frames: np.ndarray) -> np.ndarray:
    """Per frame ``(x, y, area)`` of the pixels far from the background (the border's median)."""
    y = luma(frames)
    border = np.concatenate([y[:, 0], y[:, -1], y[:, :, 0], y[:, :, -1]], axis=1)
    mask = np.abs(y - np.median(border, axis=1)[:, None, None]) > 25
    ys, xs = np.mgrid[0 : y.shape[1], 0 : y.shape[2]]
    area = np.maximum(mask.sum(axis=(1, 2)), 1)
    x_mean = (mask * xs).sum(axis=(1, 2)) / area
    y_mean = (mask * ys).sum(axis=(1, 2)) / area
    return np.stack([x_mean, y_mean, area], axis=1)


@pytest.fixture(scope="module")
def default_set(tmp_path_factory):
    """The default dataset (what `make demo` builds), with its build time."""
    root = tmp_path_factory.mktemp("sample") / "data"
    start = time.perf_counter()
    make_sample_dataset(root)
    return root, time.perf_counter() - start


# --- render_sample_video --------------------------------------------------------------------------


def test_classes_are_sorted_unique_and_paired():
    assert list(SAMPLE_CLASSES) == sorted(set(SAMPLE_CLASSES))
    assert sorted(c for pair in PAIRS for c in pair) == list(SAMPLE_CLASSES)


def test_unknown_class_lists_the_classes():
    with pytest.raises(ValueError, match=r"moving_left.*shrinking"):
        render_sample_video("jumping", np.random.default_rng(0), 8, (64, 48))


@pytest.mark.parametrize("size", [(160, 120), (171, 128), (65, 33)])
@pytest.mark.parametrize("cls", SAMPLE_CLASSES)
def test_render_shape_and_type(cls, size):
    frames = render_sample_video(cls, np.random.default_rng(1), 12, size)
    assert frames.shape == (12, size[1], size[0], 3)
    assert frames.dtype == np.uint8
    assert frames.flags.c_contiguous


@pytest.mark.parametrize("cls", SAMPLE_CLASSES)
def test_render_is_deterministic_and_seed_dependent(cls):
    a = render_sample_video(cls, np.random.default_rng(7), 16, (96, 72))
    b = render_sample_video(cls, np.random.default_rng(7), 16, (96, 72))
    c = render_sample_video(cls, np.random.default_rng(8), 16, (96, 72))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 5


@pytest.mark.parametrize(("forward", "backward"), PAIRS)
@pytest.mark.parametrize("seed", range(5))
def test_paired_classes_are_exact_time_reversals(forward, backward, seed):
    """Same generator state: the second class is the first played backwards, frame for frame.

    So a video's *set* of frames has the same distribution in both classes: nothing but the
    order of the frames tells them apart.
    """
    a = render_sample_video(forward, np.random.default_rng(seed), 20, (160, 120))
    b = render_sample_video(backward, np.random.default_rng(seed), 20, (160, 120))
    np.testing.assert_array_equal(a, b[::-1])


@pytest.mark.parametrize("cls", SAMPLE_CLASSES)
def test_every_frame_moves(cls):
    """The object changes between consecutive frames in every class (none is static)."""
    frames = render_sample_video(cls, np.random.default_rng(3), 40, (160, 120)).astype(np.int16)
    changed = (np.abs(np.diff(frames, axis=0)).max(axis=-1) > 30).sum(axis=(1, 2))
    assert changed.min() >= 10  # pixels per frame step, well above the ±2-level noise


# --- make_sample_dataset: the default build ----------------------------------------------------


def test_default_layout_and_counts(default_set):
    root, _ = default_set
    assert (root / "classes.txt").read_text().split() == list(SAMPLE_CLASSES)
    folders = sorted(p.name for p in root.iterdir() if p.is_dir())
    assert folders == list(SAMPLE_CLASSES)
    for cls in SAMPLE_CLASSES:
        names = sorted(p.name for p in (root / cls).iterdir())
        assert names == [f"{cls}_{i:03d}.mp4" for i in range(24)]
    manifest = json.loads((root / ".sample.json").read_text())
    assert manifest["params"]["videos_per_class"] == 24
    assert manifest["params"]["size"] == [160, 120]
    assert len(manifest["files"]) == 6 * 24


def test_default_build_is_small_and_quick(default_set, record_property):
    root, seconds = default_set
    total = sum(p.stat().st_size for p in root.rglob("*.mp4"))
    record_property("sample_build_seconds", round(seconds, 2))
    record_property("sample_total_bytes", total)
    print(f"\nsample dataset: 144 videos, {total / 1e6:.2f} MB, built in {seconds:.1f} s")
    assert total < 5_000_000
    assert seconds < 60  # ~4 s on a 2-core machine; generous for loaded CI runners


def test_files_decode_with_the_asked_frames_size_and_keyframes(default_set):
    root, _ = default_set
    for path in sorted(root.rglob("*.mp4")):
        frames = decode(path)
        assert frames.shape == (40, 120, 160, 3), path
    with av.open(str(root / "growing" / "growing_000.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert float(stream.average_rate) == pytest.approx(25.0)
        keyframes = [p.is_keyframe for p in container.demux(stream) if p.size]
    assert sum(keyframes) >= 3  # a keyframe at least every 16 frames of 40


def test_decoded_files_are_the_rendered_videos(default_set):
    root, _ = default_set
    for cls in SAMPLE_CLASSES:
        expected = render_sample_video(cls, _video_rng(0, 5), 40, (160, 120))
        decoded = decode(root / cls / f"{cls}_005.mp4")
        error = np.abs(decoded.astype(int) - expected.astype(int)).mean(axis=(1, 2, 3))
        assert error.max() < 5  # the codec's loss: ~3 levels per frame, mostly the noise


def test_every_look_occurs_in_every_class(default_set):
    """Video i of all six classes shows the same background: looks do not identify a class."""
    root, _ = default_set
    for i in (0, 13):
        corners = []
        for cls in SAMPLE_CLASSES:
            frames = decode(root / cls / f"{cls}_{i:03d}.mp4").astype(np.float32)
            corners.append(np.median(frames[:, :6, :6], axis=0))  # median over time: background
        assert np.ptp(np.array(corners), axis=0).max() < 12, i


# What goes opposite ways in each pair: the object's x, its y, the log of its area.
TRENDS = {"moving_right": 0, "moving_down": 1, "growing": 2}


@pytest.mark.parametrize(("forward", "backward"), PAIRS)
def test_paired_classes_differ_only_in_time(default_set, forward, backward):
    """From the decoded files: each backward video's bag of frames equals its forward twin's.

    Time-blind (order-free) statistics of every video match those of its twin in the other class
    up to codec noise, so no classifier of them can separate the classes; the trend of the
    object's track over time separates them perfectly.
    """
    root, _ = default_set
    blind, trends = {}, {}
    for cls in (forward, backward):
        blind[cls], trends[cls] = [], []
        for path in sorted((root / cls).glob("*.mp4")):
            frames = decode(path)
            track = object_track(frames)
            track[:, 2] = np.log(track[:, 2])
            mean_rgb = frames.reshape(len(frames), -1, 3).mean(axis=1)
            # Statistics of the *set* of frames: invariant to any reordering of the frames.
            blind[cls].append(
                np.concatenate([np.sort(mean_rgb, axis=0).ravel(), np.sort(track, axis=0).ravel()])
            )
            trend = track[:, TRENDS[forward]]
            trends[cls].append(np.polyfit(np.arange(len(frames)), trend, 1)[0])
    fwd, bwd = np.array(blind[forward]), np.array(blind[backward])

    # The object really goes opposite ways: x or y by ≥ 1 px a frame, or the area by ≥ 3 % a frame.
    least = 0.03 if forward == "growing" else 1.0
    assert min(trends[forward]) > least and max(trends[backward]) < -least

    # Each video's bag of frames matches its twin's up to codec noise (< 1 level of mean colour,
    # < 1 px of position, < 2 % of area) and is far from any other video of the other class.
    twin_gap = np.abs(fwd - bwd).max(axis=1)
    assert twin_gap.max() < 1.0
    others = np.abs(fwd[:, None] - bwd[None]).max(axis=2)
    np.fill_diagonal(others, np.inf)
    assert others.min() > 3 * twin_gap.max()


def test_a_decoded_pair_has_the_same_bag_of_frames(tmp_path):
    """Encoded apart and decoded, a video and its time-reversed twin give the same frame stats."""
    from actionkit.video import write_video

    a = render_sample_video("moving_right", np.random.default_rng(11), 40, (160, 120))
    b = render_sample_video("moving_left", np.random.default_rng(11), 40, (160, 120))
    stats = []
    for name, frames in [("a.mp4", a), ("b.mp4", b)]:
        decoded = decode(write_video(tmp_path / name, frames, 25.0, gop=16))
        stats.append(np.sort(decoded.reshape(40, -1, 3).mean(axis=1), axis=0))
        stats.append(np.sort(object_track(decoded), axis=0))
    np.testing.assert_allclose(stats[0], stats[2], atol=1.0)  # mean colour per frame, as a set
    np.testing.assert_allclose(stats[1][:, :2], stats[3][:, :2], atol=1.0)  # object x, y, as sets
    np.testing.assert_allclose(stats[1][:, 2], stats[3][:, 2], rtol=0.05)  # object area, as a set


# --- make_sample_dataset: build logic ----------------------------------------------------------


def test_same_seed_same_videos_other_seed_other_videos(tmp_path):
    # The frames a seed gives are identical to the bit. The files are not compared byte for
    # byte, nor their decoded frames exactly: libx264 through PyAV was seen to encode identical
    # frames to different bytes from run to run (moving_right here, even with one thread). So each
    # file must decode to its rendered frames within the codec's loss (under 3.5 levels mean a
    # frame here), far below what another seed changes (over 5 levels mean).
    a = make_sample_dataset(tmp_path / "a", **SMALL)
    b = make_sample_dataset(tmp_path / "b", **SMALL)
    c = make_sample_dataset(tmp_path / "c", seed=1, **SMALL)
    for cls in SAMPLE_CLASSES:
        name = f"{cls}/{cls}_001.mp4"
        rendered = render_sample_video(cls, _video_rng(0, 1), 24, (160, 120))
        np.testing.assert_array_equal(
            rendered, render_sample_video(cls, _video_rng(0, 1), 24, (160, 120))
        )
        for root in (a, b):
            loss = np.abs(decode(root / name).astype(int) - rendered.astype(int)).mean(
                axis=(1, 2, 3)
            )
            assert loss.max() < 3.5, (root, name, loss.max())
        assert np.abs(decode(a / name).astype(int) - decode(c / name).astype(int)).mean() > 5


def test_second_call_rewrites_nothing(tmp_path):
    root = make_sample_dataset(tmp_path / "d", **SMALL)
    before = mtimes(root)
    manifest_before = (root / ".sample.json").stat().st_mtime_ns
    assert make_sample_dataset(tmp_path / "d", **SMALL) == root
    assert mtimes(root) == before
    assert (root / ".sample.json").stat().st_mtime_ns == manifest_before


def test_interrupted_build_is_repaired(tmp_path):
    root = make_sample_dataset(tmp_path / "d", **SMALL)
    before = mtimes(root)
    # A killed build: no manifest yet, one video missing, one truncated, a dead temporary file.
    (root / ".sample.json").unlink()
    (root / "shrinking" / "shrinking_001.mp4").unlink()
    truncated = root / "growing" / "growing_000.mp4"
    truncated.write_bytes(truncated.read_bytes()[:500])
    (root / "growing" / ".growing_001.abc123.mp4").write_bytes(b"partial")

    make_sample_dataset(root, **SMALL)
    assert (root / ".sample.json").exists()
    assert not (root / "growing" / ".growing_001.abc123.mp4").exists()
    after = mtimes(root)
    assert after.keys() == before.keys()
    rewritten = {k for k in after if after[k] != before[k]}
    assert rewritten == {"shrinking/shrinking_001.mp4", "growing/growing_000.mp4"}
    for name in rewritten:
        assert decode(root / name).shape == (24, 120, 160, 3)


def test_other_parameters_rebuild_in_place(tmp_path):
    root = make_sample_dataset(tmp_path / "d", videos_per_class=3, num_frames=24)
    before = mtimes(root)
    make_sample_dataset(root, videos_per_class=2, num_frames=24)  # fewer: the extra ones go
    after = mtimes(root)
    assert sorted(after) == sorted(k for k in before if not k.endswith("_002.mp4"))
    assert all(after[k] == before[k] for k in after)  # the kept videos are the same videos
    make_sample_dataset(root, videos_per_class=2, num_frames=16)  # other frames: all rewritten
    assert decode(root / "growing" / "growing_000.mp4").shape[0] == 16
    manifest = json.loads((root / ".sample.json").read_text())
    assert manifest["params"]["num_frames"] == 16


def test_foreign_folder_is_refused_unless_overwrite(tmp_path):
    root = tmp_path / "mine"
    root.mkdir()
    (root / "holiday.mp4").write_bytes(b"not ours")
    with pytest.raises(
        FileExistsError, match=r"not a sample dataset.*holiday\.mp4.*overwrite=True"
    ):
        make_sample_dataset(root, **SMALL)
    assert os.listdir(root) == ["holiday.mp4"]  # untouched: not even a lock file
    (root / "growing").mkdir()
    (root / "growing" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"growing/notes\.txt"):
        make_sample_dataset(root, **SMALL)

    make_sample_dataset(root, overwrite=True, **SMALL)
    assert not (root / "holiday.mp4").exists()
    assert len(mtimes(root)) == 6 * 2


def test_overwrite_rebuilds_a_complete_dataset(tmp_path):
    root = make_sample_dataset(tmp_path / "d", **SMALL)
    before = mtimes(root)
    time.sleep(0.01)
    make_sample_dataset(root, overwrite=True, **SMALL)
    after = mtimes(root)
    assert after.keys() == before.keys()
    assert all(after[k] != before[k] for k in after)


def test_simultaneous_builds_of_one_folder(tmp_path):
    """Two builders of one folder (two test workers...): one builds, the other waits, reuses."""
    root = tmp_path / "shared"
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: make_sample_dataset(root, **SMALL), range(2)))
    assert results == [root, root]
    assert len(mtimes(root)) == 12
    manifest = json.loads((root / ".sample.json").read_text())
    assert manifest["files"] == {
        str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*.mp4"))
    }


def test_an_empty_existing_folder_is_fine(tmp_path):
    root = tmp_path / "empty"
    root.mkdir()
    assert make_sample_dataset(root, **SMALL) == root
    assert len(mtimes(root)) == 12


@pytest.mark.parametrize(
    "bad",
    [{"videos_per_class": 0}, {"num_frames": 1}, {"size": (8, 120)}, {"fps": 0}],
)
def test_bad_arguments(tmp_path, bad):
    with pytest.raises(ValueError):
        make_sample_dataset(tmp_path / "d", **bad)
    assert not (tmp_path / "d").exists()


def test_a_file_as_root_is_refused(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(FileExistsError):
        make_sample_dataset(target, **SMALL)


def test_folder_scan_sees_only_the_videos(tmp_path):
    """Hidden files (the manifest, the lock) do not show up as videos or classes."""
    root = make_sample_dataset(tmp_path / "d", **SMALL)
    visible = [p for p in root.rglob("*") if not p.name.startswith(".")]
    assert {p.name for p in visible if p.is_file() and p.suffix != ".mp4"} == {"classes.txt"}
