"""`make demo` / `actionkit demo`: the main job, offline.

Until the learner lands this runs the data part of the demo: build the sample dataset, load it,
check it, and show what a batch holds (a PNG of the clips under the output folder).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from actionkit.data import VideoDataset
from actionkit.datasets.sample import make_sample_dataset
from actionkit.spec import InputSpec

log = logging.getLogger(__name__)


@dataclass
class DemoResult:
    """What the demo made and measured."""

    data_dir: Path
    out_dir: Path
    batch_png: Path
    num_train: int
    num_val: int
    classes: list[str]
    batch_shape: tuple[int, ...]
    clips_per_second: float


def run_demo(
    out_dir: str | Path = "runs/demo",
    data_dir: str | Path | None = None,
    spec: InputSpec | None = None,
    batch_size: int = 8,
    workers: int = 2,
) -> DemoResult:
    """Build (or reuse) the sample dataset, split it, and load one epoch of training batches."""
    import matplotlib

    matplotlib.use("Agg")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data_dir = Path(data_dir) if data_dir else make_sample_dataset(out_dir / "sample_data")
    spec = spec or InputSpec(clip_len=8, frame_step=2, crop_size=112, resize=128)
    dataset = VideoDataset.from_folder(data_dir, spec=spec, flip=False)
    report = dataset.check(progress=False)
    if not report.ok:
        log.warning("%s", report)
        dataset = dataset.without(report.bad_paths)
    train, val = dataset.split(val_fraction=0.25, seed=0)
    loader = torch.utils.data.DataLoader(
        train, batch_size=batch_size, shuffle=True, num_workers=workers
    )
    start, count, first = time.perf_counter(), 0, None
    for batch in loader:
        first = first or batch
        count += len(batch["label"])
    rate = count / (time.perf_counter() - start)
    png = out_dir / "batch.png"
    fig = train.show_batch(n=4, frames=4)
    fig.savefig(png, dpi=80)
    return DemoResult(
        data_dir, out_dir, png, len(train), len(val), train.classes,
        tuple(first["video"].shape), rate,
    )  # fmt: skip


def summary(result: DemoResult) -> str:
    """A few lines for the terminal."""
    return "\n".join(
        [
            f"sample dataset: {result.data_dir} ({len(result.classes)} classes: "
            f"{', '.join(result.classes)})",
            f"split: {result.num_train} training / {result.num_val} validation videos",
            f"one batch: video {list(result.batch_shape)} (batch, channels, frames, height, width)",
            f"loading: {result.clips_per_second:.1f} training clips/s",
            f"clips drawn: {result.batch_png}",
        ]
    )
