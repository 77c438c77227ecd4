"""Training clips per second from the data pipeline, against a naive baseline in the same run.

Sources: (a) 1080p H.264 (the real 340×256 clip upscaled and re-encoded like a phone video:
GOP 60 with B-frames), (b) 340×256 H.264 (the real clip), and (c) the 1080p set after
``actionkit prepare --short-side 128``. Pipelines: 8 frames × 112² (R(2+1)D) and TSN 3 × 224².
Baseline: decode every frame of the video, then sample and transform (what a naive loader does).

    python benchmarks/bench_data.py [--clips 24] [--workers 0 1 2] [--backends pyav torchcodec]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import time
from pathlib import Path

import av
import numpy as np
import torch

from actionkit.data import VideoDataset
from actionkit.data.prepare import prepare_dataset
from actionkit.data.presets import train_transform
from actionkit.data.sampling import random_clip, segment_frames
from actionkit.spec import IMAGENET_MEAN, IMAGENET_STD, InputSpec
from actionkit.video import available_backends, write_video

HERE = Path(__file__).resolve().parent
REAL = HERE.parent.parent / "shared" / "data" / "videos" / "h264_340x256_30fps.mp4"
WORK = HERE / "_work"
R21D = InputSpec(clip_len=8, frame_step=2, crop_size=112, resize=128)
TSN = InputSpec(
    layout="KCHW", clip_len=1, num_segments=3, crop_size=224, resize=256,
    mean=IMAGENET_MEAN, std=IMAGENET_STD,
)  # fmt: skip


def make_sources(copies: int) -> dict[str, Path]:
    """Folders of ``copies`` videos per class (two classes), built once and reused."""
    small, large = WORK / "src_340x256", WORK / "src_1080p"
    if not (large / "b" / f"v{copies - 1}.mp4").exists():
        with av.open(str(REAL)) as c:
            frames = [f.reformat(1920, 1080, "rgb24").to_ndarray() for f in c.decode(video=0)]
        big = write_video(WORK / "1080p.mp4", frames, fps=30, crf=23, gop=60, bframes=3)
        for cls in "ab":
            for i in range(copies):
                for src, root in ((REAL, small), (big, large)):
                    (root / cls).mkdir(parents=True, exist_ok=True)
                    shutil.copy(src, root / cls / f"v{i}.mp4")
    prepared = WORK / "prepared_1080p_to_128"
    report = prepare_dataset(large, prepared, short_side=128)
    return {"1080p": large, "340x256": small, "1080p prepared": prepared, "_prep": report}


def naive_clip(path: Path, spec: InputSpec, transform, rng) -> torch.Tensor:
    """Decode every frame, then sample: the baseline."""
    with av.open(str(path)) as c:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    if spec.layout == "KCHW":
        sel = segment_frames(len(frames), spec.num_segments, train=True, rng=rng)
    else:
        sel = random_clip(len(frames), spec.clip_len, spec.frame_step, rng=rng)
    return transform(frames[sel.indices])


def time_loader(dataset: VideoDataset, clips: int, workers: int) -> float:
    index = torch.randint(len(dataset), (clips,)).tolist()
    subset = torch.utils.data.Subset(dataset, index)
    loader = torch.utils.data.DataLoader(subset, batch_size=4, num_workers=workers)
    start = time.perf_counter()
    seen = sum(len(b["label"]) for b in loader)
    return seen / (time.perf_counter() - start)


def time_naive(root: Path, spec: InputSpec, clips: int) -> float:
    files = sorted(root.rglob("*.mp4"))
    transform, rng = train_transform(spec, flip=False), np.random.default_rng(0)
    start = time.perf_counter()
    for i in range(clips):
        naive_clip(files[i % len(files)], spec, transform, rng)
    return clips / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--backends", nargs="+", default=available_backends())
    args = parser.parse_args()
    torch.set_num_threads(1)
    sources = make_sources(args.copies)
    prep = sources.pop("_prep")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, 1 torch thread in the main process"
    )
    print(f"prepare 1080p → 128: {prep.converted} files in {prep.seconds:.1f} s, "
          f"{prep.bytes_in / 1e6:.1f} MB → {prep.bytes_out / 1e6:.1f} MB")  # fmt: skip
    print("| source | pipeline | loader | backend | workers | clips/s | × naive |")
    print("|---|---|---|---|---|---|---|")
    for source, root in sources.items():
        for name, spec in (("8×112²", R21D), ("TSN 3×224²", TSN)):
            base = time_naive(root, spec, max(4, args.clips // 4))
            print(f"| {source} | {name} | naive (decode all) | pyav | 0 | {base:.2f} | 1.0 |")
            for backend in args.backends:
                ds = VideoDataset.from_folder(root, spec=spec, backend=backend, flip=False)
                for workers in args.workers:
                    rate = time_loader(ds, args.clips, workers)
                    print(
                        f"| {source} | {name} | VideoDataset | {backend} | {workers} "
                        f"| {rate:.2f} | {rate / base:.1f} |"
                    )


if __name__ == "__main__":
    main()
