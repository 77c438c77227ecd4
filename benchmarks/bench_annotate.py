"""Speed of the labeling tool's parts: cutting clips, proxies, the local server, CSV import.

    python benchmarks/bench_annotate.py              # about a minute on 2 cores
    python benchmarks/bench_annotate.py --rounds 3   # cut_clips: the best of 3 rounds
    python benchmarks/bench_annotate.py --keep DIR   # keep the generated videos and outputs

Every figure comes with a baseline measured in the same run, so compare the ratios:

1. :func:`~actionkit.annotate.clips.cut_clips` with 1 and 2 workers against the naive loop in
   one process (``open_video`` + ``read`` + ``write_video`` per segment, the same frames and
   encoder settings), against a keyframe-aligned stream copy (PyAV remux, not frame-exact: what
   ``ffmpeg -ss -to -c copy`` does) and a resumed run (every clip there already).
2. :func:`~actionkit.annotate.proxy.proxy_for`: making the H.264 proxy of an AVI, as a multiple
   of real time, the second (cached) call, and the proxy's size against the source's.
3. :class:`~actionkit.annotate.server.AnnotationServer`: ``GET /media`` with 64 KiB ranges at
   random offsets and whole-file reads (time to first byte, MB/s) against reading the same bytes
   from disk in this process; ``/api/probe`` cold (probing, and making a proxy) and cached;
   ``GET /api/state`` and an autosave ``PUT``.
4. :func:`~actionkit.annotate.formats.read_annotations` of a 1000-segment plain CSV over 10
   videos, against probing those videos alone.

Videos: generated (``make_untrimmed_videos`` at 320×240, an indexed MPEG-4 AVI at 640×480,
25 fps, 20 s) and the shared real ones in ``../shared/data/videos`` (skipped when absent).
"""

from __future__ import annotations

import argparse
import csv
import http.client
import io
import json
import logging
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

from actionkit.annotate.clips import cut_clips
from actionkit.annotate.formats import read_annotations
from actionkit.annotate.proxy import needs_proxy, proxy_for
from actionkit.annotate.server import AnnotationServer
from actionkit.datasets.untrimmed import GROUND_TRUTH_FILE, make_untrimmed_videos
from actionkit.video import open_video, probe, write_video

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "videos"
REAL_MP4, REAL_AVI = "h264_340x256_30fps.mp4", "mpeg4_320x240_25fps.avi"
RANGE = 64 * 1024
MB = 1e6


def timed(fn: Callable[[], object]) -> float:
    """Seconds ``fn()`` takes."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def rounded(x: float) -> str:
    """``x`` with two decimals below 10, one below 100, none above."""
    return f"{x:.{2 if x < 10 else 1 if x < 100 else 0}f}"


def per_second(x: float) -> str:
    """``x`` with one decimal below 100, none above."""
    return f"{x:.{1 if x < 100 else 0}f}"


def plain_csv(rows: list[tuple[str, float, float, str]]) -> str:
    """A ``video,start,end,label`` CSV (seconds)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["video", "start", "end", "label"])
    writer.writerows([v, f"{a:.6f}", f"{b:.6f}", label] for v, a, b, label in rows)
    return out.getvalue()


def write_indexed_avi(path: Path, seconds: float = 20.0, fps: float = 25.0) -> Path:
    """An MPEG-4 Part 2 AVI of 640×480 frames that show their index (tests/_indexed.py)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from _indexed import write_indexed_video

    return write_indexed_video(
        path, round(seconds * fps), fps, codec="mpeg4", width=640, height=480
    )


# -- the videos ---------------------------------------------------------------------------------
def make_sets(work: Path) -> dict[str, Path]:
    """Folders of videos, each with ``segments.csv``: name -> folder."""
    sets = {}
    generated = work / "generated"
    make_untrimmed_videos(generated, num_videos=4, actions_per_video=4, size=(320, 240))
    (generated / "segments.csv").write_text((generated / GROUND_TRUTH_FILE).read_text())
    sets["generated 320×240 H.264 mp4 ×4"] = generated
    avi = work / "avi640"
    write_indexed_avi(avi / "indexed.avi")
    rows = [("indexed.avi", 2.0 * i + 0.5, 2.0 * i + 1.5, f"c{i % 3}") for i in range(10)]
    (avi / "segments.csv").write_text(plain_csv(rows))
    sets["indexed 640×480 MPEG-4 AVI, 20 s"] = avi
    if (SHARED / REAL_MP4).is_file() and (SHARED / REAL_AVI).is_file():
        real = work / "real"
        real.mkdir()
        for name in (REAL_MP4, REAL_AVI):
            shutil.copy(SHARED / name, real / name)
        rows = [(REAL_MP4, 2.4 * i + 0.3, 2.4 * i + 1.8, f"c{i % 2}") for i in range(4)]
        rows += [(REAL_AVI, 2.0 * i + 0.2, 2.0 * i + 1.4, f"c{i % 2}") for i in range(3)]
        (real / "segments.csv").write_text(plain_csv(rows))
        sets["real H.264 mp4 + MPEG-4 AVI"] = real
    return sets


# -- 1. cut_clips -------------------------------------------------------------------------------
def naive_cut(annotations, videos: Path, out: Path) -> None:
    """The baseline: each segment decoded and encoded in this process, one after the other."""
    for key, entry in annotations.videos.items():
        for s in entry.segments:
            with open_video(videos / key, backend="pyav") as video:
                frames = video.read(np.arange(s.start_frame, s.end_frame + 1))
                target = out / s.label / f"{Path(key).stem}__{s.start_frame}-{s.end_frame}.mp4"
                target.parent.mkdir(parents=True, exist_ok=True)
                write_video(target, frames, video.info.fps, crf=20, gop=16)


def stream_copy(annotations, videos: Path, out: Path) -> int:
    """Packets from the keyframe before each segment to its end, copied (no decoding); returns
    how many (frames) were written."""
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for key, entry in annotations.videos.items():
        source = videos / key
        for s in entry.segments:
            target = out / f"{source.stem}__{s.start_frame}-{s.end_frame}{source.suffix}"
            with av.open(str(source)) as inp, av.open(str(target), "w") as dst:
                stream = inp.streams.video[0]
                copy = dst.add_stream_from_template(stream)
                inp.seek(int(s.start / stream.time_base), stream=stream, backward=True)
                for packet in inp.demux(stream):
                    if packet.dts is None:  # the flush packet
                        continue
                    if packet.pts is not None and packet.pts * stream.time_base >= s.end:
                        break
                    packet.stream = copy
                    dst.mux(packet)
                    written += 1
    return written


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (the pool's workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def bench_cut(name: str, videos: Path, out: Path, rounds: int) -> list[str]:
    """Rows of the cut_clips table for one folder of videos: the best of ``rounds``."""
    annotations = read_annotations(videos / "segments.csv", videos=videos)
    segments = [s for entry in annotations.videos.values() for s in entry.segments]
    clip_seconds = sum(s.end - s.start for s in segments)

    def cut(folder: Path, workers: int) -> Callable[[], object]:
        return lambda: cut_clips(annotations, videos, folder, workers=workers, progress=False)

    best: dict[str, tuple[float, float]] = {}
    copied = 0  # frames the stream copy wrote
    for r in range(rounds):  # interleaved: load from elsewhere hits every method alike
        runs = {
            "naive loop, 1 process": lambda r=r: naive_cut(annotations, videos, out / f"naive{r}"),
            "cut_clips workers=1": cut(out / f"w1_{r}", 1),
            "cut_clips workers=2": cut(out / f"w2_{r}", 2),
            "resumed (all there), workers=2": cut(out / f"w2_{r}", 2),
            "stream copy": lambda r=r: stream_copy(annotations, videos, out / f"copy{r}"),
        }
        for label, run in runs.items():
            cpu, started = cpu_seconds(), time.perf_counter()
            result = run()
            wall = time.perf_counter() - started
            copied = result if label == "stream copy" else copied
            if label not in best or wall < best[label][0]:
                best[label] = (wall, cpu_seconds() - cpu)
    naive = best["naive loop, 1 process"][0]
    frames = sum(s.num_frames for s in segments)
    rows = []
    for label, (s, cpu) in best.items():
        if label == "stream copy":
            label = f"stream copy: {copied} frames for {frames}"
        rows.append(
            f"| {name} | {len(segments)} | {clip_seconds:.1f} | {label} "
            f"| {s:.{2 if s > 0.1 else 3}f} | {cpu:.2f} | {per_second(len(segments) / s)} "
            f"| {s / clip_seconds:.3f} | {rounded(naive / s)} |"
        )
    return rows


# -- 2. proxies ---------------------------------------------------------------------------------
def bench_proxy(source: Path, cache: Path) -> str:
    """A row: making ``source``'s proxy, the cached call, the sizes."""
    duration = probe(source, backend="pyav").duration
    made = timed(lambda: proxy_for(source, cache))
    cached = statistics.median(timed(lambda: proxy_for(source, cache)) for _ in range(20))
    proxy = proxy_for(source, cache)
    size, proxy_size = source.stat().st_size, proxy.stat().st_size
    return (
        f"| {source.name} | {duration:.2f} | {size / MB:.2f} | {made:.2f} | {duration / made:.1f} "
        f"| {cached * 1e3:.3f} | {proxy_size / MB:.2f} | {proxy_size / size:.2f} |"
    )


# -- 3. the server ------------------------------------------------------------------------------
def get(conn: http.client.HTTPConnection, url: str, token: str, headers=None):
    """``(seconds to the response's headers, seconds in all, status, body)``."""
    started = time.perf_counter()
    conn.request("GET", url, headers={"X-Actionkit-Token": token, **(headers or {})})
    response = conn.getresponse()
    first = time.perf_counter()
    body = response.read()
    return first - started, time.perf_counter() - started, response.status, body


def disk_read(path: Path, first: int, length: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(first)
        return f.read(length)


def bench_media(server, video: str, path: Path, n: int, whole: int, fresh: bool) -> list[str]:
    """Rows for ``GET /media``: ``n`` 64 KiB ranges at random offsets, ``whole`` full reads."""
    size = path.stat().st_size
    rng = random.Random(0)
    offsets = [rng.randrange(0, size - RANGE) for _ in range(n)]
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    url = f"/media?video={video}"
    get(conn, url, server.token, {"Range": "bytes=0-1"})  # connect; the proxy is known
    rows = []
    for label, spans in (("64 KiB ranges", [(o, RANGE) for o in offsets]),
                         ("whole file", [(0, size)] * whole)):  # fmt: skip
        if not spans:
            continue
        firsts, totals, nbytes = [], [], 0
        for first, length in spans:
            if fresh:
                conn.close()
            ranged = {"Range": f"bytes={first}-{first + length - 1}"} if length < size else {}
            ttfb, total, status, body = get(conn, url, server.token, ranged)
            assert status in (200, 206) and len(body) == length, (status, len(body))
            firsts.append(ttfb)
            totals.append(total)
            nbytes += length
        disk = timed(lambda spans=spans: [disk_read(path, a, k) for a, k in spans])
        served = sum(totals)
        rows.append(
            f"| {video}{' (proxy)' if path.suffix != Path(video).suffix else ''} "
            f"| {label}{', new connection each' if fresh else ''} | {len(spans)} "
            f"| {statistics.median(firsts) * 1e3:.2f} | {nbytes / served / MB:.0f} "
            f"| {nbytes / disk / MB:.0f} | {disk / served:.3f} |"
        )
    conn.close()
    return rows


def bench_probe(server, videos: list[str]) -> list[str]:
    """Rows for ``/api/probe``: the first call (probes; makes a proxy) and cached calls."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    rows = []
    for video in videos:
        torch_before = "torch" in sys.modules
        _, cold, status, body = get(conn, f"/api/probe?video={video}", server.token)
        assert status == 200, body
        imports_torch = "torch" in sys.modules and not torch_before
        cached = statistics.median(
            get(conn, f"/api/probe?video={video}", server.token)[1] for _ in range(20)
        )
        proxy = b'"proxy": true' in body
        rows.append(
            f"| {video} | {'yes' if proxy else 'no'} | {'yes' if imports_torch else 'no'} "
            f"| {cold * 1e3:.0f} | {cached * 1e3:.2f} |"
        )
    conn.close()
    return rows


def bench_server(videos: Path, cache: Path) -> tuple[list[str], list[str]]:
    """The /media rows and the /api/probe rows."""
    names = sorted(p.name for p in videos.iterdir() if p.suffix in (".mp4", ".avi"))
    mp4 = next(n for n in names if n.endswith(".mp4"))
    with AnnotationServer(videos, proxy_dir=cache) as server:
        probes = bench_probe(server, names)
        media = []
        for name in names:
            path = videos / name
            served = proxy_for(path, cache) if needs_proxy(path) else path
            media += bench_media(server, name, served, n=200, whole=20, fresh=False)
        media += bench_media(server, mp4, videos / mp4, n=200, whole=0, fresh=True)
    return media, probes


def bench_api(videos: Path, n: int = 20) -> str:
    """A row: median ms of ``GET /api/state`` and of an autosave (``PUT /api/annotations``)."""
    with AnnotationServer(videos, labels=["walk"]) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port)
        states = [get(conn, "/api/state", server.token) for _ in range(n)]
        data = json.loads(states[-1][3])["annotations"]
        headers = {"X-Actionkit-Token": server.token, "Content-Type": "application/json"}
        puts = []
        for _ in range(n):
            started = time.perf_counter()
            conn.request("PUT", "/api/annotations", json.dumps(data), headers=headers)
            data["revision"] = json.loads(conn.getresponse().read())["revision"]
            puts.append(time.perf_counter() - started)
        conn.close()
    state = statistics.median(s[1] for s in states)
    return f"| {state * 1e3:.2f} | {statistics.median(puts) * 1e3:.2f} |"


# -- 4. read_annotations ------------------------------------------------------------------------
def bench_read(work: Path, segments: int = 1000, num_videos: int = 10) -> str:
    """A row: reading a plain CSV of ``segments`` over ``num_videos`` generated videos."""
    folder = work / "read"
    truth = make_untrimmed_videos(folder, num_videos=num_videos, actions_per_video=4)
    names = sorted({t.video for t in truth})
    durations = {name: probe(folder / name, backend="pyav").duration for name in names}
    rng = np.random.default_rng(0)
    rows = []
    for i in range(segments):
        name = names[i % num_videos]
        start = float(rng.uniform(0, durations[name] - 1.0))
        rows.append((name, start, start + float(rng.uniform(0.2, 1.0)), f"c{i % 5}"))
    (folder / "big.csv").write_text(plain_csv(rows))
    reads = [timed(lambda: read_annotations(folder / "big.csv", videos=folder)) for _ in range(3)]
    probing = statistics.median(
        timed(lambda: [probe(folder / n, backend="pyav") for n in names]) for _ in range(3)
    )
    read = statistics.median(reads)
    return f"| {segments} | {num_videos} | {read:.3f} | {probing:.3f} | {read / probing:.2f} |"


def table(header: str, rows: list[str]) -> None:
    """Print a Markdown table."""
    columns = header.count("|") - 1
    print("\n".join([header, "|" + "---|" * columns, *rows]) + "\n", flush=True)


def serve_folder(work: Path, sources: list[Path], sets: dict[str, Path]) -> Path:
    """A folder for the server: the AVIs and one H.264 mp4 (the real one when it is there)."""
    served = work / "served"
    served.mkdir()
    for source in sources:
        shutil.copy(source, served / source.name)
    mp4 = work / "real" / REAL_MP4
    if not mp4.is_file():
        mp4 = next(iter(sets.values())) / "video_000.mp4"
    shutil.copy(mp4, served / mp4.name)
    return served


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="cut_clips rounds (the best)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    logging.getLogger("actionkit.annotate").setLevel(logging.ERROR)  # "no test split" etc.
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_annotate_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        run(work, args.rounds)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def run(work: Path, rounds: int) -> None:
    started = time.perf_counter()
    sets = make_sets(work)
    print(f"videos made in {time.perf_counter() - started:.1f} s\n", flush=True)

    rows = []
    for i, (name, folder) in enumerate(sets.items()):
        rows += bench_cut(name, folder, work / f"clips{i}", rounds)
    table("| videos | clips | clip s | method | wall s | CPU s | clips/s | s per clip-s "
          "| × naive |", rows)  # fmt: skip

    sources = [work / "avi640" / "indexed.avi"]
    if (work / "real" / REAL_AVI).is_file():
        sources.append(work / "real" / REAL_AVI)
    rows = [bench_proxy(source, work / "proxies") for source in sources]
    table("| source | duration s | source MB | make s | × real time | cached ms | proxy MB "
          "| proxy / source |", rows)  # fmt: skip

    served = serve_folder(work, sources, sets)
    media, probes = bench_server(served, work / "server_proxies")
    table("| video | proxy | imports torch | cold ms | cached ms |", probes)
    table("| video | request | n | TTFB median ms | served MB/s | disk MB/s "
          "| × disk |", media)  # fmt: skip
    table("| GET /api/state ms | PUT /api/annotations ms |", [bench_api(served)])

    table("| segments | videos | read_annotations s | probing alone s | × probing |",
          [bench_read(work)])  # fmt: skip
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
