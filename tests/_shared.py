"""The real-world test videos in ``../shared/data/videos`` (beside the checkout), if present."""

from __future__ import annotations

from pathlib import Path


def _shared_videos() -> Path | None:
    here = Path(__file__).resolve().parents
    for root in (here[2] / "shared", here[1] / "shared", Path("/work/shared")):
        if (root / "data" / "videos").is_dir():
            return root / "data" / "videos"
    return None


SHARED = _shared_videos()
