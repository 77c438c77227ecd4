"""Single-video inference: one prediction per video, or a timeline of scores over a long one.

Both functions prepare the frames exactly as evaluation does (:class:`~actionkit.data.VideoDataset`
with ``train=False``): the same frame selection, frames decoded with their short side scaled to
``spec.resize``, and :func:`~actionkit.transforms.eval_transform` (resize, centre crop, normalize,
layout). The softmax probabilities of the clips are averaged.

Example::

    model = load_model("hmdb51.pt")
    print(predict(model, "clip.mp4", top_k=3))       # clip.mp4: running 0.91, walking 0.05, ...
    timeline = predict_timeline(model, "match.mp4", window=2.0, stride=1.0)
    timeline.to_csv("match.csv")
    timeline.segments(min_score=0.5)                  # [(0.0, 12.5, 'walking'), ...]
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from actionkit import sampling, transforms
from actionkit.atomic import write_text
from actionkit.data import segment_test_clips
from actionkit.models.base import VideoClassifier
from actionkit.spec import InputSpec
from actionkit.video import VideoReadError, open_video

__all__ = [
    "Prediction",
    "Timeline",
    "predict",
    "predict_timeline",
    "select_clips",
    "window_clip",
    "window_times",
]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike
VideoInput = str | os.PathLike | np.ndarray | torch.Tensor


# --------------------------------------------------------------------------------------------
# results


@dataclass
class Prediction:
    """The video-level prediction for one video.

    Attributes:
        labels: The ``top_k`` class names, best first.
        scores: Their averaged softmax probabilities.
        probs: ``(C,)`` averaged probabilities of every class.
        path: The video file, or ``None`` for frames given as an array.
    """

    labels: list[str]
    scores: list[float]
    probs: np.ndarray
    path: str | None

    def __str__(self) -> str:
        ranked = ", ".join(
            f"{name} {score:.2f}" for name, score in zip(self.labels, self.scores, strict=True)
        )
        return f"{self.path if self.path is not None else '<frames>'}: {ranked}"


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
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
        fig.tight_layout()
        return fig


# --------------------------------------------------------------------------------------------
# public API


def predict(
    model: VideoClassifier,
    video: VideoInput,
    *,
    top_k: int = 5,
    num_clips: int = 10,
    device: str | torch.device | None = None,
    batch_size: int = 8,
) -> Prediction:
    """Classify one video: ``num_clips`` test clips, softmax averaged.

    The clips are the ones evaluation reads: for 3D models (layout ``CTHW``) ``num_clips``
    uniformly spaced clips of ``clip_len`` frames ``frame_step`` apart; for segment models
    (``KCHW``, TSN/TSM) the centre of each of the ``num_segments`` segments, and with
    ``num_clips > 1`` that sampling shifted to ``num_clips`` evenly spread offsets.

    Args:
        model: The classifier; its ``input_spec`` says how to sample and transform, its
            ``classes`` name the outputs (``"class_<i>"`` where it has none). Run in eval mode
            under :func:`torch.inference_mode`; its train/eval mode is restored afterwards.
        video: A video file, or its frames: uint8 RGB ``T×H×W×3`` (numpy array or tensor).
        top_k: Number of classes in ``labels``/``scores`` (at most the number of classes).
        num_clips: Test clips (or segment samplings) averaged.
        device: Where to run; the model is moved there. ``None``: where the model is.
        batch_size: Clips per forward pass.

    Returns:
        A :class:`Prediction`.

    Raises:
        VideoReadError: The file cannot be read (the error names it).
        ValueError: Bad ``top_k``, ``num_clips`` or ``batch_size``, or frames that are empty or
            not a uint8 ``T×H×W×3`` array.
    """
    top_k = _positive_int("top_k", top_k)
    num_clips = _positive_int("num_clips", num_clips)
    batch_size = _positive_int("batch_size", batch_size)
    spec = model.input_spec
    if isinstance(video, (str, os.PathLike)):
        path: str | None = os.fspath(video)
        with open_video(path) as reader:
            indices = select_clips(len(reader), spec, num_clips)
            frames = reader.read(indices.ravel(), short_side=spec.resize)
    else:
        path = None
        array = _as_frames(video)
        indices = select_clips(len(array), spec, num_clips)
        frames = array[indices.ravel()]
    clips = _transform_clips(frames, indices.shape, transforms.eval_transform(spec))
    with _evaluating(model, device) as run_on:
        probs = _clip_probs(model, clips, run_on, batch_size).mean(axis=0)
    return _prediction(probs, _class_names(model, len(probs)), top_k, path)


def predict_timeline(
    model: VideoClassifier,
    path: PathLike,
    *,
    window: float = 2.0,
    stride: float = 1.0,
    device: str | torch.device | None = None,
    batch_size: int = 8,
    progress: bool = True,
) -> Timeline:
    """Class scores over time: one clip per sliding window of ``window`` seconds.

    Windows start every ``stride`` seconds, at ``0, stride, 2·stride...``, as long as they fit
    in the video (the tail shorter than a stride after the last window is not scored); a video
    shorter than one window gives one window covering it. Frame ``i`` is at time ``i / fps``.

    Each window is scored as evaluation would score a clip cut at that window with one test
    clip: a 3D model sees one clip of ``clip_len`` frames at its own ``frame_step``, centred in
    the window (looped within the window when the window is shorter than the clip); a segment
    model sees its ``num_segments`` segment centres spread over the window. Keeping the model's
    frame step (rather than stretching the clip over a longer window) keeps the motion speed it
    was trained on. Frames are read ``batch_size`` windows at a time, never the whole video.

    Args:
        model: The classifier (see :func:`predict`).
        path: The video file.
        window: Window length in seconds (> 0).
        stride: Seconds between window starts (> 0).
        device: Where to run; the model is moved there. ``None``: where the model is.
        batch_size: Windows per forward pass (and per read).
        progress: Show a progress bar.

    Returns:
        A :class:`Timeline`.

    Raises:
        VideoReadError: The file cannot be read (the error names it).
        ValueError: ``window`` or ``stride`` not a positive number, bad ``batch_size``.
    """
    window = _positive_seconds("window", window)
    stride = _positive_seconds("stride", stride)
    batch_size = _positive_int("batch_size", batch_size)
    spec = model.input_spec
    transform = transforms.eval_transform(spec)
    path = os.fspath(path)
    scores = []
    with open_video(path) as reader:
        num_frames, fps = len(reader), reader.info.fps
        if not fps > 0:
            raise VideoReadError(path, "no frame rate: cannot place windows in time")
        starts, ends = window_times(num_frames / fps, window, stride)
        # Every window holds at least one frame, even one shorter than a frame interval.
        first = np.minimum(_frame_range(starts, fps, num_frames), num_frames - 1)
        last = np.maximum(_frame_range(ends, fps, num_frames), first + 1)
        windows = np.stack(
            [window_clip(int(a), int(b - a), spec) for a, b in zip(first, last, strict=True)]
        )
        bar = tqdm(total=len(windows), desc=Path(path).name, unit="window", disable=not progress)
        with bar, _evaluating(model, device) as run_on:
            for lo in range(0, len(windows), batch_size):
                indices = windows[lo : lo + batch_size]
                frames = reader.read(indices.ravel(), short_side=spec.resize)
                clips = _transform_clips(frames, indices.shape, transform)
                scores.append(_clip_probs(model, clips, run_on, batch_size))
                bar.update(len(indices))
    probs = np.concatenate(scores)
    log.debug("%s: %d windows of %gs every %gs", path, len(starts), window, stride)
    return Timeline(_class_names(model, probs.shape[1]), starts, ends, probs, path)


# --------------------------------------------------------------------------------------------
# frame selection


def select_clips(num_frames: int, spec: InputSpec, num_clips: int) -> np.ndarray:
    """Frame indices of the ``num_clips`` test clips of a video, ``(num_clips, frames)``.

    The same selection as :meth:`VideoDataset.select_frames <actionkit.data.VideoDataset.
    select_frames>` in evaluation mode, one row per clip.
    """
    if spec.layout == "KCHW":
        if num_clips == 1:
            selection = sampling.segment_frames(
                num_frames, spec.num_segments, spec.clip_len, spec.frame_step, train=False
            )
        else:
            selection = segment_test_clips(num_frames, spec, num_clips)
    else:
        selection = sampling.uniform_clips(
            num_frames, spec.clip_len, spec.frame_step, num_clips=num_clips
        )
    return selection.indices.reshape(num_clips, -1)


def window_clip(first: int, length: int, spec: InputSpec) -> np.ndarray:
    """Frame indices of the one test clip of the ``length`` frames starting at ``first``."""
    return first + select_clips(length, spec, 1)[0]


def window_times(duration: float, window: float, stride: float) -> tuple[np.ndarray, np.ndarray]:
    """Start and end times (s) of the windows of a ``duration``-second video.

    ``floor((duration - window) / stride) + 1`` windows when the video holds one window, else a
    single window ``[0, duration)``.
    """
    if duration < window:
        return np.zeros(1), np.array([float(duration)])
    count = math.floor((duration - window) / stride + 1e-9) + 1
    starts = np.arange(count) * stride
    return starts, starts + window


def _frame_range(times: np.ndarray, fps: float, num_frames: int) -> np.ndarray:
    """First frame at or after each time (frame ``i`` is shown at ``i / fps``), capped."""
    return np.minimum(np.ceil(times * fps - 1e-6).astype(np.int64), num_frames)


# --------------------------------------------------------------------------------------------
# running the model


@contextlib.contextmanager
def _evaluating(
    model: VideoClassifier, device: str | torch.device | None
) -> Iterator[torch.device]:
    """Eval mode and inference mode for the block; restores the model's train/eval mode."""
    was_training = model.training
    if device is not None:
        model.to(device)
        run_on = torch.device(device)
    else:
        param = next(model.parameters(), None)
        run_on = param.device if param is not None else torch.device("cpu")
    model.eval()
    try:
        with torch.inference_mode():
            yield run_on
    finally:
        model.train(was_training)


def _transform_clips(
    frames: np.ndarray, shape: tuple[int, ...], transform: Callable
) -> torch.Tensor:
    """Frames read for indices of ``shape`` ``(N, T)`` → ``N`` transformed clips, stacked."""
    clips = frames.reshape(tuple(shape) + frames.shape[1:])
    return torch.stack([transform(clip) for clip in clips])


def _clip_probs(
    model: VideoClassifier, clips: torch.Tensor, device: torch.device, batch_size: int
) -> np.ndarray:
    """Softmax probabilities ``(N, C)`` of ``N`` clips, ``batch_size`` at a time."""
    out = []
    for lo in range(0, len(clips), batch_size):
        logits = model(clips[lo : lo + batch_size].to(device))
        if logits.ndim != 2:
            raise ValueError(
                f"{type(model).__name__} returned scores of shape {tuple(logits.shape)}; "
                "expected (batch, classes)"
            )
        out.append(torch.softmax(logits.float(), dim=1).cpu().numpy().astype(np.float64))
    return np.concatenate(out)


def _class_names(model: VideoClassifier, num_classes: int) -> list[str]:
    classes = getattr(model, "classes", None)
    if classes is None:
        return [f"class_{i}" for i in range(num_classes)]
    if len(classes) != num_classes:
        raise ValueError(
            f"model.classes has {len(classes)} names but the model gives {num_classes} scores"
        )
    return list(classes)


def _prediction(probs: np.ndarray, classes: list[str], top_k: int, path: str | None) -> Prediction:
    order = np.argsort(-probs, kind="stable")[: min(top_k, len(probs))]
    return Prediction(
        labels=[classes[int(i)] for i in order],
        scores=[float(probs[i]) for i in order],
        probs=probs,
        path=path,
    )


# --------------------------------------------------------------------------------------------
# argument checks and files


def _number(value: object) -> float:
    """``value`` as a float, or NaN when it is not a real number (so every range check fails)."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    return float(value) if ok else math.nan


def _positive_int(name: str, value: object) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name}={value!r} must be a positive integer (>= 1)")
    return int(value)


def _positive_seconds(name: str, value: object) -> float:
    seconds = _number(value)
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{name}={value!r} must be a positive number of seconds (> 0)")
    return seconds


def _as_frames(video: object) -> np.ndarray:
    """Check frames given in place of a file: uint8 ``T×H×W×3``, at least one frame."""
    if isinstance(video, torch.Tensor):
        array = video.detach().cpu().numpy()
    elif isinstance(video, np.ndarray):
        array = video
    else:
        raise ValueError(
            f"video must be a file path or uint8 frames T×H×W×3 (numpy array or tensor), "
            f"got {type(video).__name__}"
        )
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(
            f"frames of shape {tuple(array.shape)} are not T×H×W×3 (RGB, channels last)"
        )
    if array.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 T×H×W×3, got dtype {array.dtype}")
    if 0 in array.shape:
        raise ValueError(f"no frames to classify: frames of shape {tuple(array.shape)} are empty")
    return array
