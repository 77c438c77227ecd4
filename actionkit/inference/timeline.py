"""Class scores over time in a long video: one clip per sliding window, exported as CSV.

Each window is prepared exactly as :func:`actionkit.inference.predict` prepares a clip (and so
as evaluation does). Example::

    timeline = predict_timeline(model, "match.mp4", window=2.0, stride=1.0)
    timeline.to_csv("match.csv")
    timeline.segments(min_score=0.5)                  # [(0.0, 12.5, 'walking'), ...]
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from actionkit.data.presets import eval_transform
from actionkit.inference.predict import (
    _check_on_short,
    _class_names,
    _clip_probs,
    _evaluating,
    _number,
    _positive_int,
    _transform_clips,
    check_length,
    default_batch_size,
    select_clips,
)
from actionkit.models.base import VideoClassifier
from actionkit.spec import InputSpec
from actionkit.utils.atomic import write_text
from actionkit.utils.fonts import font_families
from actionkit.utils.progress import progress_bar
from actionkit.utils.threads import ensure_passive_omp
from actionkit.video import VideoReadError, open_video

__all__ = ["Timeline", "predict_timeline", "window_clip", "window_times"]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike

_READ_WINDOWS = 8  # windows decoded per read (whatever the batch size)


@dataclass
class Timeline:
    """Class scores of consecutive (possibly overlapping) windows of one video.

    Attributes:
        classes: Class names, one per score column.
        starts: ``(W,)`` window start times in seconds.
        ends: ``(W,)`` window end times in seconds.
        scores: ``(W, C)`` softmax probabilities of each window.
        path: The video file.
    """

    classes: list[str]
    starts: np.ndarray
    ends: np.ndarray
    scores: np.ndarray
    path: str | None

    def __len__(self) -> int:
        return len(self.starts)

    def top(self) -> list[tuple[float, float, str, float]]:
        """Per window: ``(start, end, best label, its score)``."""
        best = self.scores.argmax(axis=1)
        return [
            (float(s), float(e), self.classes[int(b)], float(self.scores[k, b]))
            for k, (s, e, b) in enumerate(zip(self.starts, self.ends, best, strict=True))
        ]

    def to_csv(self, path: PathLike) -> Path:
        """Write one row per window: ``start,end,top_label,top_score,<one column per class>``.

        The file is written to a temporary file in the same folder and renamed into place.

        Returns:
            The path written.
        """
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["start", "end", "top_label", "top_score", *self.classes])
        for k, (start, end, label, score) in enumerate(self.top()):
            row = [f"{start:.3f}", f"{end:.3f}", label, f"{score:.6f}"]
            writer.writerow(row + [f"{p:.6f}" for p in self.scores[k]])
        return write_text(Path(path), buffer.getvalue())

    def segments(self, min_score: float = 0.0) -> list[tuple[float, float, str]]:
        """Consecutive windows with the same top label, merged: ``(start, end, label)``.

        Each window stands for the time closest to its centre: the boundary between two
        windows is halfway between their centres (the first window reaches back to its start,
        the last one forward to its end). So segments never overlap, even when windows do, and a
        change of action is placed within one stride of where it happens. Windows whose top
        score is below ``min_score`` belong to no segment (they end the one before them).

        Args:
            min_score: Smallest top score for a window to count, in ``[0, 1]``.
        """
        if not 0.0 <= _number(min_score) <= 1.0:
            raise ValueError(f"min_score={min_score!r} must be a number in [0, 1]")
        if len(self) == 0:
            return []
        centres = (self.starts + self.ends) / 2
        bounds = np.concatenate([self.starts[:1], (centres[:-1] + centres[1:]) / 2, self.ends[-1:]])
        labels = np.where(self.scores.max(axis=1) >= min_score, self.scores.argmax(axis=1), -1)
        out, first = [], 0
        for k in range(1, len(self) + 1):  # close the run of windows first..k-1 at each change
            if k == len(self) or labels[k] != labels[first]:
                if labels[first] >= 0:
                    name = self.classes[int(labels[first])]
                    out.append((float(bounds[first]), float(bounds[k]), name))
                first = k
        return out

    def plot(self, max_classes: int = 10):
        """Class scores over time (at window centres), for the classes that score highest.

        Args:
            max_classes: Plot at most this many classes: those with the highest peak score.

        Returns:
            The matplotlib Figure.
        """
        import matplotlib.pyplot as plt

        centres = (self.starts + self.ends) / 2
        order = np.argsort(-self.scores.max(axis=0), kind="stable")[:max_classes]
        fig, ax = plt.subplots(figsize=(10, 3))
        for c in order:
            ax.plot(centres, self.scores[:, c], marker=".", label=self.classes[int(c)])
        ax.set_xlabel("time (s)")
        ax.set_ylabel("score")
        ax.set_ylim(0, 1)
        if self.path is not None:
            ax.set_title(Path(self.path).name)
        names = [self.classes[int(c)] for c in order]
        prop = {"family": font_families(names), "size": "small"}
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), prop=prop)
        fig.tight_layout()
        return fig


def predict_timeline(
    model: VideoClassifier,
    path: PathLike,
    *,
    window: float = 2.0,
    stride: float = 1.0,
    device: str | torch.device | None = None,
    batch_size: int | None = None,
    progress: bool = True,
    on_short: str = "warn",
) -> Timeline:
    """Class scores over time: one clip per sliding window of ``window`` seconds.

    Windows start every ``stride`` seconds, at ``0, stride, 2·stride...``, as long as they fit
    in the video; when the last of them ends before the video does, one more window, ending
    at the video's end, covers the tail (so every moment is scored). A video shorter than one
    window gives one window covering it. Frame ``i`` is at time ``i / fps``.

    Each window is scored as evaluation would score a clip cut at that window with one test
    clip: a 3D model sees one clip of ``clip_len`` frames at its own ``frame_step``, centred in
    the window (looped within the window when the window is shorter than the clip); a segment
    model sees its ``num_segments`` segment centres spread over the window. Keeping the model's
    frame step (rather than stretching the clip over a longer window) keeps the motion speed it
    was trained on. Frames are read a few windows at a time, never the whole video.

    Args:
        model: The classifier (see :func:`predict`).
        path: The video file.
        window: Window length in seconds (> 0).
        stride: Seconds between window starts (> 0).
        device: Where to run; the model is moved there. ``None``: where the model is.
        batch_size: Windows per forward pass; ``None``: :func:`~actionkit.inference.predict
            .default_batch_size` of the device (1 on the CPU, 8 on a GPU).
        progress: Show a progress bar.
        on_short: What to do when the whole video has fewer frames than one clip reads (a
            still image...): ``"warn"``, ``"error"`` or ``"ignore"``, as in :func:`predict`.

    Returns:
        A :class:`Timeline`.

    Raises:
        VideoReadError: The file cannot be read (the error names it).
        ShortVideoError: ``on_short="error"`` and the video is too short (a ``ValueError``).
        ValueError: ``window`` or ``stride`` not a positive number, bad ``batch_size`` or
            ``on_short``.
    """
    ensure_passive_omp()
    window = _positive_seconds("window", window)
    stride = _positive_seconds("stride", stride)
    if batch_size is not None:
        batch_size = _positive_int("batch_size", batch_size)
    _check_on_short(on_short)
    spec = model.input_spec
    transform = eval_transform(spec)
    path = os.fspath(path)
    scores = []
    with open_video(path) as reader:
        num_frames, fps = len(reader), reader.info.fps
        if not fps > 0:
            raise VideoReadError(path, "no frame rate: cannot place windows in time")
        check_length(path, num_frames, spec, on_short)
        starts, ends = window_times(num_frames / fps, window, stride)
        # Every window holds at least one frame, even one shorter than a frame interval.
        first = np.minimum(_frame_range(starts, fps, num_frames), num_frames - 1)
        last = np.maximum(_frame_range(ends, fps, num_frames), first + 1)
        windows = np.stack(
            [window_clip(int(a), int(b - a), spec) for a, b in zip(first, last, strict=True)]
        )
        bar = progress_bar(total=len(windows), desc=Path(path).name, unit="window", show=progress)
        with bar, _evaluating(model, device) as run_on:
            batch = batch_size or default_batch_size(run_on)
            chunk = max(batch, _READ_WINDOWS)  # one read decodes overlapping windows once
            for lo in range(0, len(windows), chunk):
                indices = windows[lo : lo + chunk]
                frames = reader.read(indices.ravel(), short_side=spec.resize)
                clips = _transform_clips(frames, indices.shape, transform)
                scores.append(_clip_probs(model, clips, run_on, batch))
                bar.update(len(indices))
    probs = np.concatenate(scores)
    log.debug("%s: %d windows of %gs every %gs", path, len(starts), window, stride)
    return Timeline(_class_names(model, probs.shape[1]), starts, ends, probs, path)


def window_clip(first: int, length: int, spec: InputSpec) -> np.ndarray:
    """Frame indices of the one test clip of the ``length`` frames starting at ``first``."""
    return first + select_clips(length, spec, 1)[0]


def window_times(duration: float, window: float, stride: float) -> tuple[np.ndarray, np.ndarray]:
    """Start and end times (s) of the windows of a ``duration``-second video.

    When the video holds one window: ``floor((duration - window) / stride) + 1`` windows
    ``stride`` apart from 0, and, if the last of them ends before ``duration``, one more
    ``[duration - window, duration)`` for the tail. Else a single window ``[0, duration)``.
    """
    if duration < window:
        return np.zeros(1), np.array([float(duration)])
    count = math.floor((duration - window) / stride + 1e-9) + 1
    starts = np.arange(count) * stride
    if starts[-1] + window < duration - 1e-6:
        starts = np.append(starts, duration - window)
    return starts, starts + window


def _frame_range(times: np.ndarray, fps: float, num_frames: int) -> np.ndarray:
    """First frame at or after each time (frame ``i`` is shown at ``i / fps``), capped."""
    return np.minimum(np.ceil(times * fps - 1e-6).astype(np.int64), num_frames)


def _positive_seconds(name: str, value: object) -> float:
    seconds = _number(value)
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{name}={value!r} must be a positive number of seconds (> 0)")
    return seconds
