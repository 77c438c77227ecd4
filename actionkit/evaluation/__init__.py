"""Evaluation: N clips per video, softmax averaged, every video counted once; the report.

* :func:`evaluate` / :func:`score_videos` (:mod:`~actionkit.evaluation.evaluate`): the standard
  video-level protocol, in one process or under DDP;
* :class:`EvalReport` / :func:`compute_report` (:mod:`~actionkit.evaluation.metrics`): top-k,
  mean class accuracy, per-class scores, confusion matrix; printed, saved, loaded, drawn
  (:mod:`~actionkit.evaluation.plots`).
"""

from actionkit.evaluation.evaluate import VideoScores, evaluate, score_videos
from actionkit.evaluation.metrics import EvalReport, compute_report, topk_accuracy

__all__ = [
    "EvalReport",
    "VideoScores",
    "compute_report",
    "evaluate",
    "score_videos",
    "topk_accuracy",
]
