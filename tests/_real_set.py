"""A small dataset cut from real-world videos: forward, time-reversed and upside-down copies.

Twelve 24-frame segments of the shared clips (8 from the 10-s H.264 MP4, 4 from the MPEG-4 AVI),
each written three times at its own resolution: as it is (``forward``), played backwards
(``reversed``) and flipped upside down (``upside_down``). 36 clips, 3 classes: real textures and
motion, where telling ``forward`` from ``reversed`` needs the order of the frames.

    python tests/_real_set.py OUT_DIR [SHARED_VIDEOS_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from actionkit.video import open_video, write_video

CLASSES = ("forward", "reversed", "upside_down")
SEGMENT = 24
#: (file, first frames of the segments taken from it)
CUTS = (
    ("h264_340x256_30fps.mp4", range(0, 288, 36)),
    ("mpeg4_320x240_25fps.avi", range(0, 160, 40)),
)


def make_real_set(root: str | Path, videos: str | Path) -> Path:
    """Write the set to ``root/<class>/<source>_<start>.mp4`` (kept when already there)."""
    root, videos = Path(root), Path(videos)
    for name, starts in CUTS:
        with open_video(videos / name) as reader:
            fps = reader.info.fps
            frames = reader.read(np.arange(len(reader)))
        for start in starts:
            clip = frames[start : start + SEGMENT]
            if len(clip) < SEGMENT:
                raise ValueError(f"{name} has {len(frames)} frames, too few for {start}+{SEGMENT}")
            copies = {"forward": clip, "reversed": clip[::-1], "upside_down": clip[:, ::-1]}
            for label, data in copies.items():
                out = root / label / f"{Path(name).stem}_{start:03d}.mp4"
                if not out.exists():
                    out.parent.mkdir(parents=True, exist_ok=True)
                    write_video(out, np.ascontiguousarray(data), fps=fps, crf=18)
    return root


if __name__ == "__main__":
    here = Path(__file__).resolve().parents[1]
    shared = Path(sys.argv[2]) if len(sys.argv) > 2 else here.parent / "shared/data/videos"
    print(make_real_set(sys.argv[1], shared))
