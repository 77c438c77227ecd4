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
from actionkit.video import open_video

__all__ = ["Prediction", "predict", "select_clips"]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike
VideoInput = str | os.PathLike | np.ndarray | torch.Tensor


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
    clips = _transform_clips(frames, indices.shape, eval_transform(spec))
    with _evaluating(model, device) as run_on:
        probs = _clip_probs(model, clips, run_on, batch_size).mean(axis=0)
    return _prediction(probs, _class_names(model, len(probs)), top_k, path)


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
