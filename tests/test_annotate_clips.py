"""`cut_clips` / `actionkit clips` on real encodes: frame-exact cuts (MP4, AVI, VFR), names,
background clips, the split by source video, resuming, failures, the CLI, loading the result."""

from __future__ import annotations

import csv
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from actionkit.annotate._clip_plan import assign_splits, make_clip
from actionkit.annotate.annotations import (
    Annotations,
    Segment,
    VideoAnnotation,
    frames_to_seconds,
    save_annotations,
)
from actionkit.annotate.clips import cut_clips, safe_name
from actionkit.annotate.formats import read_annotations
from actionkit.cli import main
from actionkit.data import VideoDataset
from actionkit.datasets.untrimmed import GROUND_TRUTH_FILE, make_untrimmed_videos
from actionkit.video import open_video
from tests._indexed import read_index, write_indexed_video

FPS = 25.0


def annotations(videos: dict[str, list[tuple[str, int, int]]]) -> Annotations:
    """Annotations of ``{video: [(label, start_frame, end_frame), ...]}`` at 25 fps."""
    entries = {
        key: VideoAnnotation(
            segments=[Segment(lab, a, b, *frames_to_seconds(a, b, FPS)) for lab, a, b in segs]
        )
        for key, segs in videos.items()
    }
    return Annotations(sorted({s[0] for segs in videos.values() for s in segs}), entries)


def indices(clip: Path) -> list[int]:
    """The index every frame of ``clip`` shows."""
    with open_video(clip) as video:
        return [read_index(f) for f in video.read(list(range(len(video))))]


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def untrimmed(tmp_path) -> Path:
    """Four generated untrimmed videos (long still stretches: room for background clips)."""
    root = tmp_path / "videos"
    make_untrimmed_videos(root, num_videos=4, actions_per_video=3, still_frames=(50, 70))
    return root


# -- frame-exact cuts and names --------------------------------------------------------------------
def test_cuts_hold_exactly_the_segment_frames_in_mp4_avi_and_vfr(tmp_path):
    src = tmp_path / "src"
    write_indexed_video(src / "take 1, ä.mp4", 120, FPS, gop=12)
    write_indexed_video(src / "cam" / "hall.avi", 90, FPS, codec="mpeg4", gop=12)
    gaps = np.where(np.arange(80) % 2, 0.06, 0.02)  # 16.7 and 50 fps, alternating
    write_indexed_video(src / "vfr.mp4", 80, FPS, timestamps=np.cumsum(gaps) - gaps[0])
    ann = annotations({
        "take 1, ä.mp4": [("wave, hand", 13, 41), ("Grüßen", 0, 0), ("Grüßen", 100, 119)],
        "cam/hall.avi": [("wave, hand", 5, 30), ("a/b", 61, 89)],
        "vfr.mp4": [("Grüßen", 7, 50)],
    })  # fmt: skip
    result = cut_clips(ann, src, tmp_path / "out", workers=1, progress=False)
    assert (result.written, result.skipped, result.failed) == (6, 0, [])
    out = tmp_path / "out"
    expected = {
        "wave, hand/take 1, ä__13-41.mp4": (13, 41),
        "Grüßen/take 1, ä__0-0.mp4": (0, 0),
        "Grüßen/take 1, ä__100-119.mp4": (100, 119),
        "wave, hand/cam__hall__5-30.mp4": (5, 30),
        "a_b/cam__hall__61-89.mp4": (61, 89),
        "Grüßen/vfr__7-50.mp4": (7, 50),
    }
    for rel, (first, last) in expected.items():
        assert indices(out / rel) == list(range(first, last + 1)), rel
    listed = {r["path"]: r for r in rows(out / "clips.csv")}
    assert set(listed) == set(expected)
    assert listed["Grüßen/vfr__7-50.mp4"]["video"] == "vfr.mp4"
    assert float(listed["wave, hand/take 1, ä__13-41.mp4"]["start"]) == pytest.approx(13 / FPS)
    assert (out / "classes.txt").read_text(encoding="utf-8").split("\n") == [
        "Grüßen", "a_b", "wave, hand", ""
    ]  # fmt: skip
    assert result.classes == {"Grüßen": 3, "a_b": 1, "wave, hand": 2}


def test_short_side_scales_down_and_keeps_the_frames(tmp_path):
    write_indexed_video(tmp_path / "v.mp4", 40, FPS)
    cut_clips(annotations({"v.mp4": [("x", 9, 20)]}), tmp_path, tmp_path / "out",
              short_side=60, workers=1, progress=False)  # fmt: skip
    clip = tmp_path / "out" / "x" / "v__9-20.mp4"
    with open_video(clip) as video:
        assert (video.info.width, video.info.height, video.info.fps) == (80, 60, FPS)
    assert indices(clip) == list(range(9, 21))


def test_safe_names_keep_letters_and_replace_what_a_file_system_refuses():
    assert safe_name("Grüßen, ok 1") == "Grüßen, ok 1"
    assert safe_name('a/b\\c:d*e?f"g<h>i|j\x01') == "a_b_c_d_e_f_g_h_i_j_"
    assert safe_name(".hidden.") == "_hidden"
    assert safe_name("..") == "_"


def test_labels_that_become_one_folder_are_refused(tmp_path):
    ann = annotations({"v.mp4": [("a/b", 0, 4), ("a:b", 5, 9)]})
    with pytest.raises(ValueError, match="'a/b' and 'a:b'"):
        cut_clips(ann, tmp_path, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


# -- background clips ------------------------------------------------------------------------------
def test_negatives_keep_the_margin_and_take_positive_lengths(untrimmed, tmp_path):
    ann = read_annotations(untrimmed / GROUND_TRUTH_FILE, videos=untrimmed)
    result = cut_clips(ann, untrimmed, tmp_path / "out", negatives=8, margin=0.5, workers=1,
                       progress=False)  # fmt: skip
    assert result.ok and result.negatives == 8 and result.classes["background"] == 8
    listed = rows(tmp_path / "out" / "clips.csv")
    positives = [r for r in listed if r["label"] != "background"]
    lengths = {int(r["end_frame"]) - int(r["start_frame"]) for r in positives}
    pad = math.ceil(0.5 * FPS)
    background = [r for r in listed if r["label"] == "background"]
    assert len(background) == 8 and len({r["video"] for r in background}) >= 3
    for neg in background:
        a, b = int(neg["start_frame"]), int(neg["end_frame"])
        assert b - a in lengths  # a positive's length
        for other in listed:
            if other["video"] == neg["video"] and other is not neg:
                gap = pad if other["label"] != "background" else 0
                c, d = int(other["start_frame"]), int(other["end_frame"])
                assert b + gap < c or d + gap < a, (neg, other)
        with open_video(tmp_path / "out" / neg["path"]) as video:
            frames = video.read(list(range(len(video)))).astype(np.int16)
        assert len(frames) == b - a + 1
        assert np.abs(np.diff(frames, axis=0)).mean() < 2.0  # a still stretch: background


def test_negatives_are_fewer_when_there_is_no_room(untrimmed, tmp_path):
    ann = read_annotations(untrimmed / GROUND_TRUTH_FILE, videos=untrimmed)
    ann.videos = {"video_000.mp4": ann.videos["video_000.mp4"]}
    result = cut_clips(ann, untrimmed, tmp_path / "out", negatives=40, margin=0.5, workers=1,
                       progress=False)  # fmt: skip
    assert 0 < result.negatives < 40
    assert f"{result.negatives} of the 40 negatives" in str(result)


def test_a_label_named_like_the_background_is_refused(tmp_path):
    write_indexed_video(tmp_path / "v.mp4", 200, FPS)
    ann = annotations({"v.mp4": [("background", 0, 9), ("walk", 100, 119)]})
    with pytest.raises(ValueError, match=r"background='background' is also one of your labels"):
        cut_clips(ann, tmp_path, tmp_path / "out", negatives=2, progress=False)
    result = cut_clips(ann, tmp_path, tmp_path / "out", negatives=2, background="nothing",
                       workers=1, progress=False)  # fmt: skip
    assert result.classes == {"background": 1, "nothing": 2, "walk": 1}


# -- the split by source video ---------------------------------------------------------------------
def test_the_split_keeps_each_video_whole_and_every_class_in_train():
    clips = []
    for v in range(20):  # class "rare" in two videos only
        labels = ["a", "b"] + (["rare"] if v in (3, 17) else [])
        clips += [make_clip(f"v{v}.mp4", x, f"v{v}", i, i + 5, 0.0, 1.0) for i, x in
                  enumerate(labels * 3)]  # fmt: skip
    split = assign_splits(clips, (0.7, 0.15, 0.15), seed=0)
    assert Counter(split.values()) == {"train": 14, "val": 3, "test": 3}
    assert {c.label for c in clips if split[c.video] == "train"} == {"a", "b", "rare"}
    assert assign_splits(clips, (0.7, 0.15, 0.15), seed=0) == split  # deterministic
    assert assign_splits(clips, (0.7, 0.15, 0.15), seed=1) != split


def test_two_videos_give_train_and_val_and_no_empty_test_file(tmp_path, caplog):
    for name in ("a.mp4", "b.mp4"):
        write_indexed_video(tmp_path / name, 30, FPS)
    ann = annotations({"a.mp4": [("x", 0, 9), ("y", 10, 19)], "b.mp4": [("x", 3, 12)]})
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "test.csv").write_text("path,label\nold.mp4,x\n")  # an earlier run's
    (tmp_path / "out" / "x").mkdir()
    (tmp_path / "out" / "x" / "old__0-9.mp4").write_bytes(b"an earlier run's clip")
    result = cut_clips(ann, tmp_path, tmp_path / "out", workers=1, progress=False)
    assert result.splits == {"train": (2, 1), "val": (1, 1), "test": (0, 0)}
    assert not (tmp_path / "out" / "test.csv").exists()
    assert "no clips for the test split" in caplog.text
    assert "1 clips there are not in these annotations" in caplog.text
    train = VideoDataset.from_list(tmp_path / "out" / "train.csv")
    assert sorted(train.classes) == ["x", "y"]


# -- resuming and failures -------------------------------------------------------------------------
def test_a_second_run_writes_nothing_and_keeps_the_split(untrimmed, tmp_path):
    ann = read_annotations(untrimmed / GROUND_TRUTH_FILE, videos=untrimmed)
    first = cut_clips(ann, untrimmed, tmp_path / "out", negatives=4, workers=1, progress=False)
    lists = {n: (tmp_path / "out" / n).read_bytes() for n in ("train.csv", "val.csv", "test.csv")}
    (tmp_path / "out" / rows(tmp_path / "out" / "clips.csv")[0]["path"]).unlink()
    second = cut_clips(ann, untrimmed, tmp_path / "out", negatives=4, workers=1, progress=False)
    assert (second.written, second.skipped) == (1, first.written - 1)
    third = cut_clips(ann, untrimmed, tmp_path / "out", negatives=4, workers=1, progress=False)
    assert (third.written, third.skipped) == (0, first.written)
    assert {n: (tmp_path / "out" / n).read_bytes() for n in lists} == lists


def test_bad_videos_and_segments_fail_alone(tmp_path):
    write_indexed_video(tmp_path / "good.mp4", 40, FPS)
    (tmp_path / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    ann = annotations({
        "good.mp4": [("x", 2, 11), ("x", 30, 45)],  # the second ends past frame 39
        "corrupt.mp4": [("x", 0, 9)],
        "missing.mp4": [("y", 0, 9)],
    })  # fmt: skip
    result = cut_clips(ann, tmp_path, tmp_path / "out", workers=2, progress=False)
    assert result.written == 1 and not result.ok
    failed = dict(result.failed)
    assert set(failed) == {"corrupt.mp4 frames 0-9", "good.mp4 frames 30-45",
                           "missing.mp4 frames 0-9"}  # fmt: skip
    assert "past the video's last frame 39" in failed["good.mp4 frames 30-45"]
    assert "no such file" in failed["missing.mp4 frames 0-9"]
    assert indices(tmp_path / "out" / "x" / "good__2-11.mp4") == list(range(2, 12))
    assert [r["path"] for r in rows(tmp_path / "out" / "clips.csv")] == ["x/good__2-11.mp4"]
    assert rows(tmp_path / "out" / "train.csv") == [{"path": "x/good__2-11.mp4", "label": "x"}]
    assert sorted(p.name for p in (tmp_path / "out" / "x").iterdir()) == ["good__2-11.mp4"]


# -- the command and the result as a dataset -------------------------------------------------------
def test_cli_cuts_splits_and_the_result_loads(untrimmed, tmp_path, capsys):
    out = tmp_path / "clips"
    argv = ["clips", str(untrimmed / GROUND_TRUTH_FILE), "--videos", str(untrimmed),
            "--out", str(out), "--negatives", "4", "--margin", "0.5", "--workers", "1"]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "grouped by source video: no video in two splits" in text
    assert "background 4" in text and "16 written" in text
    listed = rows(out / "clips.csv")
    by_video = {}
    for r in listed:
        by_video.setdefault(r["video"], set()).add(r["split"])
    assert all(len(s) == 1 for s in by_video.values())
    classes = (out / "classes.txt").read_text().split()
    assert classes == ["background", "growing", "moving_left", "moving_right"]
    folder = VideoDataset.from_folder(out)
    assert folder.classes == classes and len(folder) == 16
    for split in ("train", "val", "test"):
        part = rows(out / f"{split}.csv")
        assert {r["path"] for r in part} == {r["path"] for r in listed if r["split"] == split}
        data = VideoDataset.from_list(out / f"{split}.csv", out, classes=out / "classes.txt")
        assert len(data) == len(part)
    train = VideoDataset.from_list(out / "train.csv")
    assert train.classes == classes  # every class has a video in train
    assert train.check(workers=1, progress=False).ok  # every clip decodes
    assert main(argv) == 0
    assert "0 written, 16 skipped" in capsys.readouterr().out


def test_cli_refuses_unusable_arguments_before_doing_anything(tmp_path, capsys):
    (tmp_path / "videos").mkdir()
    out = tmp_path / "out"
    missing = ["clips", str(tmp_path / "nope.json"), "--videos", str(tmp_path / "videos"),
               "--out", str(out)]  # fmt: skip
    assert main(missing) == 2
    assert "ANNOTATIONS" in capsys.readouterr().err
    ann = tmp_path / "annotations.json"
    save_annotations(ann, annotations({"v.mp4": [("background", 0, 9)]}), expected_revision=None)
    no_dir = ["clips", str(ann), "--videos", str(tmp_path / "nope"), "--out", str(out)]
    assert main(no_dir) == 2
    assert "--videos" in capsys.readouterr().err
    clash = ["clips", str(ann), "--videos", str(tmp_path / "videos"), "--out", str(out),
             "--negatives", "3"]  # fmt: skip
    assert main(clash) == 2
    assert "--background NAME" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:  # a bad command line: argparse's usage, status 2
        main([*clash[:-2], "--split", "0.5,0.6,0.1"])
    assert stop.value.code == 2 and "summing to 1" in capsys.readouterr().err
    assert not out.exists()


def test_cli_exit_status_1_when_clips_failed(tmp_path, capsys):
    write_indexed_video(tmp_path / "v.mp4", 30, FPS)
    ann = tmp_path / "annotations.json"
    save_annotations(ann, annotations({"v.mp4": [("x", 0, 9), ("x", 20, 40)]}),
                     expected_revision=None)  # fmt: skip
    argv = ["clips", str(ann), "--videos", str(tmp_path), "--out", str(tmp_path / "out"),
            "--workers", "1"]  # fmt: skip
    assert main(argv) == 1
    text = capsys.readouterr().out
    assert "1 written" in text and "failed: v.mp4 frames 20-40" in text
    assert (tmp_path / "out" / "x" / "v__0-9.mp4").is_file()


def test_cli_reads_a_plain_csv_with_commas_spaces_and_accents(tmp_path, capsys):
    write_indexed_video(tmp_path / "videos" / "Küche, take 2.mp4", 50, FPS)
    table = tmp_path / "segments.csv"
    table.write_text('video,start,end,label\n"Küche, take 2.mp4",0.4,1.2,"Hände waschen"\n',
                     encoding="utf-8")  # fmt: skip
    out = tmp_path / "out"
    argv = ["clips", str(table), "--videos", str(tmp_path / "videos"), "--out", str(out),
            "--workers", "1"]  # fmt: skip
    assert main(argv) == 0
    assert "Hände waschen 1" in capsys.readouterr().out
    assert indices(out / "Hände waschen" / "Küche, take 2__10-29.mp4") == list(range(10, 30))
    assert rows(out / "train.csv") == [
        {"path": "Hände waschen/Küche, take 2__10-29.mp4", "label": "Hände waschen"}
    ]


def test_a_csv_naming_a_missing_video_cuts_the_others_and_names_it(tmp_path, capsys):
    write_indexed_video(tmp_path / "videos" / "here.mp4", 50, FPS)
    table = tmp_path / "segments.csv"
    table.write_text(
        "video,start,end,label\nhere.mp4,0.4,1.2,wave\ngone.mp4,0.0,1.0,wave\n"
        "gone.mp4,1.0,1.5,wave\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    argv = ["clips", str(table), "--videos", str(tmp_path / "videos"), "--out", str(out),
            "--workers", "1"]  # fmt: skip
    assert main(argv) == 0
    assert "'gone.mp4' not found" in capsys.readouterr().err
    assert indices(out / "wave" / "here__10-29.mp4") == list(range(10, 30))
