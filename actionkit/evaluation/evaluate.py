"""Video-level evaluation: N clips per video, softmax averaged, every video counted once.

Works in one process and under DDP (``accelerate launch`` / ``torchrun``): each process scores its
share of the videos, the scores are gathered, padding duplicates are dropped, and every process
gets the same report.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch

from actionkit.data import VideoDataset
from actionkit.evaluation.metrics import compute_report
from actionkit.evaluation.report import EvalReport
from actionkit.models.base import uses_segments
from actionkit.utils.progress import progress_bar

log = logging.getLogger(__name__)

__all__ = ["VideoScores", "evaluate", "score_videos"]


@dataclass
class VideoScores:
    """Raw evaluation output, one row per video in the data's order."""

    index: np.ndarray  # (N,) indices into the data
    labels: np.ndarray  # (N,) true label, -1 where the video could not be read
    video_scores: np.ndarray  # (N, C) softmax averaged over clips (and crops)
    clip_scores: np.ndarray  # (N, K, C) softmax of each clip
    seconds: float

    def loss(self) -> float:
        """Mean negative log-likelihood of the true class under the averaged scores."""
        ok = self.labels >= 0
        if not ok.any():
            return float("nan")
        p = self.video_scores[ok, self.labels[ok]]
        return float(-np.log(np.clip(p, 1e-12, None)).mean())


def eval_dataset(data: VideoDataset, num_clips: int, three_crop: bool) -> VideoDataset:
    """``data`` in test mode with the wanted number of clips and crops."""
    if not data.train and data.num_clips == num_clips and data.three_crop == three_crop:
        return data
    return data.subset(data.samples, train=False, num_clips=num_clips, three_crop=three_crop)


def _accelerator(accelerator=None):
    if accelerator is not None:
        return accelerator
    from accelerate import Accelerator

    return Accelerator(cpu=not torch.cuda.is_available())


def score_videos(
    model: torch.nn.Module,
    data: VideoDataset,
    *,
    batch_size: int = 8,
    workers: int = 2,
    accelerator=None,
    progress: bool = True,
    channels_last: bool = False,
) -> VideoScores:
    """Run ``model`` over every clip of every video in ``data`` (already in test mode).

    ``model`` may be wrapped by ``accelerator.prepare``; a bare model is moved to the
    accelerator's device. Returns the same result on every process.
    """
    acc = _accelerator(accelerator)
    loader = torch.utils.data.DataLoader(
        data, batch_size=batch_size, shuffle=False, num_workers=workers,
        pin_memory=acc.device.type == "cuda",
    )  # fmt: skip
    loader = acc.prepare_data_loader(loader)
    if not hasattr(model, "module") and next(model.parameters()).device != acc.device:
        model = model.to(acc.device)
    was_training = model.training
    model.eval()
    start = time.perf_counter()
    parts: dict[str, list[torch.Tensor]] = {"index": [], "label": [], "clips": []}
    bar = progress_bar(
        loader, desc="evaluating", unit="batch", show=progress and acc.is_main_process
    )
    with torch.inference_mode():
        for batch in bar:
            clips = _clip_probs(model, batch["video"], acc, channels_last)
            gathered = acc.gather_for_metrics((batch["index"], batch["label"], clips))
            for key, value in zip(parts, gathered, strict=True):
                parts[key].append(value.cpu())
    model.train(was_training)
    index = torch.cat(parts["index"]).numpy()
    order = np.unique(index, return_index=True)[1]  # sorted by index; drops any duplicate
    clip_scores = torch.cat(parts["clips"]).float().numpy()[order]
    return VideoScores(
        index=index[order],
        labels=torch.cat(parts["label"]).numpy()[order],
        video_scores=clip_scores.mean(axis=1),
        clip_scores=clip_scores,
        seconds=time.perf_counter() - start,
    )


def _clip_probs(model, video: torch.Tensor, acc, channels_last: bool) -> torch.Tensor:
    """Softmax per clip: ``(B, K, C)`` for a batch of one or K stacked clips per video."""
    multi = video.ndim == 6  # (B, K, C, T, H, W) or (B, K, S, C, H, W)
    batch = video.shape[0]
    flat = video.flatten(0, 1) if multi else video
    if channels_last and flat.ndim == 5 and not uses_segments(model):
        flat = flat.contiguous(memory_format=torch.channels_last_3d)
    with acc.autocast():
        logits = model(flat)
    probs = logits.float().softmax(dim=-1)
    return probs.view(batch, -1, probs.shape[-1])


def evaluate(
    model: torch.nn.Module,
    data: VideoDataset,
    *,
    num_clips: int = 10,
    three_crop: bool = False,
    batch_size: int = 4,
    workers: int = 2,
    accelerator=None,
    progress: bool = True,
) -> EvalReport:
    """The standard video protocol: ``num_clips`` uniformly spaced clips per video (three crops
    each with ``three_crop``), softmax averaged into one video prediction.

    Args:
        model: A trained classifier (its outputs follow ``data.classes``).
        data: The test videos (any mode: a test-mode copy is made).
        num_clips: Clips per video (10 is the usual protocol; 1 is the fast check).
        three_crop: Left/centre/right crops of each clip instead of one centre crop.
        batch_size: Videos per batch (each brings ``num_clips`` × crops clips).
        workers: DataLoader worker processes.
        accelerator: An ``accelerate.Accelerator`` (device, mixed precision, DDP); default: one
            made for this machine.
        progress: Show a progress bar.

    Returns:
        An :class:`~actionkit.metrics.EvalReport` (top-1/top-5, mean class accuracy, clip
        accuracy, per-class precision/recall, confusion matrix, seconds per video).
    """
    if num_clips < 1:
        raise ValueError(f"num_clips={num_clips!r} must be at least 1")
    test = eval_dataset(data, num_clips, three_crop)
    scores = score_videos(
        model, test, batch_size=batch_size, workers=workers,
        accelerator=accelerator, progress=progress,
    )  # fmt: skip
    inner = getattr(model, "module", model)
    settings = {
        "model": getattr(inner, "arch", type(inner).__name__),
        "num_clips": num_clips,
        "three_crop": three_crop,
        "videos": len(test),
    }
    paths = [str(test.samples[i].path) for i in scores.index]
    return compute_report(
        scores.video_scores, scores.labels, test.classes, clip_scores=scores.clip_scores,
        paths=paths, seconds=scores.seconds, settings=settings,
    )  # fmt: skip
