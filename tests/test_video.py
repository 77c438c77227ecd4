"""actionkit.video: exact frame access on real and generated files, both backends, bad files."""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from actionkit import video
from actionkit.video import (
    VIDEO_EXTENSIONS,
    VideoInfo,
    VideoReadError,
    available_backends,
    open_video,
    probe,
    read_frames,
    write_video,
)
from actionkit.video import _torchcodec as _video_torchcodec

BACKENDS = available_backends()


REAL_FILES = ["h264_340x256_30fps.mp4", "mpeg4_320x240_25fps.avi", "h264_340x256_32frames.mp4"]


def _frames(n: int, h: int, w: int, gray: bool = False) -> np.ndarray:
    """Moving gradients plus a bar whose length is the frame number: every frame differs."""
    y, x = np.mgrid[0:h, 0:w]
    out = []
    for i in range(n):
        f = np.stack(
            [(x * 3 + i * 7) % 256, (y * 5 + i * 3) % 256, ((x + y) * 2 + i * 11) % 256], -1
        )
        f = f.astype(np.uint8)
        f[: i % h + 1, :4] = 255
        out.append(f[..., 0] if gray else f)
    return np.stack(out)


VFR_TIMES = np.cumsum(np.random.default_rng(0).choice([0.02, 0.04, 0.1], size=60)) - 0.02

# name: (writer kwargs, frames)
GENERATED = {
    "x264_bframes_gop10.mp4": (dict(codec="libx264", gop=10, bframes=3), (90, 64, 80)),
    "x264_bframes_gop10.mkv": (dict(codec="libx264", gop=10, bframes=3), (90, 64, 80)),
    "x264_open_gop.mp4": (
        dict(
            codec="libx264",
            bframes=3,
            options={"x264-params": "open-gop=1:keyint=15:min-keyint=15:scenecut=0"},
        ),
        (90, 64, 80),
    ),
    "mpeg4_bframes.avi": (dict(codec="mpeg4", gop=12, bframes=2), (90, 64, 80)),
    "mpeg4_p.avi": (dict(codec="mpeg4", gop=12, bframes=0), (60, 64, 80)),
    "mjpeg.avi": (dict(codec="mjpeg"), (40, 48, 64)),
    "mjpeg.mov": (dict(codec="mjpeg"), (40, 48, 64)),
    "ffv1.mkv": (dict(codec="ffv1", gop=12), (30, 48, 64)),
    "vp9.webm": (dict(codec="libvpx-vp9", crf=None, options={"b": "200k"}), (40, 64, 80)),
    "mpeg2.ts": (dict(codec="mpeg2video", gop=12, bframes=2), (40, 64, 80)),
    "mpeg2.mpg": (dict(codec="mpeg2video", gop=12, bframes=2), (40, 64, 80)),
    "vfr.mp4": (dict(codec="libx264", gop=12, bframes=2, timestamps=VFR_TIMES), (60, 64, 80)),
    "vfr.mkv": (dict(codec="libx264", gop=12, bframes=2, timestamps=VFR_TIMES), (60, 64, 80)),
    "gray.mp4": (dict(codec="libx264", gop=8), (20, 64, 80, True)),
    "odd_97x55.mp4": (dict(codec="libx264", gop=8), (20, 55, 97)),
    "odd_97x55_mjpeg.avi": (dict(codec="mjpeg"), (20, 55, 97)),
    "portrait.mp4": (dict(codec="libx264", gop=8), (12, 96, 48)),
    "one_frame.mp4": (dict(codec="libx264"), (1, 64, 80)),
}


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> dict[str, Path]:
    """The GENERATED files, written once."""
    root = tmp_path_factory.mktemp("videos")
    return {
        name: write_video(root / name, _frames(*shape), 25, **kwargs)
        for name, (kwargs, shape) in GENERATED.items()
    }


@pytest.fixture(scope="session")
def real_files(shared_videos) -> dict[str, Path]:
    """The shared real-world clips (REAL_FILES)."""
    return {name: shared_videos / name for name in REAL_FILES}


@pytest.fixture
def named_file(request, corpus, name) -> Path:
    """The file the test's ``name`` parameter names: a generated one or a real-world clip."""
    return request.getfixturevalue("real_files")[name] if name in REAL_FILES else corpus[name]


_reference_cache: dict[Path, np.ndarray] = {}


def sequential(path: Path) -> np.ndarray:
    """Every frame, decoding the whole file in order with PyAV (skipping packets FFmpeg rejects)."""
    if path not in _reference_cache:
        frames = []
        with av.open(str(path)) as container:
            for packet in container.demux(video=0):
                with contextlib.suppress(av.error.InvalidDataError):
                    frames += [f.to_ndarray(format="rgb24") for f in packet.decode()]
        _reference_cache[path] = np.stack(frames)
    return _reference_cache[path]


def assert_frames_equal(got: np.ndarray, want: np.ndarray, what: str = "") -> None:
    """Exact equality; names the first differing frame (numpy.testing is slow on big arrays)."""
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    if not np.array_equal(got, want):
        bad = next(i for i in range(len(got)) if not np.array_equal(got[i], want[i]))
        diff = np.abs(got[bad].astype(int) - want[bad]).max()
        raise AssertionError(f"{what}: frame {bad} of the request differs (max |diff| {diff})")


def index_sets(n: int, seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    sets = [list(range(n)), list(range(n))[::-1], [0], [n - 1], [n - 1, 0, n - 1, 0, 0]]
    for _ in range(6):
        sets.append(rng.integers(0, n, size=int(rng.integers(1, 17))).tolist())  # dups, unsorted
        start = int(rng.integers(0, max(1, n - 16)))
        sets.append(list(range(start, min(n, start + 16))))  # a clip
        sets.append(sorted(rng.choice(n, size=min(n, 8), replace=False).tolist()))  # TSN-like
    return sets


ALL_FILES = list(GENERATED) + REAL_FILES


# -- exactness ---------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ALL_FILES)
def test_frames_match_sequential_decoding(named_file, name, backend):
    path = named_file
    ref = sequential(path)
    assert len({frame.tobytes() for frame in ref}) == len(ref)  # frames all differ
    with open_video(path, backend) as video_:
        assert video_.info.num_frames == len(video_) == len(ref)
        for indices in index_sets(len(ref), seed=len(name)):
            got = video_.read(indices)
            assert got.dtype == np.uint8 and got.shape == (len(indices), *ref.shape[1:])
            # Exact for both backends: TorchCodec (system FFmpeg 5.1) and PyAV (FFmpeg 8) were
            # measured bit-identical at native size on every file here.
            assert_frames_equal(got, ref[indices], f"{name} {indices}")


def test_real_files_metadata(real_files):
    info = probe(real_files["h264_340x256_30fps.mp4"], "pyav")
    assert (info.num_frames, info.width, info.height, info.codec) == (300, 340, 256, "h264")
    assert info.fps == pytest.approx(30) and info.duration == pytest.approx(10)
    avi = probe(real_files["mpeg4_320x240_25fps.avi"], "pyav")
    assert (avi.num_frames, avi.width, avi.height, avi.codec) == (164, 320, 240, "mpeg4")
    assert avi.fps == pytest.approx(25)


def test_packed_bframes_avi_uses_decoder_order(real_files):
    # Its decoded frames carry permuted pts (1, 2, 4, 3, ...): indexing by pts would be wrong.
    with open_video(real_files["mpeg4_320x240_25fps.avi"], "pyav") as video_:
        assert video_._impl.mode == "order"
    with open_video(real_files["h264_340x256_30fps.mp4"], "pyav") as video_:
        assert video_._impl.mode == "pts"


@pytest.mark.parametrize(
    "name", ["mpeg4_p.avi", "mjpeg.avi", "x264_bframes_gop10.mp4", "x264_open_gop.mp4"]
)
def test_order_mode_seeks_exactly(corpus, name, caplog):
    ref = sequential(corpus[name])
    n = len(ref)
    with open_video(corpus[name], "pyav") as video_:
        video_._impl._use_order_table()  # force it: these files would use the pts table
        for indices in ([13], [n // 2 + 3], [5, 30, 31, n - 1], list(range(20, 36)), [n - 1, 2]):
            assert_frames_equal(video_.read(indices), ref[indices])
        assert video_._impl.mode == "order"  # no fallback was needed
    assert "does not match" not in caplog.text


def test_table_mismatch_falls_back_to_sequential_decoding(corpus, caplog):
    # A table that does not match the decoder (here: one frame's pts removed from it) is
    # noticed while decoding; the reader then decodes from the start, exactly, from then on.
    path = corpus["x264_bframes_gop10.mp4"]
    ref = sequential(path)
    with open_video(path, "pyav") as video_:
        impl = video_._impl
        del impl._index_of[int(impl._pts[0])]
        with caplog.at_level(logging.WARNING, logger="actionkit.video"):
            assert_frames_equal(video_.read([3, 1]), ref[[3, 1]])
        assert impl.mode == "sequential" and "does not match" in caplog.text
        assert_frames_equal(video_.read([89, 0, 45]), ref[[89, 0, 45]])
        assert video_.info.num_frames == len(ref)


def test_backends_agree_on_counts_and_frames(corpus, real_files):
    if "torchcodec" not in BACKENDS:
        pytest.skip("TorchCodec does not work here")
    files = {**corpus, **real_files}
    assert list(files) == ALL_FILES
    for name in ALL_FILES:
        a, b = probe(files[name], "pyav"), probe(files[name], "torchcodec")
        assert (a.num_frames, a.width, a.height, a.fps) == (b.num_frames, b.width, b.height, b.fps)


def test_torchcodec_is_used_where_exact_and_checked(corpus, monkeypatch):
    if "torchcodec" not in BACKENDS:
        pytest.skip("TorchCodec does not work here")
    assert probe(corpus["x264_bframes_gop10.mp4"], "torchcodec").backend == "torchcodec"
    assert probe(corpus["vfr.mkv"], "torchcodec").backend == "torchcodec"
    # AVI and MPEG-TS: TorchCodec 0.17 returns wrong frames there, so PyAV decodes them
    assert probe(corpus["mpeg4_bframes.avi"], "torchcodec").backend == "pyav"
    assert probe(corpus["mpeg2.ts"], "torchcodec").backend == "pyav"
    # a TorchCodec result with the wrong frame is caught by its pts and redone with PyAV
    path = corpus["x264_bframes_gop10.mp4"]
    ref = sequential(path)
    with open_video(path, "torchcodec") as video_:
        decoder = video_._impl._decoder(None)
        real = decoder.get_frame_at
        monkeypatch.setattr(decoder, "get_frame_at", lambda i: real(i + 1))
        assert_frames_equal(video_.read([4, 2]), ref[[4, 2]])
        assert video_.info.backend == "pyav"


# -- resizing ----------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("name", "short_side", "shape"),
    [
        ("x264_bframes_gop10.mp4", 32, (32, 40)),
        ("x264_bframes_gop10.mp4", 100, (100, 125)),
        ("odd_97x55.mp4", 32, (32, 56)),  # 97 * 32 / 55 = 56.4
        ("portrait.mp4", 20, (40, 20)),
        ("gray.mp4", 48, (48, 60)),
        ("x264_bframes_gop10.mp4", 64, (64, 80)),  # already that size
    ],
)
def test_short_side(corpus, backend, name, short_side, shape):
    ref = sequential(corpus[name])
    indices = [len(ref) - 1, 0, 3]
    got = read_frames(corpus[name], indices, backend=backend, short_side=short_side)
    assert got.shape == (3, *shape, 3) and got.dtype == np.uint8
    # same picture as antialiased bilinear resizing of the full frames
    full = torch.from_numpy(ref[indices]).permute(0, 3, 1, 2).float()
    small = F.interpolate(full, size=shape, mode="bilinear", antialias=True, align_corners=False)
    diff = np.abs(got.astype(float) - small.permute(0, 2, 3, 1).numpy())
    assert diff.mean() < 4, diff.mean()


def test_short_side_backends_close(corpus):
    # Resizing is done by each backend's FFmpeg (swscale, bilinear): FFmpeg 5.1 and 8 differ by
    # about one grey level on average (measured mean |diff| 0.2-1.6, max up to ~47 at edges).
    if "torchcodec" not in BACKENDS:
        pytest.skip("TorchCodec does not work here")
    for name in ("x264_bframes_gop10.mp4", "odd_97x55.mp4", "mjpeg.mov"):
        a = read_frames(corpus[name], [0, 5, 9], backend="pyav", short_side=37).astype(int)
        b = read_frames(corpus[name], [0, 5, 9], backend="torchcodec", short_side=37).astype(int)
        assert a.shape == b.shape and np.abs(a - b).mean() < 3


def test_short_side_validation(corpus):
    with open_video(corpus["mjpeg.avi"]) as video_:
        for bad in (0, -3):
            with pytest.raises(ValueError, match="short_side"):
                video_.read([0], short_side=bad)
        with pytest.raises(TypeError, match="short_side"):
            video_.read([0], short_side=12.5)


# -- shapes and odd files ----------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_gray_odd_and_single_frame(corpus, backend):
    gray = read_frames(corpus["gray.mp4"], [0, 7], backend=backend)
    assert gray.shape == (2, 64, 80, 3)
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    for name in ("odd_97x55.mp4", "odd_97x55_mjpeg.avi"):
        info = probe(corpus[name], backend)
        assert (info.width, info.height) == (97, 55)
        assert read_frames(corpus[name], [19, 0], backend=backend).shape == (2, 55, 97, 3)
    with open_video(corpus["one_frame.mp4"], backend) as video_:
        assert len(video_) == 1
        assert_frames_equal(video_.read([0, 0]), sequential(corpus["one_frame.mp4"])[[0, 0]])


def test_empty_index_list(corpus):
    with open_video(corpus["odd_97x55.mp4"]) as video_:
        assert video_.read([]).shape == (0, 55, 97, 3)
        assert video_.read(np.array([], dtype=np.int64), short_side=11).shape == (0, 11, 19, 3)


def test_vfr_metadata(corpus):
    info = probe(corpus["vfr.mp4"], "pyav")
    assert info.num_frames == 60
    assert info.duration == pytest.approx(VFR_TIMES[-1] - VFR_TIMES[0], abs=0.11)


@pytest.mark.parametrize("backend", BACKENDS)
def test_unicode_and_space_paths(corpus, tmp_path, backend):
    path = tmp_path / "vidéos à trier" / "ça marche 视频.mp4"
    path.parent.mkdir()
    shutil.copy(corpus["x264_bframes_gop10.mp4"], path)
    assert_frames_equal(
        read_frames(path, [89, 3], backend=backend),
        sequential(corpus["x264_bframes_gop10.mp4"])[[89, 3]],
    )
    assert probe(str(path), backend).path == str(path)


# -- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_index_out_of_range(corpus, backend):
    path = corpus["mjpeg.avi"]
    with open_video(path, backend) as video_:
        for bad in ([40], [0, 41], [-1]):
            with pytest.raises(IndexError) as err:
                video_.read(bad)
            message = str(err.value)
            assert str(path) in message and str(bad[-1]) in message and "40 frames" in message
        with pytest.raises(TypeError):
            video_.read([1.5])


def _remux_faststart(src: Path, dst: Path) -> Path:
    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return dst


@pytest.fixture(scope="session")
def bad_files(real_files, tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """name: (path, a word the reason must contain); the cut ones are cut from a real clip."""
    root = tmp_path_factory.mktemp("bad")
    source = real_files["h264_340x256_30fps.mp4"]
    data = Path(source).read_bytes()
    files = {}

    def put(name, content, word):
        (root / name).write_bytes(content)
        files[name] = (root / name, word)

    put("empty.mp4", b"", "empty")
    put("half.mp4", data[: len(data) // 2], "moov")  # its index (moov) is at the end
    put("tenth.mp4", data[: len(data) // 10], "moov")
    put("text.mp4", b"hello, this is not a video\n" * 50, "not a video")
    (root / "folder.mp4").mkdir()
    files["folder.mp4"] = (root / "folder.mp4", "directory")
    files["missing.mp4"] = (root / "missing.mp4", "no such file")
    for name in ("audio.m4a", "audio.mp4", "audio.mkv"):
        with av.open(str(root / name), "w") as container:
            codec, size = ("mp3", 1152) if name == "audio.mkv" else ("aac", 1024)
            stream = container.add_stream(codec, rate=44100)
            for i in range(30):
                frame = av.AudioFrame.from_ndarray(
                    np.zeros((1, size), np.float32), format="fltp", layout="mono"
                )
                frame.sample_rate, frame.pts = 44100, i * size
                frame.time_base = Fraction(1, 44100)
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        files[name] = (root / name, "no video stream")
    # an intact index whose frame data is zeros: packets, but nothing decodes
    fast = bytearray(_remux_faststart(source, root / "fast.mp4").read_bytes())
    mdat = fast.find(b"mdat")
    fast[mdat + 8 :] = bytes(len(fast) - mdat - 8)
    put("no_decodable_frame.mp4", bytes(fast), "decode")
    return files


BAD = [
    "empty.mp4", "half.mp4", "tenth.mp4", "text.mp4", "folder.mp4", "missing.mp4",
    "audio.m4a", "audio.mp4", "audio.mkv", "no_decodable_frame.mp4",
]  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", BAD)
def test_bad_files_raise_video_read_error(bad_files, name, backend):
    path, word = bad_files[name]
    for call in (lambda: open_video(path, backend), lambda: probe(path, backend)):
        with pytest.raises(VideoReadError) as err:
            call()
        assert type(err.value) is VideoReadError  # never a raw av / torchcodec exception
        assert err.value.path == str(path) and word in err.value.reason
        assert str(err.value) == f"cannot read video {path}: {err.value.reason}"
    copy = pickle.loads(pickle.dumps(err.value))
    assert (copy.path, copy.reason) == (err.value.path, err.value.reason)


@pytest.mark.parametrize("backend", BACKENDS)
def test_truncated_faststart_mp4_serves_what_decodes(real_files, tmp_path, backend):
    # With the index in front, a cut (real) file still opens: the frames that are there, exactly.
    source = real_files["h264_340x256_30fps.mp4"]
    data = _remux_faststart(source, tmp_path / "fast.mp4").read_bytes()
    for fraction in (2, 10):
        cut = tmp_path / f"cut_{fraction}.mp4"
        cut.write_bytes(data[: len(data) // fraction])
        ref = sequential(cut)
        with open_video(cut, backend) as video_:
            assert 0 < video_.info.num_frames == len(ref) < probe(source).num_frames
            assert_frames_equal(video_.read(range(len(ref))[::-1]), ref[::-1])
            with pytest.raises(IndexError):
                video_.read([len(ref)])


@pytest.mark.parametrize("backend", BACKENDS)
def test_file_deleted_after_open(corpus, tmp_path, backend):
    path = Path(shutil.copy(corpus["mjpeg.mov"], tmp_path / "gone.mov"))
    video_ = open_video(path, backend)
    path.unlink()
    with pytest.raises(VideoReadError, match="deleted"):
        video_.read([0])
    video_.close()
    video_.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        video_.read([0])
    assert video_.info.num_frames == 40  # info outlives close


# -- backend selection -------------------------------------------------------------------------
def test_available_backends_and_selection(corpus, monkeypatch):
    expected = ["pyav", "torchcodec"] if _video_torchcodec.is_available() else ["pyav"]
    assert available_backends() == expected  # PyAV first: faster on CPU (BENCHMARKS.md)
    path = corpus["x264_bframes_gop10.mp4"]
    monkeypatch.setenv("ACTIONKIT_VIDEO_BACKEND", "pyav")
    assert probe(path).backend == "pyav"  # the environment overrides "auto"
    monkeypatch.setenv("ACTIONKIT_VIDEO_BACKEND", "ffmpeg-cli")
    with pytest.raises(ValueError, match="ACTIONKIT_VIDEO_BACKEND"):
        probe(path)
    monkeypatch.delenv("ACTIONKIT_VIDEO_BACKEND")
    assert probe(path).backend == "pyav"
    with pytest.raises(ValueError, match="decord"):
        open_video(path, backend="decord")


def test_torchcodec_missing_ffmpeg_falls_back_to_pyav(corpus, monkeypatch):
    # As on a machine without FFmpeg's shared libraries: creating a decoder raises.
    pytest.importorskip("torchcodec")
    import torchcodec.decoders

    def broken(*args, **kwargs):
        raise OSError("libavutil.so.57: cannot open shared object file")

    monkeypatch.setattr(torchcodec.decoders, "VideoDecoder", broken)
    monkeypatch.setattr(_video_torchcodec, "_unavailable", None)
    assert available_backends() == ["pyav"]
    assert "OSError" in _video_torchcodec.unavailable_reason()
    assert probe(corpus["mjpeg.mov"]).backend == "pyav"
    with pytest.raises(RuntimeError, match="does not work here"):
        open_video(corpus["mjpeg.mov"], backend="torchcodec")
    monkeypatch.setattr(_video_torchcodec, "_unavailable", None)  # checked again later


def test_public_names():
    assert all(e.startswith(".") and e == e.lower() for e in VIDEO_EXTENSIONS)
    needed = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"}
    needed |= {".3gp", ".ogv"}
    assert needed <= VIDEO_EXTENSIONS
    assert video.is_video_file("A/B.MP4") and not video.is_video_file("a.txt")
    # hidden files are never videos: write_video's temporaries, macOS resource forks
    assert not video.is_video_file("a/.clip.3f2a1b.mp4") and not video.is_video_file("._clip.mov")
    assert video.is_video_file(".hidden_folder/clip.mp4")
    info = VideoInfo("a.mp4", 10, 25.0, 0.4, 64, 48, "h264", "pyav")
    with pytest.raises(AttributeError):
        info.num_frames = 3  # frozen


# -- DataLoader workers ------------------------------------------------------------------------
class _ClipDataset(torch.utils.data.Dataset):
    def __init__(self, paths: list[Path], backend: str) -> None:
        self.paths, self.backend = paths, backend

    def __len__(self) -> int:
        return 4 * len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        # readers are created here, in the worker, never in the parent
        with open_video(self.paths[i % len(self.paths)], self.backend) as video_:
            start = (i * 7) % (len(video_) - 8)
            return torch.from_numpy(video_.read(range(start, start + 8), short_side=32))


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_fork_dataloader_workers_do_not_hang(corpus, backend):
    paths = [corpus["x264_bframes_gop10.mp4"], corpus["mjpeg.avi"], corpus["vp9.webm"]]
    dataset = _ClipDataset(paths, backend)
    expected = [dataset[i] for i in range(len(dataset))]  # the parent decodes first...
    keep_open = open_video(paths[0], backend)  # ...and holds a reader across the fork
    keep_open.read([5, 1])
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=None, num_workers=2, multiprocessing_context="fork", timeout=120
    )  # a hung worker raises after `timeout` seconds instead of blocking the suite
    got = list(loader)
    keep_open.close()
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_reader_repr_and_len(corpus):
    with open_video(corpus["mjpeg.avi"], "pyav") as video_:
        assert len(video_) == 40 and "40 frames" in repr(video_) and "64x48" in repr(video_)
    assert "closed" in repr(video_)
    assert os.fspath(corpus["mjpeg.avi"]) == video_.info.path
