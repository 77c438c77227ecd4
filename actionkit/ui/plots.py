"""Every figure actionkit draws, in one place for notebooks.

Each lives beside what it draws, so that the objects' own methods (``dataset.show_batch()``,
``report.plot_confusion()``) need nothing from above their layer:

* clips of a dataset: :func:`show_batch`, :func:`clip_frames` (:mod:`actionkit.data.preview`);
* an evaluation: :func:`plot_confusion_matrix`, :func:`plot_misclassified`
  (:mod:`actionkit.evaluation.plots`);
* training curves: :func:`plot_history`, :func:`read_history` (:mod:`actionkit.train.history`);
* :func:`save_figure` writes a figure to a file atomically (:mod:`actionkit.utils.atomic`).

Every function returns the matplotlib Figure and never calls ``plt.show()``.
"""

from actionkit.data.preview import clip_frames, show_batch
from actionkit.evaluation.plots import plot_confusion_matrix, plot_misclassified
from actionkit.train.history import HISTORY_FIELDS, plot_history, read_history
from actionkit.utils.atomic import save_figure

__all__ = [
    "HISTORY_FIELDS",
    "clip_frames",
    "plot_confusion_matrix",
    "plot_history",
    "plot_misclassified",
    "read_history",
    "save_figure",
    "show_batch",
]
