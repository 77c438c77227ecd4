"""Evaluation: N clips per video, softmax averaged, every video counted once; the report.

* :func:`evaluate` / :func:`score_videos` (:mod:`~actionkit.evaluation.evaluate`): the standard
  video-level protocol, in one process or under DDP;
* :func:`compute_report` (:mod:`~actionkit.evaluation.metrics`): top-k, mean class accuracy,
  per-class scores, confusion matrix, as an :class:`EvalReport`
  (:mod:`~actionkit.evaluation.report`): printed, saved, loaded, drawn
  (:mod:`~actionkit.evaluation.plots`).
"""

from actionkit.evaluation.evaluate import VideoScores, evaluate, score_videos
from actionkit.evaluation.metrics import compute_report, topk_accuracy
from actionkit.evaluation.report import EvalReport

__all__ = [
    "EvalReport",
    "VideoScores",
    "compute_report",
    "evaluate",
    "score_videos",
    "topk_accuracy",
]
