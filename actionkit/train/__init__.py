"""Fine-tuning: settings, the training loop, its callbacks, checkpoints, the whole job.

* :class:`TrainConfig` (:mod:`~actionkit.train.config`): every setting, in one dataclass;
* :class:`Learner` (:mod:`~actionkit.train.learner`): fit, validate, checkpoint, resume, on
  Accelerate (CPU, GPU, DDP);
* :class:`Callback` (:mod:`~actionkit.train.callbacks`): follow training from outside;
* :func:`make_optimizer` / :func:`make_scheduler` (:mod:`~actionkit.train.optim`);
* :func:`train_and_evaluate` (:mod:`~actionkit.train.workflow`): data in, model, report and
  figures out; :func:`run_demo` (:mod:`~actionkit.train.demo`) is it on the sample set.

The names load on first use, so ``import actionkit.train.config`` does not import torch.
"""

from actionkit.utils.lazy import lazy_exports

_EXPORTS = {
    "Callback": "actionkit.train.callbacks",
    "CSVHistory": "actionkit.train.callbacks",
    "ProgressBar": "actionkit.train.callbacks",
    "TrainConfig": "actionkit.train.config",
    "HISTORY_FIELDS": "actionkit.train.history",
    "plot_history": "actionkit.train.history",
    "read_history": "actionkit.train.history",
    "Learner": "actionkit.train.learner",
    "make_accelerator": "actionkit.train.learner",
    "make_optimizer": "actionkit.train.optim",
    "make_scheduler": "actionkit.train.optim",
    "RunResult": "actionkit.train.workflow",
    "build_model": "actionkit.train.workflow",
    "load_dataset": "actionkit.train.workflow",
    "train_and_evaluate": "actionkit.train.workflow",
    "run_demo": "actionkit.train.demo",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
