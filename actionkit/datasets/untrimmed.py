"""Generated untrimmed videos with known action segments: the offline stand-in for a user's raw
footage in the labeling notebook and its tests.

Each video strings together a few actions of the sample dataset's classes
(:func:`~actionkit.datasets._render.render_sample_video`: an object moving, growing or
shrinking), with still stretches between them (the next action's first frame held), so the
parts no segment covers are real background: nothing moves there. The segments are written as a
plain CSV (``video,start,end,label``, seconds; the format ``actionkit clips`` and the annotation
tool import), as a person would have labeled them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actionkit.datasets._render import SAMPLE_CLASSES, render_sample_video
from actionkit.utils.atomic import write_text
from actionkit.video import write_video

__all__ = ["GROUND_TRUTH_FILE", "TrueSegment", "make_untrimmed_videos"]

GROUND_TRUTH_FILE = "ground_truth.csv"


@dataclass(frozen=True)
class TrueSegment:
    """One action in a generated video: frames ``start_frame`` to ``end_frame``, inclusive."""

    video: str
    label: str
    start_frame: int
    end_frame: int


def make_untrimmed_videos(
    root: str | Path,
    *,
    num_videos: int = 4,
    actions_per_video: int = 4,
    classes: tuple[str, ...] = ("growing", "moving_left", "moving_right"),
    action_frames: tuple[int, int] = (24, 40),
    still_frames: tuple[int, int] = (16, 40),
    size: tuple[int, int] = (160, 120),
    fps: float = 25.0,
    seed: int = 0,
) -> list[TrueSegment]:
    """Write ``video_000.mp4``... and ``ground_truth.csv`` into ``root``.

    Args:
        root: The folder (created).
        num_videos: How many videos.
        actions_per_video: Actions in each, classes taken in turn (every class in every video
            when there are at least as many actions as classes).
        classes: Names from :data:`~actionkit.datasets.sample.SAMPLE_CLASSES`.
        action_frames: Shortest and longest action, in frames (at least 2).
        still_frames: Shortest and longest still stretch before each action and at the end.
        size: ``(width, height)``.
        fps: Frame rate.
        seed: Equal seeds give equal videos.

    Returns:
        The segments, in video and time order (also written to ``ground_truth.csv``).
    """
    unknown = [c for c in classes if c not in SAMPLE_CLASSES]
    if unknown or not classes:
        raise ValueError(f"classes={classes!r}: choose among {', '.join(SAMPLE_CLASSES)}")
    if min(action_frames) < 2 or action_frames[0] > action_frames[1]:
        raise ValueError(
            f"action_frames={action_frames!r} must be (low, high) with 2 <= low <= high"
        )
    if min(still_frames) < 0 or still_frames[0] > still_frames[1]:
        raise ValueError(f"still_frames={still_frames!r} must be (low, high) with 0 <= low <= high")
    root = Path(root)
    rng = np.random.default_rng(seed)
    truth: list[TrueSegment] = []
    for v in range(num_videos):
        name = f"video_{v:03d}.mp4"
        frames: list[np.ndarray] = []
        for a in range(actions_per_video):
            label = classes[(v + a) % len(classes)]
            action = render_sample_video(
                label, rng, int(rng.integers(*action_frames, endpoint=True)), size
            )
            frames.extend([action[0]] * int(rng.integers(*still_frames, endpoint=True)))
            truth.append(TrueSegment(name, label, len(frames), len(frames) + len(action) - 1))
            frames.extend(action)
        frames.extend([frames[-1]] * int(rng.integers(*still_frames, endpoint=True)))
        write_video(root / name, np.stack(frames), fps, gop=12)
    write_text(root / GROUND_TRUTH_FILE, _csv(truth, fps))
    return truth


def _csv(truth: list[TrueSegment], fps: float) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["video", "start", "end", "label"])
    for s in truth:
        writer.writerow(
            [s.video, f"{s.start_frame / fps:.6f}", f"{(s.end_frame + 1) / fps:.6f}", s.label]
        )
    return out.getvalue()
