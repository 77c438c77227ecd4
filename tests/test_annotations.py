"""annotations.json: frames and seconds agree, saves are atomic, revisioned and backed up, and a
broken file is named with its line and never overwritten."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from actionkit.annotate.annotations import (
    AnnotationError,
    Annotations,
    Segment,
    StaleRevisionError,
    VideoAnnotation,
    frames_to_seconds,
    load_annotations,
    parse_annotations,
    save_annotations,
    seconds_to_frames,
)


def sample(label: str = "wave") -> Annotations:
    seg = Segment(label, 25, 49, *frames_to_seconds(25, 49, 25.0), author="ana")
    return Annotations(["walk", label], {"kitchen/take 1.mp4": VideoAnnotation(25.0, 250, [seg])})


@pytest.mark.parametrize("fps", [25.0, 29.97, 30000 / 1001, 12.5, 60.0])
def test_frames_and_seconds_round_trip(fps):
    for first in (0, 1, 7, 99, 1234):
        for length in (1, 2, 33):
            start, end = frames_to_seconds(first, first + length - 1, fps)
            assert seconds_to_frames(start, end, fps) == (first, first + length - 1)


def test_frames_of_a_variable_rate_video_come_from_its_times():
    times = [0.0, 0.04, 0.12, 0.13, 0.30, 0.31]
    start, end = frames_to_seconds(2, 3, 20.0, times)
    assert (start, end) == (0.12, 0.30)
    assert seconds_to_frames(start, end, 20.0, 6, times) == (2, 3)
    assert seconds_to_frames(0.0, 10.0, 20.0, 6, times) == (0, 5)  # clamped to the video


def test_frames_of_uneven_intervals_snap_to_their_own_boundaries():
    times = [0.0, 0.04, 0.08, 0.5, 0.54, 1.0]  # 40 ms apart, then gaps: average far from 40 ms
    for first in range(6):
        for last in range(first, 6):
            start, end = frames_to_seconds(first, last, 6 / 1.04, times)
            assert seconds_to_frames(start, end, 6 / 1.04, 6, times) == (first, last)


def test_seconds_always_give_one_frame_inside_the_video():
    assert seconds_to_frames(3.0, 3.001, 25.0, 50) == (49, 49)
    assert seconds_to_frames(0.0, 0.001, 25.0) == (0, 0)


def test_save_then_load_gives_the_same_annotations(tmp_path):
    path = tmp_path / "annotations.json"
    ann = sample()
    assert save_annotations(path, ann, expected_revision=0) == 1
    back = load_annotations(path)
    assert back == ann and back.revision == 1
    assert (
        json.loads(path.read_text(encoding="utf-8"))["videos"]["kitchen/take 1.mp4"]["segments"][0][
            "end_frame"
        ]
        == 49
    )
    assert not (tmp_path / "annotations.json.bak").exists()  # nothing before the first save


def test_a_stale_revision_is_refused_and_the_file_kept(tmp_path):
    path = tmp_path / "annotations.json"
    save_annotations(path, sample("wave"), expected_revision=0)
    save_annotations(path, sample("jump"), expected_revision=1)  # tab A
    before = path.read_bytes()
    with pytest.raises(StaleRevisionError, match=r"revision 2.*revision 1.*reload"):
        save_annotations(path, sample("fall"), expected_revision=1)  # tab B, from revision 1
    assert path.read_bytes() == before
    assert load_annotations(tmp_path / "annotations.json.bak").labels == ["walk", "wave"]


def test_invalid_json_is_named_by_line_and_never_overwritten(tmp_path):
    path = tmp_path / "annotations.json"
    text = '{\n "labels": ["a"],\n "videos": {,}\n}\n'
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AnnotationError, match=r"annotations.json: invalid JSON at line 3, column"):
        load_annotations(path)
    with pytest.raises(AnnotationError, match="line 3"):
        save_annotations(path, sample(), expected_revision=None)
    assert path.read_text(encoding="utf-8") == text


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["videos"].update({"../x.mp4": {"segments": []}}), "not a relative path"),
        (lambda d: d["videos"].update({"/etc/x.mp4": {"segments": []}}), "not a relative path"),
        (lambda d: d["videos"].update({"a\\..\\x.mp4": {"segments": []}}), "not a relative path"),
        (lambda d: _seg(d).update(end_frame=300), "past the video's 250 frames"),
        (lambda d: _seg(d).update(start_frame=60), "0 <= start <= end"),
        (lambda d: _seg(d).update(label=""), "non-empty string"),
        (lambda d: _seg(d).update(label="a\nb"), "one line"),
        (lambda d: _seg(d).pop("start"), "missing start"),
        (lambda d: _seg(d).update(source="robot"), "manual, suggested, imported"),
        (lambda d: d.update(revision=-1), "revision -1"),
        (lambda d: d.update(format="via"), "format 'via'"),
    ],
)
def test_a_wrong_field_is_named(edit, message):
    data = sample().to_dict()
    edit(data)
    with pytest.raises(AnnotationError, match=message) as info:
        parse_annotations(data, "ann.json")
    assert str(info.value).startswith("ann.json")


def _seg(data: dict) -> dict:
    return data["videos"]["kitchen/take 1.mp4"]["segments"][0]


def test_merge_adds_new_segments_and_labels_only():
    ours, theirs = sample("wave"), sample("wave")
    extra = Segment("jump", 60, 70, *frames_to_seconds(60, 70, 25.0))
    theirs.videos["kitchen/take 1.mp4"].segments.insert(0, extra)
    theirs.videos["new.mp4"] = VideoAnnotation(30.0, 90, [extra])
    assert ours.merge(theirs) == 2
    assert ours.labels == ["walk", "wave", "jump"]
    frames = [(s.start_frame, s.label) for s in ours.videos["kitchen/take 1.mp4"].segments]
    assert frames == [(25, "wave"), (60, "jump")]  # in time order, the wave once
    assert ours.videos["new.mp4"].fps == 30.0 and ours.merge(theirs) == 0


def test_labels_used_but_missing_from_the_set_are_listed():
    ann = sample("jump")
    ann.labels = ["walk"]
    assert ann.all_labels() == ["walk", "jump"] and ann.num_segments() == 1


_SAVER = """
import sys
from actionkit.annotate.annotations import *
path = sys.argv[1]
rev = load_annotations(path).revision
print("ready", flush=True)
while True:
    ann = Annotations([f"label {rev} {i} " + "x" * 150 for i in range(300)])
    rev = save_annotations(path, ann, expected_revision=rev)
"""


def test_a_kill_during_saves_leaves_a_whole_file(tmp_path):
    path = tmp_path / "annotations.json"
    save_annotations(path, sample(), expected_revision=None)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    for delay in (0.3, 0.45, 0.6):
        proc = subprocess.Popen(
            [sys.executable, "-c", _SAVER, str(path)], stdout=subprocess.PIPE, env=env
        )
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        ann = load_annotations(path)  # whole: parses, and is one of the saves
        assert ann.revision >= 2 and len(ann.labels) in (2, 300)
        load_annotations(tmp_path / "annotations.json.bak")
    save_annotations(path, sample(), expected_revision=None)  # the next save tidies up
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
