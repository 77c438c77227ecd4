"""The annotation page in a real Chromium against the real :class:`AnnotationServer` (issue 11).

The videos are generated with their frame index drawn on each frame (tests/_indexed.py), so the
tests read which frame the ``<video>`` element really shows (drawn to a canvas in the page) and
compare it with the page's frame counter and with what ``annotations.json`` says
(tests/_annotate_page.py). One Chromium per module; each test has its own folder and server.

``ACTIONKIT_SCREENSHOT=1`` writes the guide's screenshot, ``video_annotation/annotate.png``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from actionkit.annotate.annotations import frames_to_seconds, load_annotations
from actionkit.annotate.server import AnnotationServer
from tests._annotate_page import FPS, Page, api, chromium, saved, serving, write_library

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "video_annotation" / "annotate.png"
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    """The module's generated videos, copied into each test's folder as it needs them."""
    return write_library(tmp_path_factory.mktemp("indexed"))


@pytest.fixture
def serve(tmp_path, library):
    """``serve(names, **kwargs)``: a started server on a folder of those videos (stopped after)."""
    with serving(tmp_path, library) as start:
        yield start


# -- stepping -------------------------------------------------------------------------------------
@pytest.mark.slow
def test_arrow_keys_step_frame_exactly_and_the_counter_matches_the_picture(browser, serve):
    server = serve({"steps.mp4": "steps.mp4", "vfr.mp4": "vfr.mp4"}, labels=["walk"])
    tab = Page(browser.new_context(), server)
    tab.open("steps.mp4")
    assert tab.shown() == 0 and tab.frame() == 0
    assert tab.page.inner_text("#total") == "60"
    tab.press("ArrowRight", 5)
    assert (tab.frame(), tab.shown()) == (5, 5)
    tab.press("Shift+ArrowRight")  # one second: round(25 fps) frames
    assert (tab.frame(), tab.shown()) == (30, 30)
    tab.press("ArrowLeft")
    assert (tab.frame(), tab.shown()) == (29, 29)
    tab.press("Shift+ArrowLeft", 2)  # clamped at the first frame
    assert (tab.frame(), tab.shown()) == (0, 0)
    tab.press("Shift+ArrowRight", 3)  # clamped at the last
    assert (tab.frame(), tab.shown()) == (59, 59)
    for k in (17, 16, 44, 1):  # single steps both ways, anywhere
        assert tab.at(k) == (k, k)
    # a click on the timeline seeks: its middle is the middle frame
    box = tab.page.locator("#timeline").bounding_box()
    tab.page.mouse.click(box["x"] + box["width"] * (40.5 / 60), box["y"] + box["height"] / 2)
    assert (tab.frame(), tab.shown()) == (40, 40)

    tab.at(0)  # Space plays; Space again pauses on a whole frame, the one the counter says
    tab.press(" ")
    tab.page.wait_for_function("() => window.ak.currentFrame() >= 5", timeout=10_000)
    tab.press(" ")
    shown = tab.shown()
    assert tab.frame() == shown >= 5 and tab.page.inner_text("#play") == "play"

    # variable frame rate: the page seeks by the probe's frame times, not by an average rate
    probe = api(server, "/api/probe?video=vfr.mp4")
    assert probe["frame_times"] is not None and not probe["proxy"]
    tab.open("vfr.mp4")
    for k in (1, 2, 3, 4, 9, 8, 20, 29):
        assert tab.at(k) == (k, k)
    assert tab.errors == []


# -- marking, saving, reloading -------------------------------------------------------------------
def test_marked_segments_are_saved_with_the_frames_shown_and_survive_a_reload(browser, serve):
    server = serve({"steps.mp4": "steps.mp4"}, labels=["walk", "wave"])
    context = browser.new_context()
    tab = Page(context, server)
    tab.page.fill("#user", "ana")
    tab.page.press("#user", "Tab")
    tab.page.locator("#user").blur()
    tab.open("steps.mp4")
    marks = []
    for first, last, key in ((3, 11, "1"), (20, 37, "2")):
        shown_first = tab.at(first)[1]
        tab.press("[")
        shown_last = tab.at(last)[1]
        tab.press("]")
        assert tab.page.inner_text("#start-mark") == str(first)
        assert tab.page.inner_text("#end-mark") == str(last)
        tab.press(key)
        assert "picked" in tab.page.locator("#labels li").nth(int(key) - 1).inner_html()
        tab.press("Enter")
        marks.append((shown_first, shown_last))
        tab.wait_saved(len(marks) + 1)  # revision 1 was the labels written at start
    assert marks == [(3, 11), (20, 37)]
    assert tab.page.locator('#videos li[data-path="steps.mp4"] .count').inner_text() == "2"

    tab.page.reload()
    tab.page.evaluate("() => window.ak.ready")
    tab.wait_loaded("steps.mp4")  # the open video is kept in the URL's fragment
    rows = tab.page.locator("#segments tbody tr")
    assert rows.count() == 2
    assert [rows.nth(i).locator("select").input_value() for i in range(2)] == ["walk", "wave"]
    starts = [rows.nth(i).locator("input").nth(0).input_value() for i in range(2)]
    ends = [rows.nth(i).locator("input").nth(1).input_value() for i in range(2)]
    assert (starts, ends) == (["3", "20"], ["11", "37"])
    assert tab.page.input_value("#user") == "ana"  # kept in localStorage

    data = saved(server)
    assert data["revision"] == 3 and data["labels"] == ["walk", "wave"]
    video = data["videos"]["steps.mp4"]
    assert (video["fps"], video["num_frames"]) == (FPS, 60)
    got = [(s["label"], s["start_frame"], s["end_frame"]) for s in video["segments"]]
    assert got == [("walk", 3, 11), ("wave", 20, 37)]
    for s, (first, last) in zip(video["segments"], marks, strict=True):
        assert (s["start"], s["end"]) == frames_to_seconds(first, last, FPS)
        assert (s["author"], s["source"]) == ("ana", "manual")
        assert s["created"].endswith("Z") and len(s["created"]) == 20
    assert load_annotations(server.annotations_path).num_segments() == 2
    assert tab.errors == [] and tab.dialogs == []


def test_the_segments_table_edits_deletes_and_undo_restores(browser, serve):
    server = serve({"steps.mp4": "steps.mp4"}, labels=["walk", "wave"])
    tab = Page(browser.new_context(), server)
    tab.open("steps.mp4")
    tab.mark(2, 9, "1")
    tab.wait_saved(2)
    row = tab.page.locator("#segments tbody tr").first
    row.locator("input").nth(1).fill("14")
    row.locator("input").nth(1).press("Enter")
    tab.wait_saved(3)
    tab.page.locator("#segments tbody tr").first.locator("select").select_option("wave")
    tab.wait_saved(4)
    (segment,) = saved(server)["videos"]["steps.mp4"]["segments"]
    assert (segment["label"], segment["start_frame"], segment["end_frame"]) == ("wave", 2, 14)
    assert (segment["start"], segment["end"]) == frames_to_seconds(2, 14, FPS)

    # an end past the video is refused and nothing is saved
    row = tab.page.locator("#segments tbody tr").first
    row.locator("input").nth(1).fill("60")
    row.locator("input").nth(1).press("Enter")
    assert "not inside 0..59" in tab.status()
    assert saved(server)["revision"] == 4

    tab.page.locator("#segments tbody tr td").nth(4).click()  # select the row (and seek there)
    assert (tab.frame(), tab.shown()) == (2, 2)
    tab.press("Backspace")
    tab.wait_saved(5)
    assert saved(server)["videos"]["steps.mp4"]["segments"] == []
    tab.press("Control+z")
    tab.wait_saved(6)
    (back,) = saved(server)["videos"]["steps.mp4"]["segments"]
    assert back == segment
    assert tab.page.locator("#segments tbody tr").count() == 1


# -- a video the browser cannot play --------------------------------------------------------------
def test_an_mpeg4_avi_plays_through_its_proxy_frame_exactly(browser, serve):
    server = serve({"clip.avi": "clip.avi"}, labels=["walk"])
    probe = api(server, "/api/probe?video=clip.avi")
    assert probe["proxy"] is True and probe["num_frames"] == 40
    tab = Page(browser.new_context(), server)
    tab.open("clip.avi")
    assert tab.page.inner_text("#total") == "40"
    for k in (7, 8, 6, 33, 39, 0):
        assert tab.at(k) == (k, k)
    tab.press("Shift+ArrowRight")
    assert (tab.frame(), tab.shown()) == (25, 25)
    tab.mark(10, 12, "1")
    tab.wait_saved(2)
    (segment,) = saved(server)["videos"]["clip.avi"]["segments"]
    assert (segment["start_frame"], segment["end_frame"]) == (10, 12)


# -- two tabs -------------------------------------------------------------------------------------
def test_a_save_from_a_stale_tab_is_refused_and_the_tab_says_so(browser, serve):
    server = serve({"steps.mp4": "steps.mp4"}, labels=["walk", "wave"])
    a = Page(browser.new_context(), server)
    b = Page(browser.new_context(), server)
    a.open("steps.mp4")
    b.open("steps.mp4")
    a.mark(1, 4, "1")
    a.wait_saved(2)
    b.mark(10, 12, "2")
    b.page.wait_for_function(
        "() => document.getElementById('status').textContent.includes('another tab')"
    )
    assert "reload" in b.status()
    kept = saved(server)
    assert kept["revision"] == 2
    assert [s["label"] for s in kept["videos"]["steps.mp4"]["segments"]] == ["walk"]
    b.mark(20, 22, "1")  # the stale tab saves nothing more, and keeps saying why
    b.page.wait_for_timeout(300)
    assert saved(server) == kept and "another tab" in b.status()
    a.page.reload()  # the tab that won still works
    a.page.evaluate("() => window.ak.ready")
    a.wait_loaded("steps.mp4")
    a.mark(30, 31, "2")
    a.wait_saved(3)


# -- hostile text ---------------------------------------------------------------------------------
def test_labels_authors_and_file_names_are_shown_as_text_never_run(browser, serve, tmp_path):
    name = "odd <b>bold & name.mp4"
    root = tmp_path / "videos"
    root.mkdir()
    author = "<svg onload=alert(2)>"
    segment = {"label": XSS, "start_frame": 0, "end_frame": 4, "start": 0.0, "end": 0.2}
    segment |= {"author": author, "created": "2026-01-01T00:00:00Z"}
    video = {"fps": FPS, "num_frames": 60, "segments": [segment]}
    data = {"revision": 1, "labels": [XSS], "videos": {name: video}}
    (root / "annotations.json").write_text(json.dumps(data), encoding="utf-8")
    server = serve({name: "steps.mp4"})  # the file above is there before the server starts
    tab = Page(browser.new_context(), server)
    item = tab.page.locator("#videos li").first
    assert item.get_attribute("data-path") == name
    assert item.locator(".name").text_content() == name
    tab.open(name)
    added = "<script>alert(3)</script>"
    tab.page.fill("#new-label", added)
    tab.page.click("#add-label")
    tab.wait_saved(2)
    names = tab.page.locator("#labels .name").all_text_contents()
    assert names == [XSS, added]
    row = tab.page.locator("#segments tbody tr").first
    assert row.locator("select option").all_text_contents() == [XSS, added]
    assert author in row.text_content()
    tab.page.wait_for_timeout(300)
    made = tab.page.evaluate(
        "() => document.querySelectorAll('img, svg, b, script:not([src])').length"
    )
    assert made == 0 and tab.dialogs == [] and tab.errors == []
    assert saved(server)["labels"] == [XSS, added]


# -- model proposals, and the guide's screenshot --------------------------------------------------
@pytest.fixture
def suggesting(tmp_path, library):
    """A server whose real Suggester runs an (untrained) tiny model over three indexed videos
    and one generated untrimmed video whose true segments were imported."""
    from actionkit.annotate.annotations import save_annotations
    from actionkit.annotate.formats import read_annotations
    from actionkit.annotate.suggest import Suggester
    from actionkit.datasets.untrimmed import make_untrimmed_videos
    from actionkit.models import save_model
    from tests._tiny import tiny_model

    root = tmp_path / "videos"
    make_untrimmed_videos(
        root, num_videos=1, actions_per_video=3, action_frames=(20, 30), still_frames=(8, 16)
    )
    (root / "ground_truth.csv").rename(tmp_path / "ground_truth.csv")
    truth = read_annotations(tmp_path / "ground_truth.csv", videos=root)
    save_annotations(root / "annotations.json", truth, expected_revision=None)
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        shutil.copy(library / "steps.mp4", root / name)
    classes = ["growing", "moving_left", "moving_right"]
    model = save_model(tiny_model(3, pretrained=False, classes=classes), tmp_path / "model.pt")
    server = AnnotationServer(root, labels=classes, user="ana", proxy_dir=tmp_path / "proxies")
    videos = ["a.mp4", "b.mp4", "c.mp4", "video_000.mp4"]
    server.suggestions = Suggester(model, root, videos, min_score=0.0)  # propose something
    server.start()
    yield server
    server.stop()


def _proposals(tab: Page, video: str) -> list[dict]:
    tab.open(video)
    tab.page.wait_for_function(
        "() => document.querySelectorAll('#proposals tbody tr').length > 0", timeout=60_000
    )
    answer = api(tab.server, f"/api/suggestions?video={video}")
    assert answer["status"] == "done" and answer["segments"]
    return answer["segments"]


@pytest.mark.slow
def test_proposals_are_accepted_adjusted_or_rejected(browser, suggesting):
    server = suggesting
    tab = Page(browser.new_context(viewport={"width": 1360, "height": 900}), server)
    assert tab.page.is_visible("#proposals-panel") is False  # only with an open video

    first = _proposals(tab, "a.mp4")[0]
    assert tab.page.locator("#tl-proposals .tl-prop").count() >= 1
    rev = saved(server)["revision"] + 1
    tab.page.locator("#proposals tbody tr").first.locator("button.accept").click()
    tab.wait_saved(rev)
    (segment,) = saved(server)["videos"]["a.mp4"]["segments"]
    assert segment["source"] == "suggested" and segment["author"] == "ana"
    frames = (segment["label"], segment["start_frame"], segment["end_frame"])
    assert frames == (first["label"], first["start_frame"], first["end_frame"])
    assert (segment["start"], segment["end"]) == frames_to_seconds(*frames[1:], FPS)

    second = _proposals(tab, "b.mp4")[0]
    tab.page.locator("#proposals tbody tr").first.get_by_text("adjust").click()
    assert tab.page.inner_text("#start-mark") == str(second["start_frame"])
    assert tab.page.inner_text("#end-mark") == str(second["end_frame"])
    assert tab.frame() == second["start_frame"] == tab.shown()
    picked = tab.page.locator("#labels .pick.picked .name").inner_text()
    assert picked == second["label"]
    start = min(second["start_frame"] + 5, second["end_frame"])
    tab.at(start)
    tab.press("[")
    tab.press("Enter")
    tab.wait_saved(rev + 1)
    (segment,) = saved(server)["videos"]["b.mp4"]["segments"]
    assert (segment["start_frame"], segment["end_frame"]) == (start, second["end_frame"])
    assert segment["source"] == "suggested"

    rows = len(_proposals(tab, "c.mp4"))
    tab.page.locator("#proposals tbody tr").first.locator("button.reject").click()
    assert tab.page.locator("#proposals tbody tr").count() == rows - 1
    tab.page.wait_for_timeout(200)
    assert saved(server)["revision"] == rev + 1 and "c.mp4" not in saved(server)["videos"]

    # the guide's picture: a video with segments, the labels, a proposal, marks being set
    _proposals(tab, "video_000.mp4")
    segments = saved(server)["videos"]["video_000.mp4"]["segments"]
    tab.page.locator("#segments tbody tr").nth(1).locator("td").nth(4).click()
    tab.at(segments[-1]["start_frame"] + 3)
    tab.press("[")
    tab.at(segments[-1]["start_frame"] + 12)
    tab.press("3")
    path = SCREENSHOT if os.environ.get("ACTIONKIT_SCREENSHOT") == "1" else tab_path(server)
    tab.page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    assert tab.errors == [] and tab.dialogs == []


def tab_path(server: AnnotationServer) -> Path:
    return server.video_dir.parent / "annotate.png"
