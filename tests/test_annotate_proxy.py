"""What the annotation page plays and is proposed: proxies, probes, frame times, suggestions."""

from __future__ import annotations

import json
import threading
import time

import pytest
import torch

from actionkit.annotate.annotations import frames_to_seconds
from actionkit.annotate.proxy import frame_times, needs_proxy, probe_for_browser, proxy_for
from actionkit.annotate.server import AnnotationServer
from actionkit.annotate.suggest import Suggester
from actionkit.models import save_model
from actionkit.video import open_video
from tests._indexed import read_index, write_indexed_video
from tests._tiny import tiny_model
from tests.test_annotate_server import request

VFR_TIMES = [0.0, 0.04, 0.08, 0.2, 0.24, 0.5, 0.54, 0.58, 0.62, 0.7, 0.74, 0.78]


def probe_answer(server, video):
    status, _, body = request(server, "GET", f"/api/probe?video={video}")
    assert status == 200, body
    return json.loads(body)


def test_which_files_need_a_proxy(tmp_path):
    assert not needs_proxy(write_indexed_video(tmp_path / "h264.mp4", 5))
    assert not needs_proxy(write_indexed_video(tmp_path / "vp9.webm", 5, codec="libvpx-vp9"))
    assert needs_proxy(write_indexed_video(tmp_path / "mpeg4.avi", 5, codec="mpeg4"))
    assert needs_proxy(write_indexed_video(tmp_path / "mpeg4.mp4", 5, codec="mpeg4"))
    assert needs_proxy(write_indexed_video(tmp_path / "mjpeg.avi", 5, codec="mjpeg"))
    assert needs_proxy(write_indexed_video(tmp_path / "h264.mkv", 5))  # not a browser container
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all")
    assert needs_proxy(tmp_path / "junk.mp4")


def test_an_avi_is_played_as_an_h264_proxy_with_the_same_frames(tmp_path):
    folder = tmp_path / "videos"
    write_indexed_video(folder / "clip.avi", 40, codec="mpeg4")
    proxies = tmp_path / "proxies"
    with AnnotationServer(folder, proxy_dir=proxies) as server:
        answer = probe_answer(server, "clip.avi")
        status, headers, body = request(server, "GET", "/media?video=clip.avi")
    assert answer["proxy"] is True and answer["codec"] == "mpeg4"
    assert answer["num_frames"] == 40 and answer["fps"] == 25.0
    assert answer["frame_times"] is None and answer["path"] == "clip.avi"
    assert status == 200 and headers["Content-Type"] == "video/mp4"
    served = tmp_path / "served.mp4"
    served.write_bytes(body)
    with open_video(served) as video:
        assert video.info.codec == "h264" and len(video) == 40
        assert [read_index(f) for f in video.read(range(40))] == list(range(40))
    assert sorted(p.name for p in folder.iterdir()) == ["clip.avi"]  # nothing written beside it
    assert [p.suffix for p in proxies.iterdir()] == [".mp4"]


def test_a_proxy_is_made_once_even_when_asked_for_twice_at_once(tmp_path):
    source = write_indexed_video(tmp_path / "clip.avi", 30, codec="mpeg4")
    made, inodes = [], []

    def ask():
        made.append(proxy_for(source, tmp_path / "cache"))
        inodes.append(made[-1].stat().st_ino)  # a second transcode would rename a new file in

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(made) == 2 and made[0] == made[1]
    assert inodes[0] == inodes[1] == made[0].stat().st_ino
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [made[0].name]
    stamp = made[0].stat().st_mtime_ns
    assert proxy_for(source, tmp_path / "cache").stat().st_mtime_ns == stamp  # cached
    write_indexed_video(source, 31, codec="mpeg4")  # an edited source gets a new proxy
    assert proxy_for(source, tmp_path / "cache") != made[0]


def test_a_variable_frame_rate_file_comes_with_its_frame_times(tmp_path):
    folder = tmp_path / "videos"
    write_indexed_video(folder / "vfr.mp4", len(VFR_TIMES), timestamps=VFR_TIMES)
    write_indexed_video(folder / "cfr.mp4", 12, fps=30)
    write_indexed_video(folder / "cfr.webm", 12, fps=30, codec="libvpx-vp9")  # ms timestamps
    with AnnotationServer(folder, proxy_dir=tmp_path / "proxies") as server:
        vfr = probe_answer(server, "vfr.mp4")
        cfr, webm = probe_answer(server, "cfr.mp4"), probe_answer(server, "cfr.webm")
    assert vfr["proxy"] is False and vfr["num_frames"] == len(VFR_TIMES)
    assert vfr["frame_times"] == pytest.approx(VFR_TIMES, abs=1e-3)
    assert cfr["frame_times"] is None and cfr["num_frames"] == 12 and cfr["fps"] == 30
    assert webm["frame_times"] is None and webm["proxy"] is False
    assert frame_times(folder / "vfr.mp4") == pytest.approx(VFR_TIMES, abs=1e-3)


def test_a_probe_is_cached_per_file_version(tmp_path):
    path = write_indexed_video(tmp_path / "a.mp4", 10)
    assert probe_for_browser(path)["num_frames"] == 10
    write_indexed_video(path, 14)
    assert probe_for_browser(path)["num_frames"] == 14


# -- suggestions -----------------------------------------------------------------------------------
def constant_model(tmp_path, classes, winner):
    """A saved tiny model that always gives class ``winner`` about 0.99."""
    torch.manual_seed(0)
    model = tiny_model(num_classes=len(classes), pretrained=False)
    model.classes = list(classes)
    with torch.no_grad():
        model.fc.weight.zero_()
        model.fc.bias.zero_()
        model.fc.bias[winner] = 6.0
    return save_model(model, tmp_path / f"model_{classes[winner]}.pt")


def test_suggestions_reach_done_with_segments(tmp_path):
    folder = tmp_path / "videos"
    write_indexed_video(folder / "a.mp4", 60)
    write_indexed_video(folder / "b.avi", 30, codec="mpeg4")
    (folder / "broken.mp4").write_bytes(b"\0" * 100)
    model = constant_model(tmp_path, ["walk", "background"], 0)
    with AnnotationServer(folder, suggest_model=model, proxy_dir=tmp_path / "proxies") as server:
        answers = {}
        deadline = time.monotonic() + 120
        while len(answers) < 3 and time.monotonic() < deadline:
            for video in ("a.mp4", "b.avi", "broken.mp4"):
                status, _, body = request(server, "GET", f"/api/suggestions?video={video}")
                assert status == 200
                got = json.loads(body)
                assert got["status"] in ("pending", "running", "done", "error")
                if got["status"] in ("done", "error"):
                    answers[video] = got
            time.sleep(0.2)
        assert json.loads(request(server, "GET", "/api/state")[2])["suggest"] is True
    assert answers["broken.mp4"]["status"] == "error" and answers["broken.mp4"]["error"]
    for video, frames in (("a.mp4", 60), ("b.avi", 30)):  # one segment: the whole video
        assert answers[video]["status"] == "done" and answers[video]["error"] is None
        [segment] = answers[video]["segments"]
        assert segment["label"] == "walk" and segment["score"] > 0.95
        assert (segment["start_frame"], segment["end_frame"]) == (0, frames - 1)
        seconds = frames_to_seconds(0, frames - 1, 25.0)
        assert (segment["start"], segment["end"]) == pytest.approx(seconds)


def test_suggestions_never_propose_background_and_survive_a_bad_model(tmp_path):
    folder = tmp_path / "videos"
    write_indexed_video(folder / "a.mp4", 30)
    model = constant_model(tmp_path, ["background", "walk"], 0)
    suggester = Suggester(model, folder, ["a.mp4"])
    assert suggester.wait(120)
    assert suggester.status("a.mp4") == {"status": "done", "error": None, "segments": []}
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    broken = Suggester(tmp_path / "bad.pt", folder, ["a.mp4"])
    assert broken.wait(60)
    answer = broken.status("a.mp4")
    assert answer["status"] == "error" and "bad.pt" in answer["error"]
    assert broken._thread.is_alive()  # still there for the next video
    broken.stop()


def test_off_without_a_model(tmp_path):
    folder = tmp_path / "videos"
    write_indexed_video(folder / "a.mp4", 5)
    with AnnotationServer(folder) as server:
        status, _, body = request(server, "GET", "/api/suggestions?video=a.mp4")
    assert status == 200
    assert json.loads(body) == {"status": "off", "error": None, "segments": []}


def test_the_video_the_page_asks_for_goes_first(tmp_path):
    suggester = Suggester(tmp_path / "model.pt", tmp_path, ["a.mp4", "b.mp4", "c.mp4"], start=False)
    assert suggester.status("c.mp4")["status"] == "pending"
    assert list(suggester._queue) == ["c.mp4", "a.mp4", "b.mp4"]
    suggester.prioritize("b.mp4")
    assert list(suggester._queue) == ["b.mp4", "c.mp4", "a.mp4"]
