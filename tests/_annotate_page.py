"""The annotation page in a real Chromium: the browser fixture and a tab that reads the frame shown.

The videos are generated with their frame index drawn on each frame (tests/_indexed.py), so a
test reads which frame the ``<video>`` element really shows (drawn to a canvas in the page) and
compares it with the page's frame counter and with what ``annotations.json`` says. The test
modules make their fixtures from :func:`chromium` and :func:`serving`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import shutil
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from actionkit.annotate.server import AnnotationServer
from tests import _browser
from tests._indexed import read_index, write_indexed_video

FPS = 25.0

# The frame the <video> element shows, drawn small to a canvas (same origin: readable), as RGBA.
READ_FRAME = """() => {
    const c = document.createElement('canvas');
    c.width = 80; c.height = 16;
    const ctx = c.getContext('2d', {willReadFrequently: true});
    ctx.drawImage(document.getElementById('video'), 0, 0, c.width, c.height);
    return [c.width, c.height, Array.from(ctx.getImageData(0, 0, c.width, c.height).data)];
}"""


def missing() -> str | None:
    """Why the page tests cannot run here (what to install), or None when they can."""
    if _browser.find_chromium() is None:
        return "Chromium is not installed (apt-get install -y chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install playwright)"
    return None


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (Playwright's ``Browser``), closed after; skips the test where there
    is none. One per test module: each test opens its own contexts."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=_browser.find_chromium(),
            args=["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", "--disable-sync", "--autoplay-policy=no-user-gesture-required"],
        )  # fmt: skip
        try:
            yield browser
        finally:
            browser.close()


def write_library(root: Path) -> Path:
    """The browser tests' videos: ``steps.mp4`` (60 frames), ``clip.avi`` (MPEG-4 Part 2, 40
    frames: the browser needs a proxy) and ``vfr.mp4`` (30 frames, variable frame rate)."""
    write_indexed_video(root / "steps.mp4", 60, FPS)
    write_indexed_video(root / "clip.avi", 40, FPS, codec="mpeg4")
    times = np.cumsum([0.0] + [0.04 if i % 3 else 0.1 for i in range(29)])
    write_indexed_video(root / "vfr.mp4", 30, FPS, timestamps=list(times))
    return root


@contextlib.contextmanager
def serving(tmp_path: Path, library: Path) -> Iterator[Callable[..., AnnotationServer]]:
    """``start(names, folder="videos", **kwargs)``: a started server on a folder of videos
    copied from ``library`` (``names``: {name in the folder: file in library}); all stopped
    after."""
    servers: list[AnnotationServer] = []

    def start(names: dict[str, str], folder: str = "videos", **kwargs) -> AnnotationServer:
        root = tmp_path / folder
        root.mkdir(exist_ok=True)
        for name, source in names.items():
            shutil.copy(library / source, root / name)
        kwargs.setdefault("proxy_dir", tmp_path / "proxies")
        kwargs.setdefault("user", "tester")
        servers.append(AnnotationServer(root, **kwargs).start())
        return servers[-1]

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


class Page:
    """One browser tab on the annotation page, with the dialogs and page errors it raised."""

    def __init__(self, context, server: AnnotationServer) -> None:
        self.page = context.new_page()
        self.server = server
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(server.url)
        self.page.evaluate("() => window.ak.ready")

    def open(self, video: str) -> None:
        self.page.click(f'#videos li[data-path="{video}"]')
        self.wait_loaded(video)

    def wait_loaded(self, video: str) -> None:
        self.page.wait_for_function(
            "(v) => window.ak.path() === v && window.ak.settled()", arg=video, timeout=30_000
        )

    def reload(self, video: str) -> None:
        """Reload the page; the open video is kept in the URL's fragment."""
        self.page.reload()
        self.page.evaluate("() => window.ak.ready")
        self.wait_loaded(video)

    def press(self, key: str, times: int = 1) -> None:
        for _ in range(times):
            self.page.keyboard.press(key)

    def shown(self) -> int:
        """The frame the video element shows once the last seek has been presented."""
        self.page.wait_for_function("() => window.ak.settled()", timeout=10_000)
        width, height, data = self.page.evaluate(READ_FRAME)
        return read_index(np.array(data, np.uint8).reshape(height, width, 4)[..., :3])

    def frame(self) -> int:
        return int(self.page.inner_text("#frame"))

    def status(self) -> str:
        return self.page.inner_text("#status")

    def wait_saved(self, revision: int) -> None:
        try:
            self.page.wait_for_function(
                "(r) => document.getElementById('status').textContent === `saved rev ${r}`",
                arg=revision,
                timeout=10_000,
            )
        except Exception:
            raise AssertionError(f"not saved as revision {revision}: {self.status()}") from None

    def at(self, frame: int) -> tuple[int, int]:
        """Step there with the arrow keys; (counter, shown frame)."""
        delta = frame - self.frame()
        self.press("ArrowRight" if delta > 0 else "ArrowLeft", abs(delta))
        return self.frame(), self.shown()

    def mark(self, first: int, last: int, label_key: str) -> None:
        self.at(first)
        self.press("[")
        self.at(last)
        self.press("]")
        self.press(label_key)
        self.press("Enter")

    def segment_rows(self) -> list[tuple[str, int, int]]:
        """The segments table: (label, start frame, end frame) of each row."""
        rows = self.page.locator("#segments tbody tr")
        return [
            (
                rows.nth(i).locator("select").input_value(),
                int(rows.nth(i).locator("input").nth(0).input_value()),
                int(rows.nth(i).locator("input").nth(1).input_value()),
            )
            for i in range(rows.count())
        ]


def api(server: AnnotationServer, path: str) -> dict:
    """GET ``path`` from the server's JSON API, with the token."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}{path}", headers={"X-Actionkit-Token": server.token}
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


def saved(server: AnnotationServer) -> dict:
    """The server's ``annotations.json`` as written."""
    return json.loads(server.annotations_path.read_text(encoding="utf-8"))
