"""VideoDataset on real files: sources, items, bad files, workers, checks."""

import gc
import io
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from actionkit.data import VideoDataset
from actionkit.data.sources import Sample, read_list_file, stratified_split
from actionkit.spec import InputSpec
from actionkit.video import VideoReadError, write_video

SPEC = InputSpec(clip_len=4, frame_step=2, crop_size=32, resize=40, mean=(0, 0, 0), std=(1, 1, 1))
TSN_SPEC = SPEC.replace(layout="KCHW", clip_len=1, num_segments=3)


def counter_video(n: int, size=(48, 64), gray: bool = False) -> np.ndarray:
    """Frame i is a flat grey of level 6 * i (so the frame read can be recovered)."""
    levels = (np.arange(n) * 6 % 250).astype(np.uint8)
    frames = np.broadcast_to(levels[:, None, None, None], (n, *size, 3)).copy()
    return frames[..., 0] if gray else frames


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("folder")
    for cls, count in (("jump", 3), ("run", 4)):
        for i in range(count):
            write_video(root / cls / f"{cls} {i}.mp4", counter_video(30 + i), fps=25, gop=8)
    write_video(root / "run" / "ünïcødé clip.avi", counter_video(20), codec="mjpeg")
    (root / "run" / "notes.txt").write_text("not a video")
    (root / "run" / ".hidden.mp4").write_bytes(b"")
    (root / "empty_class").mkdir()
    return root


def frame_levels(video: torch.Tensor) -> np.ndarray:
    """Mean level (0–255) of each frame of a C×T×H×W clip normalized with mean 0, std 1."""
    return (video.mean(dim=(0, 2, 3)) * 255).numpy()


def test_folder_classes_labels_and_ignored_files(folder, caplog):
    with caplog.at_level(logging.WARNING):
        ds = VideoDataset.from_folder(folder, spec=SPEC)
    assert ds.classes == ["empty_class", "jump", "run"]
    assert ds.class_counts() == {"empty_class": 0, "jump": 3, "run": 5}
    assert ds.ignored == 2  # notes.txt and the hidden file
    assert "empty_class" in caplog.text
    assert all(ds.classes[s.label] == s.path.parent.name for s in ds.samples)


def test_explicit_class_file_fixes_ids(folder, tmp_path):
    class_file = tmp_path / "classes.txt"
    class_file.write_text("run\njump\n")
    ds = VideoDataset.from_folder(folder, classes=class_file, spec=SPEC)
    assert ds.classes == ["run", "jump"]
    assert {s.path.parent.name for s in ds.samples if s.label == 0} == {"run"}


def test_item_reads_the_frames_it_reports(folder):
    ds = VideoDataset.from_folder(folder, spec=SPEC)
    torch.manual_seed(0)
    for i in range(len(ds)):
        item = ds[i]
        assert item["video"].shape == (3, 4, 32, 32)
        assert item["video"].dtype == torch.float32
        expected = (item["indices"].numpy() * 6 % 250).astype(float)
        # lossy codecs: the grey level survives within a few units
        np.testing.assert_allclose(frame_levels(item["video"]), expected, atol=4)
        steps = np.diff(item["indices"].numpy())
        assert (steps == 2).all()


def test_eval_multi_clip_and_three_crop_shapes(folder):
    ds = VideoDataset.from_folder(folder, spec=SPEC, train=False, num_clips=5)
    item = ds[0]
    assert item["video"].shape == (5, 3, 4, 32, 32)
    assert item["indices"].shape == (5, 4)
    assert torch.equal(ds[0]["video"], item["video"])  # deterministic
    for clip, idx in zip(item["video"], item["indices"], strict=True):
        np.testing.assert_allclose(frame_levels(clip), idx.numpy() * 6 % 250, atol=4)
    three = VideoDataset.from_folder(folder, spec=SPEC, train=False, num_clips=2, three_crop=True)
    assert three[0]["video"].shape == (6, 3, 4, 32, 32)


def test_tsn_layout_segments(folder):
    ds = VideoDataset.from_folder(folder, spec=TSN_SPEC)
    item = ds[0]
    assert item["video"].shape == (3, 3, 32, 32)  # K×C×H×W
    n = 30
    seg = n / 3
    for k, index in enumerate(item["indices"].tolist()):
        assert k * seg - 1 <= index < (k + 1) * seg + 1
    test = VideoDataset.from_folder(folder, spec=TSN_SPEC, train=False, num_clips=4)
    item = test[0]
    assert item["video"].shape == (4, 3, 3, 32, 32)
    assert len({tuple(row) for row in item["indices"].tolist()}) == 4


def test_short_and_odd_videos_are_looped_not_errors(tmp_path):
    write_video(tmp_path / "a" / "one_frame.mp4", counter_video(1))
    write_video(
        tmp_path / "a" / "gray_odd.mkv", counter_video(5, (55, 97), gray=True), codec="ffv1"
    )
    write_video(
        tmp_path / "b" / "vfr.mp4", counter_video(6), timestamps=[0, 0.04, 0.3, 0.32, 0.9, 1.5]
    )
    ds = VideoDataset.from_folder(tmp_path, spec=SPEC, strict=True)
    for i in range(len(ds)):
        item = ds[i]
        assert item["video"].shape == (3, 4, 32, 32)
        assert item["fill"] == "loop"
        assert (
            item["indices"].max()
            < {"one_frame": 1, "gray_odd": 5, "vfr": 6}[Path(item["path"]).stem]
        )


@pytest.fixture
def bad_files(tmp_path, shared_videos) -> list[Path]:
    """Four good videos and three bad ones (empty, text, a cut real clip) under ``tmp_path``."""
    root = tmp_path
    good = counter_video(24)
    write_video(root / "a" / "good0.mp4", good)
    write_video(root / "a" / "good1.mp4", good)
    write_video(root / "b" / "good2.mp4", good)
    write_video(root / "b" / "good3.mp4", good)
    bad = [root / "a" / "zero.mp4", root / "b" / "text.mp4", root / "b" / "truncated.mp4"]
    bad[0].write_bytes(b"")
    bad[1].write_text("this is not a video\n" * 20)
    data = (shared_videos / "h264_340x256_32frames.mp4").read_bytes()
    bad[2].write_bytes(data[: len(data) // 10])
    return bad


def test_bad_files_are_skipped_counted_and_logged_once(tmp_path, bad_files, caplog):
    ds = VideoDataset.from_folder(tmp_path, spec=SPEC)
    with caplog.at_level(logging.WARNING, logger="actionkit.data"):
        torch.manual_seed(1)
        items = [ds[i] for i in range(len(ds)) for _ in range(2)]
    assert all(Path(it["path"]).stem.startswith("good") for it in items)
    assert ds.skipped_count >= 2 * len(bad_files)  # more when a replacement was bad too
    for path in bad_files:
        assert caplog.text.count(str(path)) == 1


def test_strict_raises_naming_the_file(tmp_path, bad_files):
    ds = VideoDataset.from_folder(tmp_path, spec=SPEC, strict=True)
    index = next(i for i, s in enumerate(ds.samples) if s.path == bad_files[0])
    with pytest.raises(VideoReadError, match=r"zero\.mp4"):
        ds[index]


@pytest.mark.usefixtures("bad_files")
def test_eval_mode_marks_bad_files_instead_of_replacing_them(tmp_path):
    ds = VideoDataset.from_folder(tmp_path, spec=SPEC, train=False, num_clips=3)
    items = [ds[i] for i in range(len(ds))]
    labels = [it["label"] for it in items]
    assert labels.count(-1) == 3
    assert all(it["video"].shape == (3, 3, 4, 32, 32) for it in items)
    assert sorted(it["path"] for it in items) == sorted(str(s.path) for s in ds.samples)


@pytest.mark.usefixtures("bad_files")
def test_file_vanishing_after_scan_is_skipped(tmp_path):
    ds = VideoDataset.from_folder(tmp_path, spec=SPEC)
    (tmp_path / "a" / "good0.mp4").unlink()
    torch.manual_seed(0)
    paths = {ds[i]["path"] for i in range(len(ds))}
    assert str(tmp_path / "a" / "good0.mp4") not in paths


def jpeg_bytes() -> bytes:
    """A real JPEG photo (what a user renamed to .mp4 in issue 9)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.full((48, 64, 3), 128, np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _listed(report) -> dict[str, int]:
    """Lines per category under the report's first line."""
    kinds = [line.split()[0] for line in str(report).splitlines()[1:]]
    return {kind: kinds.count(kind) for kind in set(kinds)}


def test_check_reports_each_kind_of_problem(tmp_path, bad_files):
    write_video(tmp_path / "a" / "short.mp4", counter_video(5))  # 4 frames read, 7 spanned
    write_video(tmp_path / "a" / "few.mp4", counter_video(3))  # fewer than the 4 read
    (tmp_path / "b" / "photo.mp4").write_bytes(jpeg_bytes())
    ds = VideoDataset.from_folder(tmp_path, spec=SPEC)
    report = ds.check(workers=2, progress=False)
    zero, text, truncated = (str(p) for p in bad_files)
    photo = str(tmp_path / "b" / "photo.mp4")
    assert report.empty == [zero]  # 0 bytes: empty, and only there
    assert sorted(p for p, _ in report.unreadable) == sorted([text, truncated])
    assert report.still == [photo]
    assert report.too_few == [(str(tmp_path / "a" / "few.mp4"), 3)]
    assert report.too_short == [(str(tmp_path / "a" / "short.mp4"), 5)]
    assert sorted(report.bad_paths) == sorted([zero, text, truncated, photo])
    assert (report.frames_needed, report.frames_per_clip) == (7, 4)
    first = str(report).splitlines()[0]
    assert first.startswith(f"{len(ds)} videos checked: {len(ds) - 4} readable, ")
    assert "2 unreadable, 1 empty, 1 still images" in first
    # the counts and the listing agree
    assert _listed(report) == {"unreadable": 2, "empty": 1, "still": 1, "too": 2}
    clean = ds.without(report.bad_paths)
    assert len(clean) == len(ds) - 4 and clean.check(progress=False).ok


def test_check_of_a_list_reports_the_missing_files(tmp_path):
    write_video(tmp_path / "v" / "a.mp4", counter_video(8))
    (tmp_path / "list.txt").write_text("v/a.mp4 run\nv/gone.mp4 walk\n")
    ds = VideoDataset.from_list(tmp_path / "list.txt", spec=SPEC)
    report = ds.check(workers=1, progress=False)
    assert report.total == 2 and not report.ok
    assert report.unreadable == [
        (str(tmp_path / "v" / "gone.mp4"), "listed, but there is no such file")
    ]
    assert str(report).startswith("2 videos checked: 1 readable, 1 unreadable")


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _settled_fds(limit: int, seconds: float = 10.0) -> int:
    """Open file descriptors once finished workers' pipes have been closed (that happens
    asynchronously, late on a loaded machine); a real leak stays above ``limit``."""
    deadline = time.monotonic() + seconds
    while True:
        gc.collect()
        count = _open_fds()
        if count <= limit or time.monotonic() > deadline:
            return count
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.usefixtures("bad_files")
def test_dataloader_workers_several_epochs_no_leaks_and_counts(tmp_path):
    ds = VideoDataset.from_folder(tmp_path, spec=SPEC)
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2, shuffle=True)
    before = None
    for epoch in range(4):
        labels = torch.cat([batch["label"] for batch in loader])
        assert len(labels) == len(ds) and (labels >= 0).all()
        if epoch == 0:
            before = _settled_fds(0, seconds=1.0)
    assert _settled_fds(before + 2) <= before + 2
    assert ds.skipped_count >= 3 * 4  # counted inside the workers, seen in the parent


@pytest.mark.slow
@pytest.mark.usefixtures("bad_files")
def test_a_dataset_with_bad_files_still_trains(tmp_path):
    write_video(
        tmp_path / "b" / "gray_odd.mkv", counter_video(9, (55, 97), gray=True), codec="ffv1"
    )
    ds = VideoDataset.from_folder(tmp_path, spec=SPEC)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2, shuffle=True)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv3d(3, 4, 3),
        torch.nn.AdaptiveAvgPool3d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 2),
    )
    start = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    seen = 0
    for _ in range(2):
        for batch in loader:
            loss = torch.nn.functional.cross_entropy(model(batch["video"]), batch["label"])
            assert torch.isfinite(loss)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += len(batch["label"])
    assert seen == 2 * len(ds)
    assert all(not torch.equal(a, b) for a, b in zip(start, model.parameters(), strict=True))


def test_list_file_with_spaces_names_ids_and_missing(folder, tmp_path, caplog):
    lst = tmp_path / "list.txt"
    lst.write_text(
        f"# comment\n{folder}/jump/jump 0.mp4 jump\n{folder}/run/run 1.mp4 run\n"
        f"{folder}/run/gone.mp4 run\n"
    )
    with caplog.at_level(logging.WARNING):
        ds = VideoDataset.from_list(lst, root="/", spec=SPEC)
    assert ds.classes == ["jump", "run"]
    assert [s.path.name for s in ds.samples] == ["jump 0.mp4", "run 1.mp4"]
    assert ds.missing == (f"{folder}/run/gone.mp4",)
    assert "gone.mp4" in caplog.text
    with pytest.raises(FileNotFoundError, match=r"gone\.mp4"):
        VideoDataset.from_list(lst, root="/", spec=SPEC, strict=True)
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{folder}/jump/jump 0.mp4 1\n{folder}/run/run 1.mp4 0\n")
    found = read_list_file(ids, root="/", classes=["run", "jump"])
    assert [s.label for s in found.samples] == [1, 0]


def test_csv_list_and_unknown_label(folder, tmp_path):
    csv_file = tmp_path / "clips.csv"
    csv_file.write_text('path,label\n"jump/jump 1.mp4",jump\nrun/run 2.mp4,run\n')
    ds = VideoDataset.from_list(csv_file, root=folder, spec=SPEC)
    assert [ds.classes[s.label] for s in ds.samples] == ["jump", "run"]
    bad = tmp_path / "bad.txt"
    bad.write_text("jump/jump 1.mp4 dance\n")
    with pytest.raises(ValueError, match="dance"):
        read_list_file(bad, root=folder, classes=["jump", "run"])
    with pytest.raises(ValueError, match="path"):
        (tmp_path / "h.csv").write_text("name,kind\na,b\n")
        read_list_file(tmp_path / "h.csv")


def test_hmdb51_split_files(tmp_path):
    videos, splits = tmp_path / "videos", tmp_path / "splits"
    splits.mkdir()
    for cls in ("brush_hair", "cartwheel"):
        for i in range(3):
            write_video(videos / cls / f"{cls}_{i}.avi", counter_video(10), codec="mjpeg")
        (splits / f"{cls}_test_split1.txt").write_text(
            f"{cls}_0.avi 1 \n{cls}_1.avi 2 \n{cls}_2.avi 0 \n"
        )
    train = VideoDataset.from_hmdb51(videos, splits, split=1, spec=SPEC)
    test = VideoDataset.from_hmdb51(videos, splits, split=1, spec=SPEC, train=False)
    assert len(train.classes) == 51
    assert sorted(s.path.name for s in train.samples) == ["brush_hair_0.avi", "cartwheel_0.avi"]
    assert sorted(s.path.name for s in test.samples) == ["brush_hair_1.avi", "cartwheel_1.avi"]
    assert {train.classes[s.label] for s in train.samples} == {"brush_hair", "cartwheel"}
    (splits / "dancing_test_split1.txt").write_text("x.avi 1\n")
    with pytest.raises(ValueError, match="dancing"):
        VideoDataset.from_hmdb51(videos, splits, split=1, spec=SPEC)
    with pytest.raises(ValueError, match="split=4"):
        VideoDataset.from_hmdb51(videos, splits, split=4, spec=SPEC)


def test_official_splits_load_the_prepared_copy(tmp_path):
    """prepare writes every video as .mp4 and copies the split files as they are (.avi names):
    the splits still find the prepared videos, and a really missing one stays missing."""
    from actionkit.data.prepare import prepare_dataset

    videos, splits = tmp_path / "hmdb51_org", tmp_path / "splits"
    splits.mkdir()
    for i in range(3):
        write_video(videos / "catch" / f"catch_{i}.avi", counter_video(10), codec="mpeg4")
    (splits / "catch_test_split1.txt").write_text(
        "catch_0.avi 1\ncatch_1.avi 1\ncatch_2.avi 2\ncatch_9.avi 1\n"
    )
    prepare_dataset(videos, tmp_path / "fast", short_side=8, workers=1, progress=False)
    train = VideoDataset.from_hmdb51(tmp_path / "fast", splits, split=1, spec=SPEC)
    assert [s.path.name for s in train.samples] == ["catch_0.mp4", "catch_1.mp4"]
    assert [Path(m).name for m in train.missing] == ["catch_9.avi"]
    listed = tmp_path / "fast" / "list.txt"
    listed.write_text("catch/catch_2.avi catch\n")
    assert [s.path.name for s in read_list_file(listed).samples] == ["catch_2.mp4"]


def test_ucf101_split_lists(tmp_path):
    videos, splits = tmp_path / "UCF-101", tmp_path / "ucfTrainTestlist"
    splits.mkdir()
    (splits / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 ApplyLipstick\n")
    for cls in ("ApplyEyeMakeup", "ApplyLipstick"):
        for g in (1, 8):
            write_video(videos / cls / f"v_{cls}_g0{g}_c01.avi", counter_video(8), codec="mjpeg")
    (splits / "trainlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\n"
        "ApplyLipstick/v_ApplyLipstick_g08_c01.avi 2\n"
    )
    (splits / "testlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\nApplyLipstick/v_ApplyLipstick_g01_c01.avi\n"
    )
    train = VideoDataset.from_ucf101(videos, splits, spec=SPEC)
    test = VideoDataset.from_ucf101(videos, splits, spec=SPEC, train=False)
    assert train.classes == ["ApplyEyeMakeup", "ApplyLipstick"]
    assert [s.label for s in train.samples] == [0, 1]
    assert all("_g01_" in s.path.name for s in test.samples)


def test_stratified_split_is_seeded_disjoint_and_balanced():
    samples = [Sample(Path(f"{c}/{i}.mp4"), c) for c in range(3) for i in range(10 + 5 * c)]
    train, val = stratified_split(samples, 0.2, seed=7)
    assert set(train).isdisjoint(val) and len(train) + len(val) == len(samples)
    assert [sum(s.label == c for s in val) for c in range(3)] == [2, 3, 4]
    assert stratified_split(samples, 0.2, seed=7) == (train, val)
    assert stratified_split(samples, 0.2, seed=8) != (train, val)
    with pytest.raises(ValueError, match="val_fraction"):
        stratified_split(samples, 1.5)


def test_dataset_split_modes(folder):
    ds = VideoDataset.from_folder(folder, spec=SPEC)
    train, val = ds.split(0.4, seed=0, num_clips=3)
    assert train.train and not val.train and val.num_clips == 3
    assert len(train) + len(val) == len(ds)
    assert val[0]["video"].shape[0] == 3


def test_real_world_videos_and_show_batch(tmp_path, shared_videos):
    for name in ("h264_340x256_30fps.mp4", "mpeg4_320x240_25fps.avi"):
        target = tmp_path / name.split("_")[0] / name
        target.parent.mkdir()
        shutil.copy(shared_videos / name, target)
    spec = InputSpec(clip_len=8, frame_step=2, crop_size=112, resize=128)
    ds = VideoDataset.from_folder(tmp_path, spec=spec, strict=True)
    assert [ds[i]["video"].shape for i in range(2)] == [(3, 8, 112, 112)] * 2
    fig = ds.show_batch(n=2, frames=3)
    assert len(fig.axes) == 6
    assert fig.axes[0].get_title().startswith(("h264", "mpeg4"))
