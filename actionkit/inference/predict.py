"""Single-video inference: the top classes of one video (timelines: :mod:`actionkit.timeline`).

:func:`predict` prepares the frames exactly as evaluation does (a
:class:`~actionkit.data.VideoDataset` with ``train=False``): the same frame selection, frames
decoded with their short side scaled to ``spec.resize``, and
:func:`~actionkit.data.presets.eval_transform` (resize, centre crop, normalize, layout). The
softmax probabilities of the clips are averaged.

Example::

    model = load_model("hmdb51.pt")
    print(predict(model, "clip.mp4", top_k=3))       # clip.mp4: running 0.91, walking 0.05, ...
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from actionkit.data.presets import eval_transform, select_frames
from actionkit.models.base import VideoClassifier
from actionkit.spec import InputSpec
from actionkit.utils.threads import ensure_passive_omp
from actionkit.video import open_video

__all__ = [
    "ON_SHORT",
    "Prediction",
    "ShortVideoError",
    "check_length",
    "default_batch_size",
    "predict",
    "select_clips",
]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike
VideoInput = str | os.PathLike | np.ndarray | torch.Tensor

#: What ``on_short`` accepts: what to do with a video of fewer frames than one clip reads.
ON_SHORT = ("warn", "error", "ignore")


class ShortVideoError(ValueError):
    """A video (or still image) with fewer frames than one clip of the model reads.

    Attributes:
        path: The file, or ``None`` for frames given as an array.
        num_frames: Its frame count.
        needed: Frames one clip reads (``model.input_spec.frames_per_sample``).
    """

    def __init__(self, path: str | None, num_frames: int, needed: int) -> None:
        self.path, self.num_frames, self.needed = path, num_frames, needed
        super().__init__(short_video_message(path, num_frames, needed))

    def __reduce__(self):  # pickles with its arguments (e.g. out of a worker process)
        return (type(self), (self.path, self.num_frames, self.needed))


# --------------------------------------------------------------------------------------------
# results


@dataclass
class Prediction:
    """The video-level prediction for one video.

    Attributes:
        classes: The ``top_k`` class names, best first.
        scores: Their averaged softmax probabilities.
        probs: ``(C,)`` averaged probabilities of every class.
        path: The video file, or ``None`` for frames given as an array.
    """

    classes: list[str]
    scores: list[float]
    probs: np.ndarray
    path: str | None

    @property
    def label(self) -> int:
        """The id of the best class (an index into ``model.classes``, as a dataset's ``label``)."""
        return int(np.argmax(self.probs))

    def __str__(self) -> str:
        ranked = ", ".join(
            f"{name} {score:.2f}" for name, score in zip(self.classes, self.scores, strict=True)
        )
        return f"{self.path if self.path is not None else '<frames>'}: {ranked}"


# --------------------------------------------------------------------------------------------
# public API


def predict(
    model: VideoClassifier,
    video: VideoInput,
    *,
    top_k: int = 5,
    num_clips: int = 10,
    device: str | torch.device | None = None,
    batch_size: int | None = None,
    on_short: str = "warn",
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
        batch_size: Clips per forward pass; ``None``: :func:`default_batch_size` of the device
            (1 on the CPU, where bigger batches were measured slower, 8 on a GPU).
        on_short: A video with fewer frames than one clip reads (``input_spec
            .frames_per_sample``; a still image has one) has frames repeated to fill the clip,
            and its scores say little: ``"warn"`` logs a warning naming the file,
            ``"error"`` raises :class:`ShortVideoError`, ``"ignore"`` does neither.

    Returns:
        A :class:`Prediction`.

    Raises:
        VideoReadError: The file cannot be read (the error names it).
        ShortVideoError: ``on_short="error"`` and the video is too short (a ``ValueError``).
        ValueError: Bad ``top_k``, ``num_clips``, ``batch_size`` or ``on_short``, or frames
            that are empty or not a uint8 ``T×H×W×3`` array.
    """
    ensure_passive_omp()  # sleeping OpenMP waits (warns once when it is too late for them)
    top_k = _positive_int("top_k", top_k)
    num_clips = _positive_int("num_clips", num_clips)
    if batch_size is not None:
        batch_size = _positive_int("batch_size", batch_size)
    _check_on_short(on_short)
    spec = model.input_spec
    if isinstance(video, (str, os.PathLike)):
        path: str | None = os.fspath(video)
        with open_video(path) as reader:
            check_length(path, len(reader), spec, on_short)
            indices = select_clips(len(reader), spec, num_clips)
            # one read for every clip: each frame is decoded once, in a single forward pass
            frames = reader.read(indices.ravel(), short_side=spec.resize)
    else:
        path = None
        array = _as_frames(video)
        check_length(None, len(array), spec, on_short)
        indices = select_clips(len(array), spec, num_clips)
        frames = array[indices.ravel()]
    transform = eval_transform(spec)
    per_clip = indices.shape[1]
    with _evaluating(model, device) as run_on:
        batch = batch_size or default_batch_size(run_on)
        probs = []
        for lo in range(0, num_clips, batch):  # transform a batch at a time: less memory
            rows = indices[lo : lo + batch]
            part = frames[lo * per_clip : (lo + len(rows)) * per_clip]
            clips = _transform_clips(part, rows.shape, transform)
            probs.append(_clip_probs(model, clips, run_on, batch))
        mean = np.concatenate(probs).mean(axis=0)
    return _prediction(mean, _class_names(model, len(mean)), top_k, path)


def default_batch_size(device: str | torch.device) -> int:
    """Clips per forward pass when none is given: 1 on the CPU, 8 elsewhere (GPUs).

    On the CPU a batch brings no speed (the cores are busy with one clip already) and costs
    big short-lived buffers (a batch of 8 TSM clips at 224 px: 100 MB activations), which the
    allocator gets from and returns to the kernel at every layer: measured 1.6-5x slower than
    batch 1, half of it system time (benchmarks/bench_cli.py).
    """
    return 1 if torch.device(device).type == "cpu" else 8


def check_length(path: str | None, num_frames: int, spec: InputSpec, on_short: str) -> bool:
    """Whether a video of ``num_frames`` frames fills one clip of ``spec``; act on ``on_short``
    (see :func:`predict`) when it does not.

    Raises:
        ShortVideoError: ``on_short="error"`` and it does not.
    """
    needed = spec.frames_per_sample
    if num_frames >= needed:
        return True
    if on_short == "error":
        raise ShortVideoError(path, num_frames, needed)
    if on_short == "warn":
        log.warning("%s", short_video_message(path, num_frames, needed))
    return False


def short_video_message(path: str | None, num_frames: int, needed: int) -> str:
    """Why a video is too short for a clip, in words (names the file and the counts)."""
    what = "a still image (1 frame)" if num_frames == 1 else f"only {num_frames} frames"
    name = path if path is not None else "<frames>"
    return (
        f"{name}: {what}, fewer than the {needed} frames one clip of the model reads; "
        "frames are repeated to fill it, so its scores mean little"
    )


def _check_on_short(on_short: object) -> None:
    if on_short not in ON_SHORT:
        raise ValueError(f"on_short={on_short!r} is not one of {ON_SHORT}")


# --------------------------------------------------------------------------------------------
# frame selection


def select_clips(num_frames: int, spec: InputSpec, num_clips: int) -> np.ndarray:
    """Frame indices of the ``num_clips`` test clips of a video, one row per clip:
    :func:`~actionkit.data.presets.select_frames` (what evaluation reads) as ``(num_clips, T)``."""
    return select_frames(num_frames, spec, num_clips=num_clips).indices.reshape(num_clips, -1)


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
        classes=[classes[int(i)] for i in order],
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
