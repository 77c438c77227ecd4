"""`prepare_dataset` / `transcode_video` on real encodes: sizes, frames, content, layout, resuming,
failures."""

import contextlib
import errno
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from actionkit.data.prepare import CRASHED, MANIFEST_NAME, TEMP_SUFFIX, prepare_dataset
from actionkit.utils.pool import JobFailed, run_jobs
from actionkit.video import write_video
from actionkit.video.transcode import output_size, transcode_video

# PSNR thresholds (dB) between an output frame and its source frame resized with PIL (an
# independent scaler). Measured here: 38–45 dB on the generated clips and 32–36 dB (mean over
# frames; the worst frame 31 dB) on the real clips at the default crf 23; x264 at crf 23 is
# usually 33–40 dB on natural video. What a real defect costs, measured on the same clips: the
# neighbouring frame instead of the right one 23 dB mean (real clip), limited range read as full
# (or BT.709 read as BT.601) 25–29 dB, a stretched aspect below 20 dB. So 34 dB (generated,
# smooth content) and 30 dB (real clips, mean over frames) pass every correct output with a
# margin of 2–4 dB and fail each of those defects.
PSNR_GENERATED = 34.0
PSNR_REAL = 30.0


# -- helpers ----------------------------------------------------------------------------------
def scene(n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth coloured gradients drifting over time, with a bright square moving right: every
    frame differs from its neighbours, so a shifted frame order shows in the PSNR."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = np.random.default_rng(seed).uniform(0, 6)
    out = np.empty((n, height, width, 3), np.uint8)
    for t in range(n):
        r = 128 + 60 * np.sin(xx / (width / 5) + t / 3 + phase)
        g = 128 + 60 * np.cos(yy / (height / 4) - t / 4)
        b = 90 + 50 * np.sin((xx + yy) / (width / 3) + t / 5)
        frame = np.stack([r, g, b], -1)
        side = max(4, height // 4)
        x0 = int((t * width / n) % (width - side))
        frame[height // 3 : height // 3 + side, x0 : x0 + side] = 235
        out[t] = frame.clip(0, 255).astype(np.uint8)
    return out


def decode(path) -> np.ndarray:
    """Every frame, in order, as RGB, with PyAV directly."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return np.stack(frames)


def stream_info(path) -> dict:
    with av.open(str(path)) as container:
        s = container.streams.video[0]
        keys = [p.is_keyframe for p in container.demux(s) if p.size]
        return {
            "size": (s.width, s.height),
            "rate": s.average_rate,
            "sar": s.sample_aspect_ratio,
            "codec": s.codec_context.name,
            "has_b_frames": s.codec_context.has_b_frames,
            "keyframes": [i for i, k in enumerate(keys) if k],
            "packets": len(keys),
        }


def resized(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.stack([np.asarray(Image.fromarray(f).resize(size, Image.BILINEAR)) for f in frames])


def psnr(a: np.ndarray, b: np.ndarray, axis=None) -> np.ndarray:
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean(axis=axis)
    return 10 * np.log10(255.0**2 / np.maximum(mse, 1e-10))


def frame_psnr(source: np.ndarray, output: np.ndarray) -> np.ndarray:
    """PSNR of each output frame against the same source frame resized to the output size."""
    ref = resized(source, (output.shape[2], output.shape[1]))
    return psnr(ref, output, axis=(1, 2, 3))


def write_bt709_video(path: Path, frames: np.ndarray, fps: int = 25) -> None:
    """An HD-style source: BT.709 matrix, tagged as such (the frames are converted with it)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "12"})
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.colorspace = 1
        stream.codec_context.color_primaries = 1
        stream.codec_context.color_trc = 1
        for array in frames:
            frame = av.VideoFrame.from_ndarray(array, format="rgb24").reformat(
                format="yuv420p", dst_colorspace="ITU709"
            )
            frame.colorspace = 1
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


# -- a generated dataset, prepared once --------------------------------------------------------
SOURCES = {
    # relative path: (frames, how it was written)
    "run/bframes 640x360.mp4": 24,
    "run/portrait.mov": 12,
    "jump/mjpeg.avi": 16,
    "jump/nested/deeper/odd 161x97.mkv": 10,
    "springen/über clip ü.mp4": 9,
    "vfr/variable.mp4": 20,
    "vfr/bt709.mp4": 10,
}
OTHER_FILES = {
    "classes.txt": "jump\nrun\nspringen\nvfr\n",
    "splits/train.csv": "path,label\nrun/bframes 640x360.mp4,run\n",
    "jump/nested/annotations.json": '{"segments": []}',
}
VFR_TIMES = [0.0, 0.04, 0.08, 0.2, 0.24, 0.25, 0.26, 0.27, 0.5, 0.54]
VFR_TIMES += [0.6 + 0.04 * i for i in range(10)]


@pytest.fixture(scope="module")
def source_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("src")
    write_video(root / "run/bframes 640x360.mp4", scene(24, 360, 640), 25, bframes=3, crf=12)
    write_video(root / "run/portrait.mov", scene(12, 320, 180, 1), 30, crf=12)
    write_video(root / "jump/mjpeg.avi", scene(16, 240, 320, 2), 15, codec="mjpeg")
    write_video(root / "jump/nested/deeper/odd 161x97.mkv", scene(10, 97, 161, 3), 25, crf=10)
    write_video(root / "springen/über clip ü.mp4", scene(9, 200, 300, 4), 25, crf=12)
    write_video(root / "vfr/variable.mp4", scene(20, 144, 256, 5), 25, timestamps=VFR_TIMES)
    write_bt709_video(root / "vfr/bt709.mp4", scene(10, 270, 480, 6))
    for rel, text in OTHER_FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "run/.DS_Store").write_bytes(b"\0\1")
    (root / ".hidden").mkdir()
    write_video(root / ".hidden/skipped.mp4", scene(3, 32, 32), 25)
    return root


@pytest.fixture(scope="module")
def prepared(source_root, tmp_path_factory):
    dst = tmp_path_factory.mktemp("prepared") / "out 128"
    report = prepare_dataset(source_root, dst, workers=2, progress=False)
    return source_root, dst, report


def out_path(dst: Path, rel: str) -> Path:
    return dst / Path(rel).with_suffix(".mp4")


def test_report_counts_and_layout(prepared):
    src, dst, report = prepared
    assert report.failed == []
    assert (report.converted, report.copied, report.skipped_existing) == (7, 3, 0)
    expected = {Path(r).with_suffix(".mp4").as_posix() for r in SOURCES} | set(OTHER_FILES)
    assert tree(dst) == expected | {MANIFEST_NAME}
    for rel, text in OTHER_FILES.items():
        assert (dst / rel).read_text() == text
        assert (dst / rel).stat().st_mtime == pytest.approx((src / rel).stat().st_mtime)
    assert 0 < report.bytes_out < report.bytes_in
    assert report.seconds > 0
    assert "converted 7, skipped 0 (up to date), copied 3, failed 0" in str(report)


@pytest.mark.parametrize("rel", sorted(SOURCES))
def test_same_frames_smaller_and_close_to_the_source(prepared, rel):
    src, dst, _ = prepared
    source, output = decode(src / rel), decode(out_path(dst, rel))
    assert len(output) == len(source) == SOURCES[rel]
    height, width = source.shape[1:3]
    assert output.shape[1:3] == output_size(width, height, 128)[::-1]
    assert min(output.shape[1:3]) == min(128, min(height, width) // 2 * 2)
    assert output.shape[2] / output.shape[1] == pytest.approx(width / height, rel=0.02)
    quality = frame_psnr(source, output)
    assert quality.min() > PSNR_GENERATED, quality
    # Frame order: each output frame is closer to its own source frame than to the neighbours.
    ref = resized(source, (output.shape[2], output.shape[1]))
    for i in range(1, len(output) - 1):
        assert quality[i] > psnr(ref[i - 1], output[i]) and quality[i] > psnr(ref[i + 1], output[i])


def test_short_gop_no_b_frames_and_rate(prepared):
    src, dst, _ = prepared
    info = stream_info(out_path(dst, "run/bframes 640x360.mp4"))
    assert stream_info(src / "run/bframes 640x360.mp4")["has_b_frames"]  # the source had them
    assert info["codec"] == "h264" and not info["has_b_frames"]
    assert info["size"] == (228, 128)
    assert info["rate"] == 25
    keys = info["keyframes"]
    assert keys[0] == 0 and max(np.diff([*keys, info["packets"]])) <= 8
    assert stream_info(out_path(dst, "jump/mjpeg.avi"))["rate"] == 15
    assert stream_info(out_path(dst, "run/portrait.mov"))["size"] == (128, 228)


def test_variable_frame_rate_keeps_every_frame_at_the_average_rate(prepared):
    src, dst, _ = prepared
    out = out_path(dst, "vfr/variable.mp4")
    with av.open(str(src / "vfr/variable.mp4")) as c:
        source_rate = c.streams.video[0].average_rate
    with av.open(str(out)) as c:
        frames = list(c.decode(video=0))
        assert c.streams.video[0].average_rate == pytest.approx(float(source_rate), rel=0.01)
    assert len(frames) == len(VFR_TIMES)
    steps = np.diff([f.time for f in frames])
    assert np.allclose(steps, steps[0], atol=2e-3)  # constant rate


def test_colours_of_full_range_and_bt709_sources(prepared):
    # MJPEG is full range, bt709.mp4 uses the HD matrix: both must come out with the same RGB.
    src, dst, _ = prepared
    for rel in ("jump/mjpeg.avi", "vfr/bt709.mp4"):
        source, output = decode(src / rel), decode(out_path(dst, rel))
        ref = resized(source, (output.shape[2], output.shape[1])).astype(float)
        mean_error = (ref - output).mean(axis=(0, 1, 2))
        assert np.abs(mean_error).max() < 1.5, (rel, mean_error)


def test_outputs_are_tagged_bt601_limited(prepared):
    _, dst, _ = prepared
    with av.open(str(out_path(dst, "vfr/bt709.mp4"))) as c:
        frame = next(c.decode(video=0))
    assert frame.format.name == "yuv420p"
    assert frame.colorspace in (5, 6) and frame.color_range == 1


def test_actionkit_reader_sees_the_same_frame_count(prepared):
    from actionkit.video import probe

    src, dst, _ = prepared
    for rel in SOURCES:
        assert probe(out_path(dst, rel), "pyav").num_frames == probe(src / rel, "pyav").num_frames


def test_outputs_are_readable_by_everyone(prepared):
    _, dst, _ = prepared
    mode = (out_path(dst, "jump/mjpeg.avi")).stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


# -- the shared real clips ---------------------------------------------------------------------
@pytest.mark.slow
def test_real_clips(tmp_path, shared_videos):
    dst = tmp_path / "real"
    report = prepare_dataset(shared_videos, dst, workers=2, progress=False)
    names = sorted(p.name for p in shared_videos.iterdir() if p.is_file())
    assert report.failed == [] and report.converted == len(names) == 3
    for name in names:
        source = decode(shared_videos / name)
        output = decode(dst / Path(name).with_suffix(".mp4"))
        assert len(output) == len(source)
        assert min(output.shape[1:3]) == 128
        assert output.shape[1:3] == output_size(source.shape[2], source.shape[1], 128)[::-1]
        quality = frame_psnr(source, output)
        assert quality.mean() > PSNR_REAL and quality.min() > PSNR_REAL - 3, (name, quality)
        # The neighbouring frame is measurably worse (frame order kept on real motion).
        shifted = psnr(resized(source[1:], output.shape[2:0:-1]), output[:-1], axis=(1, 2, 3))
        assert shifted.mean() < quality.mean() - 2
        # The 340×256 clips carry a sample aspect ratio (16:9 display): the display shape stays.
        s_in = stream_info(shared_videos / name)
        s_out = stream_info(dst / Path(name).with_suffix(".mp4"))
        dar_in = Fraction(s_in["sar"] or 1) * s_in["size"][0] / s_in["size"][1]
        dar_out = Fraction(s_out["sar"] or 1) * s_out["size"][0] / s_out["size"][1]
        assert float(dar_out) == pytest.approx(float(dar_in), rel=0.005)


# -- sizes -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("size", "short_side", "expected"),
    [
        ((1920, 1080), 128, (228, 128)),
        ((1080, 1920), 128, (128, 228)),
        ((340, 256), 128, (170, 128)),
        ((320, 240), 128, (170, 128)),
        ((161, 97), 128, (160, 96)),  # smaller than asked: not upscaled, made even
        ((100, 100), 128, (100, 100)),
        ((3, 3), 128, (2, 2)),
        ((1280, 720), 256, (456, 256)),
    ],
)
def test_output_size(size, short_side, expected):
    assert output_size(*size, short_side) == expected


# -- resuming ----------------------------------------------------------------------------------
def small_dataset(root: Path) -> Path:
    write_video(root / "a/one.mp4", scene(10, 120, 160), 25)
    write_video(root / "b/two.avi", scene(8, 120, 160, 1), 25, codec="mjpeg")
    (root / "classes.txt").write_text("a\nb\n")
    return root


def mtimes(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("*")}


def test_second_run_skips_everything_and_touches_nothing(tmp_path):
    src, dst = small_dataset(tmp_path / "src"), tmp_path / "dst"
    first = prepare_dataset(src, dst, workers=1, progress=False)
    assert (first.converted, first.copied, first.failed) == (2, 1, [])
    before = mtimes(dst)
    time.sleep(0.02)
    second = prepare_dataset(src, dst, workers=2, progress=False)
    assert (second.converted, second.copied, second.skipped_existing) == (0, 0, 3)
    assert second.failed == []
    assert mtimes(dst) == before
    assert (second.bytes_in, second.bytes_out) == (first.bytes_in, first.bytes_out)


def test_changed_source_is_redone_and_overwrite_redoes_all(tmp_path):
    src, dst = small_dataset(tmp_path / "src"), tmp_path / "dst"
    prepare_dataset(src, dst, workers=1, progress=False)
    future = time.time() + 60
    os.utime(src / "a/one.mp4", (future, future))
    report = prepare_dataset(src, dst, workers=1, progress=False)
    assert (report.converted, report.skipped_existing) == (1, 2)
    report = prepare_dataset(src, dst, workers=1, progress=False, overwrite=True)
    assert (report.converted, report.copied, report.skipped_existing) == (2, 1, 0)


def test_other_settings_refuse_to_mix_unless_overwrite(tmp_path):
    src, dst = small_dataset(tmp_path / "src"), tmp_path / "dst"
    prepare_dataset(src, dst, workers=1, progress=False)
    with pytest.raises(ValueError, match="short_side=128"):
        prepare_dataset(src, dst, short_side=64, workers=1, progress=False)
    report = prepare_dataset(src, dst, short_side=64, overwrite=True, workers=1, progress=False)
    assert report.converted == 2
    assert stream_info(dst / "a/one.mp4")["size"] == (86, 64)  # 160×120 → 85.3 → even


def test_stale_temp_file_is_removed_and_never_counted(tmp_path):
    src, dst = small_dataset(tmp_path / "src"), tmp_path / "dst"
    stale = dst / "a" / f".one.mp4.x1y2{TEMP_SUFFIX}"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a video")
    report = prepare_dataset(src, dst, workers=1, progress=False)
    assert report.converted == 2
    assert not stale.exists()
    assert not [p for p in dst.rglob("*") if p.name.endswith(TEMP_SUFFIX)]


@pytest.mark.slow
def test_killed_transcode_leaves_only_a_temp_file(tmp_path):
    src = tmp_path / "src"
    base = scene(1, 360, 640)[0]
    frames = (np.roll(base, 7 * t, axis=1) for t in range(300))
    data = write_video(src / "long.mkv", frames, 25, options={"preset": "ultrafast"}).read_bytes()
    # The transcode reads the clip (Matroska streams) from a pipe that gets its first three
    # quarters and is never closed: it decodes and writes up to there, then waits for the rest,
    # so it cannot finish before the kill, however slow this test is to send it.
    pipe = tmp_path / "pipe" / "long.mkv"
    pipe.parent.mkdir()
    os.mkfifo(pipe)
    dst = tmp_path / "dst"
    code = (
        "import sys; from actionkit.video.transcode import transcode_video; "
        "transcode_video(sys.argv[1], sys.argv[2])"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, pipe, dst / "long.mp4"])
    writer = None
    try:
        feed = memoryview(data)[: len(data) * 3 // 4]
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"the transcode ended (exit {proc.returncode}) unkilled"
            assert time.monotonic() < deadline, "the transcode never got under way"
            if writer is None:
                try:  # ENXIO until the transcode has opened the pipe
                    writer = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
                except OSError as exc:
                    if exc.errno != errno.ENXIO:
                        raise
            elif feed:
                with contextlib.suppress(BlockingIOError):  # the pipe is full: it reads on
                    feed = feed[os.write(writer, feed) :]
            temps = list(dst.glob(f"*{TEMP_SUFFIX}"))
            if not feed and temps and temps[0].stat().st_size > 0:
                break  # it has read all it will get and started writing its output
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        proc.kill()
        proc.wait()
        if writer is not None:
            os.close(writer)
    assert proc.returncode == -signal.SIGKILL, (
        f"the transcode ended (exit {proc.returncode}) before it was killed, though its input "
        "was unfinished: the kill lost the race this test is built to rule out"
    )
    assert not (dst / "long.mp4").exists()
    assert [p.name.endswith(TEMP_SUFFIX) for p in dst.iterdir()] == [True]
    report = prepare_dataset(src, dst, workers=1, progress=False)
    assert report.converted == 1 and report.failed == []
    assert [p.name for p in dst.iterdir() if not p.name.startswith(".")] == ["long.mp4"]
    assert len(decode(dst / "long.mp4")) == 300


# -- failures ----------------------------------------------------------------------------------
def test_bad_files_are_reported_and_the_good_ones_converted(tmp_path, shared_videos):
    src, dst = small_dataset(tmp_path / "src"), tmp_path / "dst"
    real = (shared_videos / "mpeg4_320x240_25fps.avi").read_bytes()
    (src / "a/text.mp4").write_text("this is not a video\n")
    (src / "a/empty.avi").write_bytes(b"")
    good = (src / "a/one.mp4").read_bytes()
    (src / "b/cut.mp4").write_bytes(good[: len(good) // 2])  # moov atom at the end: unreadable
    (src / "b/truncated.avi").write_bytes(real[: int(len(real) * 0.6)])
    report = prepare_dataset(src, dst, workers=2, progress=False)
    assert (report.converted, report.copied) == (2, 1)
    failed = dict(report.failed)
    assert "not a video" in failed["a/text.mp4"]
    assert "not a video" in failed["a/empty.avi"]
    assert "b/cut.mp4" in failed
    assert "truncated" in failed["b/truncated.avi"]
    assert all("\n" not in reason and reason for reason in failed.values())
    assert tree(dst) == {"a/one.mp4", "b/two.mp4", "classes.txt", MANIFEST_NAME}
    assert f"failed {len(failed)}" in str(report)


def test_transcode_video_raises_and_leaves_nothing(tmp_path):
    (tmp_path / "fake.mp4").write_text("nope")
    with pytest.raises(av.error.InvalidDataError):
        transcode_video(tmp_path / "fake.mp4", tmp_path / "out/fake.mp4")
    assert list((tmp_path / "out").iterdir()) == []


def test_same_output_name_is_a_failure_for_both(tmp_path):
    src = tmp_path / "src"
    write_video(src / "c/clip.avi", scene(5, 64, 64), 25, codec="mjpeg")
    write_video(src / "c/clip.mp4", scene(5, 64, 64), 25)
    write_video(src / "c/other.mp4", scene(5, 64, 64), 25)
    report = prepare_dataset(src, tmp_path / "dst", workers=1, progress=False)
    assert report.converted == 1
    assert [rel for rel, _ in report.failed] == ["c/clip.avi", "c/clip.mp4"]
    assert "c/clip.mp4" in report.failed[0][1] and "both would become" in report.failed[0][1]


def _crash_on_boom(job: str) -> str:
    if "boom" in job:
        os._exit(3)  # what a segfault in the decoder does to a worker
    time.sleep(0.05)
    return job.upper()


@pytest.mark.slow
def test_a_crashing_worker_fails_its_file_only():
    jobs = [f"f{i}{'boom' if i == 3 else ''}" for i in range(8)]
    results: dict[str, object] = {}
    run_jobs(_crash_on_boom, jobs, results.__setitem__, workers=2, crash_reason=CRASHED)
    assert sorted(results) == sorted(jobs)
    failed = {job: r.reason for job, r in results.items() if isinstance(r, JobFailed)}
    assert failed == {"f3boom": "the decoding process crashed on this file"}
    assert all(results[job] == job.upper() for job in jobs if job not in failed)


# -- arguments ---------------------------------------------------------------------------------
def test_destination_inside_source_is_rejected(tmp_path):
    src = small_dataset(tmp_path / "src")
    with pytest.raises(ValueError, match="inside SRC"):
        prepare_dataset(src, src / "prepared", progress=False)
    with pytest.raises(ValueError, match="SRC itself"):
        prepare_dataset(src, src / "a" / "..", progress=False)
    with pytest.raises(ValueError, match="inside DST"):
        prepare_dataset(src, tmp_path, progress=False)
    assert not (src / "prepared").exists()


def test_missing_source_and_bad_settings(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        prepare_dataset(tmp_path / "nope", tmp_path / "dst", progress=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        prepare_dataset(tmp_path / "file", tmp_path / "dst", progress=False)
    src = small_dataset(tmp_path / "src")
    for bad in ({"short_side": 0}, {"gop": 0}, {"crf": 99}, {"codec": "no-such-codec"}):
        with pytest.raises(ValueError):
            prepare_dataset(src, tmp_path / "dst", progress=False, **bad)
    assert not (tmp_path / "dst").exists()


def test_fps_sets_the_rate_and_keeps_the_frames(tmp_path):
    write_video(tmp_path / "in.mp4", scene(12, 90, 160), 25)
    transcode_video(tmp_path / "in.mp4", tmp_path / "out.mp4", fps=12.5, short_side=64, gop=4)
    info = stream_info(tmp_path / "out.mp4")
    assert info["rate"] == Fraction(25, 2) and info["size"] == (114, 64)
    assert info["keyframes"][:3] == [0, 4, 8]
    assert len(decode(tmp_path / "out.mp4")) == 12


def test_empty_source_folder(tmp_path):
    (tmp_path / "src").mkdir()
    report = prepare_dataset(tmp_path / "src", tmp_path / "dst", progress=False)
    assert (report.converted, report.copied, report.failed) == (0, 0, [])
