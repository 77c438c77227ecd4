"""Inference with a trained model: one video's top classes, or class scores over time.

* :func:`predict` / :class:`Prediction` (:mod:`~actionkit.inference.predict`): a video (file or
  frames) prepared exactly as evaluation prepares it, clip scores averaged;
* :func:`predict_timeline` / :class:`Timeline` (:mod:`~actionkit.inference.timeline`): a sliding
  window over a long video, exported as CSV or merged into segments.
"""

from actionkit.inference.predict import Prediction, predict
from actionkit.inference.timeline import Timeline, predict_timeline

__all__ = ["Prediction", "Timeline", "predict", "predict_timeline"]
