"""Every figure actionkit draws, in one place for notebooks.

Each lives beside what it draws, so that the objects' own methods (``dataset.show_batch()``,
``report.plot_confusion()``) need nothing from above their layer:

* clips of a dataset: :func:`show_batch`, :func:`clip_frames` (:mod:`actionkit.data.preview`);
* what the transforms and the sampling do: :func:`show_crops`, :func:`show_same_crop`,
  :func:`show_frames`, :func:`show_color_jitter`, :func:`show_normalization`,
  :func:`plot_sampling`, :func:`draw_segments` (:mod:`actionkit.data.illustrate`);
* an evaluation: :func:`plot_confusion_matrix`, :func:`plot_misclassified`
  (:mod:`actionkit.evaluation.plots`);
* training curves: :func:`plot_history`, :func:`read_history` (:mod:`actionkit.train.history`);
* :func:`save_figure` writes a figure to a file atomically (:mod:`actionkit.utils.atomic`).

Every function returns the matplotlib Figure and never calls ``plt.show()``.
"""

from actionkit.data.illustrate import (
    draw_segments,
    plot_sampling,
    show_color_jitter,
    show_crops,
    show_frames,
    show_normalization,
    show_same_crop,
)
from actionkit.data.preview import clip_frames, show_batch
from actionkit.evaluation.plots import plot_confusion_matrix, plot_misclassified
from actionkit.train.history import HISTORY_FIELDS, plot_history, read_history
from actionkit.utils.atomic import save_figure

__all__ = [
    "HISTORY_FIELDS",
    "clip_frames",
    "draw_segments",
    "plot_confusion_matrix",
    "plot_history",
    "plot_misclassified",
    "plot_sampling",
    "read_history",
    "save_figure",
    "show_batch",
    "show_color_jitter",
    "show_crops",
    "show_frames",
    "show_normalization",
    "show_same_crop",
]
