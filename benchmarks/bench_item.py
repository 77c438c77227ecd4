"""CPU time of one ``VideoDataset`` training item (decode, sample, transform), no DataLoader.

The steadiest figure of the data path on a shared machine (process time, one torch thread):
8 frames 2 apart, random resized 112² crops, from copies of the real 340×256 H.264 clip.

    python benchmarks/bench_item.py [--items 80] [--video PATH]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch

from actionkit.data import VideoDataset
from actionkit.spec import InputSpec

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos" / "h264_340x256_30fps.mp4"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=80)
    parser.add_argument("--video", type=Path, default=REAL)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        for cls in ("a", "b"):
            (Path(tmp) / cls).mkdir()
            for i in range(4):
                shutil.copy(args.video, Path(tmp) / cls / f"v{i}.mp4")
        spec = InputSpec(clip_len=8, frame_step=2, crop_size=112, resize=128)
        data = VideoDataset.from_folder(tmp, spec=spec)
        torch.manual_seed(0)
        for i in range(3):  # warm-up
            data[i]
        start = time.process_time()
        for i in range(args.items):
            data[i % len(data)]
        per_item = (time.process_time() - start) / args.items
    print(f"{per_item * 1000:.1f} ms CPU per item ({args.items} items, {args.video.name})")


if __name__ == "__main__":
    main()
