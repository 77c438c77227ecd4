"""Issue 11 end to end, as a user runs it: label videos in the page, cut the clips, train on them.

Two generated videos whose frames carry their own index (tests/_indexed.py) are labeled in a
real Chromium against the real :class:`AnnotationServer`, with the keys only: step to a frame,
``[``, step, ``]``, a label key, Enter. Each frame marked is read off the picture the page shows,
the segments survive a reload, and ``annotations.json`` holds exactly those frames. Then
:func:`cut_clips` cuts them (every clip holds exactly its frames, read off the pictures again)
and ``actionkit train`` trains one epoch on the train split and validates on the val split.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from actionkit import cli
from actionkit.annotate.annotations import frames_to_seconds, load_annotations
from actionkit.annotate.clips import cut_clips
from actionkit.annotate.server import AnnotationServer
from actionkit.data import VideoDataset
from actionkit.models import load_model
from actionkit.video import open_video
from tests._annotate_page import FPS, Page, chromium, saved
from tests._indexed import read_index, write_indexed_video

LABELS = ["walk", "wave"]
#: Video -> frames, and the segments marked in it: (first, last, label key).
VIDEOS = {
    "kitchen.mp4": (80, [(6, 19, "1"), (33, 47, "2")]),
    "garden.mp4": (70, [(4, 15, "2"), (41, 58, "1")]),
}


def expected(video: str) -> list[tuple[str, int, int]]:
    """(label, first, last) of the segments marked in ``video``, in frame order."""
    marks = VIDEOS[video][1]
    return [(LABELS[int(key) - 1], first, last) for first, last, key in sorted(marks)]


def label_in_the_page(browser, server: AnnotationServer) -> None:
    """Mark :data:`VIDEOS`' segments with the keys, checking each frame marked on the picture;
    reload and check they are all still there."""
    tab = Page(browser.new_context(), server)
    revision = 1  # the labels were saved when the server started
    for name, (frames, marks) in VIDEOS.items():
        tab.open(name)
        assert tab.page.inner_text("#total") == str(frames)
        for first, last, key in marks:
            assert tab.at(first) == (first, first)  # (the counter, the frame the picture shows)
            tab.press("[")
            assert tab.at(last) == (last, last)
            tab.press("]")
            tab.press(key)
            tab.press("Enter")
            revision += 1
            tab.wait_saved(revision)
        assert tab.segment_rows() == expected(name)

    tab.reload("garden.mp4")  # the video open stays open
    assert tab.segment_rows() == expected("garden.mp4")
    for name in VIDEOS:
        assert tab.page.locator(f'#videos li[data-path="{name}"] .count').inner_text() == "2"
    tab.open("kitchen.mp4")
    assert tab.segment_rows() == expected("kitchen.mp4")
    assert tab.errors == [] and tab.dialogs == []
    assert saved(server)["revision"] == revision


def clip_frames(path: Path) -> list[int]:
    """The index every frame of a clip shows."""
    with open_video(path) as video:
        return [read_index(frame) for frame in video.read(list(range(len(video))))]


@pytest.mark.slow
def test_label_in_the_page_cut_clips_and_train_one_epoch(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    for name, (frames, _) in VIDEOS.items():
        write_indexed_video(videos / name, frames, FPS)
    server = AnnotationServer(videos, labels=LABELS, user="ana", proxy_dir=tmp_path / "proxies")
    with server, chromium() as browser:
        label_in_the_page(browser, server)

    data = saved(server)
    assert data["labels"] == LABELS
    for name, (frames, _) in VIDEOS.items():
        video = data["videos"][name]
        assert (video["fps"], video["num_frames"]) == (FPS, frames)
        got = [(s["label"], s["start_frame"], s["end_frame"]) for s in video["segments"]]
        assert got == expected(name)
        for s in video["segments"]:
            assert (s["start"], s["end"]) == frames_to_seconds(
                s["start_frame"], s["end_frame"], FPS
            )
            assert (s["author"], s["source"]) == ("ana", "manual")
    assert load_annotations(server.annotations_path).num_segments() == 4

    out = tmp_path / "clips"
    result = cut_clips(server.annotations_path, videos, out, workers=1, progress=False)
    assert result.ok and result.written == 4, str(result)
    assert result.classes == {"walk": 2, "wave": 2}
    assert result.splits == {"train": (2, 1), "val": (2, 1), "test": (0, 0)}  # by video
    assert (out / "classes.txt").read_text(encoding="utf-8").split() == LABELS
    with (out / "clips.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    cut = sorted((r["video"], r["label"], int(r["start_frame"]), int(r["end_frame"])) for r in rows)
    assert cut == sorted((name, *segment) for name in VIDEOS for segment in expected(name))
    for row in rows:
        first, last = int(row["start_frame"]), int(row["end_frame"])
        assert clip_frames(out / row["path"]) == list(range(first, last + 1)), row["path"]

    train = VideoDataset.from_list(out / "train.csv", classes=out / "classes.txt")
    assert train.classes == LABELS and len(train) == 2

    run = tmp_path / "run"
    status = cli.main(
        ["train", str(out / "train.csv"), "--val", str(out / "val.csv"),
         "--model", "tsm_efficientnet_lite0", "--segments", "4", "--crop-size", "32",
         "--epochs", "1", "--batch-size", "2", "--workers", "0", "--eval-clips", "1",
         "--cpu", "--out", str(run)]
    )  # fmt: skip
    assert status == 0
    with (run / "history.csv").open(newline="", encoding="utf-8") as f:
        history = list(csv.DictReader(f))
    assert len(history) == 1 and int(history[0]["epoch"]) == 1
    assert all(math.isfinite(float(history[0][k])) for k in ("train_loss", "val_loss"))
    assert (run / "model.pt").stat().st_size > 0
    assert load_model(run / "model.pt").classes == LABELS
