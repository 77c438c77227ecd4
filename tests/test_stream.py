"""Live frame sources (actionkit.video.stream): files, iterables, pushed frames, HTTP streams.

No camera is needed: the camera test opens an index no machine has. The stream tests serve an
MPEG-TS made with PyAV over http.server on 127.0.0.1, paced at real time, and restart it.
"""

from __future__ import annotations

import http.server
import io
import socket
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from actionkit.video import (
    Frame,
    FrameSource,
    PushSource,
    SourceError,
    _capture,
    open_source,
    open_video,
    write_video,
)


def _clip(path: Path, n: int = 30, fps: float = 30.0, size: tuple[int, int] = (48, 64)) -> Path:
    """A small clip whose frames differ (a moving bar over a gradient)."""
    h, w = size
    frames = np.zeros((n, h, w, 3), np.uint8)
    frames[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)
    for i in range(n):
        frames[i, :, (2 * i) % w, 1] = 255
        frames[i, ..., 2] = (7 * i) % 256
    return write_video(path, frames, fps=fps)


# -- files ---------------------------------------------------------------------------------------
def test_file_as_fast_as_possible_gives_every_frame_exactly(tmp_path):
    path = _clip(tmp_path / "clip.mp4", n=24)
    with open_video(path) as video:
        expected = video.read(np.arange(len(video)))
    with open_source(path, realtime=False) as src:
        assert not src.live and src.fps == pytest.approx(30.0)
        frames = list(src)
    assert [f.index for f in frames] == list(range(24))
    assert all(isinstance(f, Frame) and f.image.dtype == np.uint8 for f in frames)
    np.testing.assert_array_equal(np.stack([f.image for f in frames]), expected)
    pts = [f.pts for f in frames]
    assert pts[0] == pytest.approx(0.0, abs=1e-6) and np.all(np.diff(pts) > 0)
    assert src.closed


def test_file_in_real_time_takes_its_duration(tmp_path):
    path = _clip(tmp_path / "one_second.mp4", n=30, fps=30.0)
    src = open_source(path)  # realtime by default
    assert src.live
    start = time.monotonic()
    frames = list(src)
    elapsed = time.monotonic() - start
    assert len(frames) == 30
    assert 0.8 <= elapsed <= 3.0, elapsed
    stamps = np.array([f.timestamp for f in frames])
    np.testing.assert_allclose(np.diff(stamps), 1 / 30, atol=2e-3)
    assert start - 0.5 <= stamps[0] <= start + 2.0


def test_slow_consumer_does_not_make_the_clock_drift(tmp_path):
    path = _clip(tmp_path / "clip.mp4", n=30, fps=30.0)
    frames, received = [], []
    for frame in open_source(path):
        frames.append(frame)
        received.append(time.monotonic())
        if frame.index == 0:
            time.sleep(1.5)  # every later frame is now late: delivered at once, none skipped
    assert [f.index for f in frames] == list(range(30))
    # on schedule, the last frame comes 1.5 s after the first; a clock restarted after the
    # pause would hold it back another 29/30 s
    assert received[-1] - received[0] < 2.2, received[-1] - received[0]
    np.testing.assert_allclose(frames[-1].timestamp - frames[0].timestamp, 29 / 30, atol=2e-3)


def test_close_from_another_thread_ends_real_time_playback(tmp_path):
    path = _clip(tmp_path / "clip.mp4", n=30, fps=5.0)  # 6 s long
    src = open_source(path)
    threading.Timer(0.5, src.close).start()
    start = time.monotonic()
    count = sum(1 for _ in src)
    assert count < 30 and time.monotonic() - start < 4.0
    assert list(src) == []


@pytest.mark.parametrize("name", ["h264_340x256_30fps.mp4", "mpeg4_320x240_25fps.avi"])
def test_shared_real_clips_open(shared_videos, name):
    path = shared_videos / name
    with open_video(path) as video:
        info, first = video.info, video.read([0, 1, 2])
    with open_source(path, realtime=False) as src:
        assert src.name == str(path) and src.fps == pytest.approx(info.fps, rel=1e-3)
        frames = [next(src) for _ in range(3)]
    assert frames[0].image.shape == (info.height, info.width, 3)
    np.testing.assert_array_equal(np.stack([f.image for f in frames]), first)


def test_missing_file_names_it(tmp_path):
    missing = tmp_path / "nope.mp4"
    with pytest.raises(SourceError, match=r"nope\.mp4"):
        open_source(missing)
    with pytest.raises(SourceError, match="not a video file"):
        open_source(tmp_path)


def test_undecodable_file_raises_source_error(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(SourceError, match=r"junk\.mp4"):
        open_source(junk)


# -- iterables and pushed frames -----------------------------------------------------------------
def test_wrapped_iterables():
    images = [np.full((4, 6, 3), i, np.uint8) for i in range(5)]
    frames = list(open_source(iter(images)))
    assert [int(f.image[0, 0, 0]) for f in frames] == list(range(5))
    assert [f.index for f in frames] == list(range(5)) and frames[0].pts is None

    pairs = [(10.0 + i, img) for i, img in enumerate(images)]
    src = open_source(pairs)
    assert not src.live
    assert [f.timestamp for f in src] == [10.0, 11.0, 12.0, 13.0, 14.0]

    gray_then_bigger = [np.zeros((4, 6), np.uint8), np.zeros((8, 10, 3), np.uint8)]
    shapes = [f.image.shape for f in open_source(gray_then_bigger)]
    assert shapes == [(4, 6, 3), (8, 10, 3)]  # a new size mid-stream is delivered as is

    bad = open_source([images[0], images[0].astype(np.float32)])
    next(bad)
    with pytest.raises(ValueError, match=r"item 1.*uint8"):
        next(bad)


def test_open_source_rejects_what_it_cannot_open():
    with pytest.raises(TypeError, match="camera index, a URL"):
        open_source(3.5)
    push = PushSource()
    assert open_source(push) is push


def test_push_source_keeps_the_newest_frames():
    src = PushSource(maxsize=3)
    for i in range(10):
        assert src.put(np.full((2, 2, 3), i, np.uint8), timestamp=float(i))
    assert src.dropped == 7
    got = [next(src) for _ in range(3)]
    assert [f.index for f in got] == [7, 8, 9] and [f.timestamp for f in got] == [7.0, 8.0, 9.0]
    threading.Timer(0.3, src.close).start()
    start = time.monotonic()
    assert list(src) == []  # blocked until closed, then ends
    assert time.monotonic() - start < 5.0
    assert not src.put(np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        PushSource().put(np.zeros((2, 2, 3), np.float64))


def test_push_source_with_a_threaded_producer_and_a_slow_consumer():
    src = PushSource(maxsize=2)
    total = 200

    def produce() -> None:
        for i in range(total):
            src.put(np.full((8, 8, 3), i % 256, np.uint8))
            time.sleep(0.001)
        time.sleep(0.3)
        src.close()

    image = np.full((8, 8, 3), 5, np.uint8)
    src.put(image)
    image.fill(0)  # put copied it: the producer may reuse its buffer
    producer = threading.Thread(target=produce)
    first = next(src)
    assert first.index == 0 and int(first.image[0, 0, 0]) == 5
    producer.start()
    got = []
    for frame in src:
        got.append(frame)
        time.sleep(0.02)
    producer.join(timeout=30)
    assert not producer.is_alive()
    indices = [f.index for f in got]
    assert indices == sorted(set(indices)) and indices
    assert src.dropped > 0
    assert len(got) + src.dropped <= total and len(got) + src.dropped >= total - src.maxsize
    assert all(int(f.image[0, 0, 0]) == (f.index - 1) % 256 for f in got)


# -- cameras -------------------------------------------------------------------------------------
@pytest.mark.parametrize("index", [99, "99"])
def test_camera_that_does_not_open_says_what_to_try(index):
    with pytest.raises(SourceError) as info:
        open_source(index)
    message = str(info.value)
    assert "99" in message and "/dev/video" in message and "widget" in message


# -- network streams -----------------------------------------------------------------------------
def _mpegts(n: int = 450, fps: int = 30, size: tuple[int, int] = (64, 96)) -> bytes:
    """An MPEG-TS of ``n`` frames, keyframes every 10 (a reconnecting reader starts soon)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mpegts") as out:
        stream = out.add_stream("mpeg2video", rate=fps)
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = 10
        stream.codec_context.max_b_frames = 0
        for i in range(n):
            image = np.full((*size, 3), (3 * i) % 256, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


class _StreamServer:
    """``data`` over HTTP on 127.0.0.1, written in chunks at ``seconds`` for the whole.

    ``stall_after``: after that many chunks, send nothing more but keep the connection open.
    """

    def __init__(
        self, data: bytes, seconds: float, port: int = 0, stall_after: int | None = None
    ) -> None:
        stop = self._stop = threading.Event()
        chunks = 150
        step = -(-len(data) // chunks)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "video/mp2t")
                self.end_headers()
                for n, start in enumerate(range(0, len(data), step)):
                    if n == stall_after:
                        stop.wait(60)
                    if stop.is_set():
                        return
                    try:
                        self.wfile.write(data[start : start + step])
                        self.wfile.flush()
                    except OSError:
                        return
                    stop.wait(seconds / chunks)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/live.ts"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def mpegts() -> bytes:
    return _mpegts()


def test_http_stream_reconnects_after_the_server_restarts(mpegts):
    server = _StreamServer(mpegts, seconds=15.0)
    servers = [server]
    src = open_source(server.url, backoff=(0.1, 0.5), max_reconnects=100)
    try:
        assert src.live and src.name == server.url and src.fps == pytest.approx(30.0)
        before = [next(src) for _ in range(10)]
        assert all(f.image.shape == (64, 96, 3) and f.image.dtype == np.uint8 for f in before)
        assert src.reconnects == 0
        server.stop()

        def restart() -> None:
            servers.append(_StreamServer(mpegts, seconds=15.0, port=server.port))

        threading.Timer(1.0, restart).start()
        after, deadline = [], time.monotonic() + 60
        while len(after) < 10 and time.monotonic() < deadline:
            frame = next(src)
            if src.reconnects:
                after.append(frame)
        assert src.reconnects >= 1 and len(after) == 10
        indices = [f.index for f in before + after]
        assert indices == sorted(set(indices))
        assert all(f.image.shape == (64, 96, 3) for f in after)
        assert after[-1].timestamp > before[-1].timestamp
    finally:
        src.close()
        for s in servers:
            s.stop()


def test_stalled_stream_times_out_and_reconnects(mpegts, monkeypatch):
    monkeypatch.setattr(_capture, "READ_TIMEOUT", 1.0)
    server = _StreamServer(mpegts, seconds=15.0, stall_after=20)  # 2 s of data, then silence
    src = open_source(server.url, backoff=(0.1, 0.5), max_reconnects=20)
    try:
        frames, deadline = [], time.monotonic() + 60
        while src.reconnects == 0 and time.monotonic() < deadline:
            frames.append(next(src))  # never blocks for good: reads time out
        assert src.reconnects >= 1, "the stalled stream was not reopened"
        after = next(src)
        assert after.index == frames[-1].index + 1 and after.image.shape == (64, 96, 3)
    finally:
        src.close()
        server.stop()


def test_http_stream_gives_up_after_max_reconnects(mpegts):
    server = _StreamServer(mpegts, seconds=15.0)
    src = open_source(server.url, backoff=(0.05, 0.2), max_reconnects=3)
    try:
        next(src)
        server.stop()
        start = time.monotonic()
        with pytest.raises(SourceError, match=r"127\.0\.0\.1.*gave up after 3"):
            for _ in src:
                pass
        assert time.monotonic() - start < 30.0
    finally:
        src.close()


def test_unreachable_stream_names_the_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/none.ts"
    with pytest.raises(SourceError, match=f"127.0.0.1:{port}/none.ts"):
        open_source(url)


def test_frame_source_is_the_base_of_all(tmp_path):
    path = _clip(tmp_path / "clip.mp4", n=3)
    for src in (open_source(path, realtime=False), open_source([np.zeros((2, 2, 3), np.uint8)])):
        with src:
            assert isinstance(src, FrameSource) and repr(src).startswith("_")
        assert src.closed and list(src) == []
