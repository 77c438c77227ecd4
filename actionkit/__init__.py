"""actionkit: fine-tune, evaluate and run video action-recognition models on your own clips.

The names below are the tour of the package; each loads on first use, so ``import actionkit``
stays fast (no torch until you need it)::

    from actionkit import VideoDataset, Learner, create_model, evaluate, predict

    model = create_model("r2plus1d_34_8_ig65m", num_classes=5)
    data = VideoDataset.from_folder("data/my_clips", spec=model.input_spec)

The subpackages, each importing only from those before it: :mod:`~actionkit.utils`,
:mod:`~actionkit.video`, :mod:`~actionkit.data`, :mod:`~actionkit.datasets` and
:mod:`~actionkit.models`, :mod:`~actionkit.evaluation`, :mod:`~actionkit.train`,
:mod:`~actionkit.inference`, :mod:`~actionkit.ui`, :mod:`~actionkit.cli`.
"""

from typing import TYPE_CHECKING

from actionkit.utils.lazy import lazy_exports
from actionkit.utils.threads import set_passive_omp

__version__ = "0.2.0"

# Before anything here imports torch: OpenMP threads that sleep while they wait (see
# actionkit.utils.threads). An OMP_WAIT_POLICY the user set wins.
set_passive_omp()

_EXPORTS = {
    "InputSpec": "actionkit.spec",
    "open_video": "actionkit.video",
    "write_video": "actionkit.video",
    "VideoReadError": "actionkit.video",
    "VideoDataset": "actionkit.data",
    "make_sample_dataset": "actionkit.datasets.sample",
    "create_model": "actionkit.models",
    "list_models": "actionkit.models",
    "load_model": "actionkit.models",
    "save_model": "actionkit.models",
    "evaluate": "actionkit.evaluation",
    "EvalReport": "actionkit.evaluation",
    "TrainConfig": "actionkit.train.config",
    "Recipe": "actionkit.recipe",
    "Learner": "actionkit.train.learner",
    "Callback": "actionkit.train.callbacks",
    "train_and_evaluate": "actionkit.train.workflow",
    "predict": "actionkit.inference",
    "predict_timeline": "actionkit.inference",
}

__all__ = [
    "Callback",
    "EvalReport",
    "InputSpec",
    "Learner",
    "Recipe",
    "TrainConfig",
    "VideoDataset",
    "VideoReadError",
    "__version__",
    "create_model",
    "evaluate",
    "list_models",
    "load_model",
    "make_sample_dataset",
    "open_video",
    "predict",
    "predict_timeline",
    "save_model",
    "train_and_evaluate",
    "write_video",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # what IDEs and type checkers see; at run time the names load lazily
    from actionkit.data import VideoDataset
    from actionkit.datasets.sample import make_sample_dataset
    from actionkit.evaluation import EvalReport, evaluate
    from actionkit.inference import predict, predict_timeline
    from actionkit.models import create_model, list_models, load_model, save_model
    from actionkit.recipe import Recipe
    from actionkit.spec import InputSpec
    from actionkit.train.callbacks import Callback
    from actionkit.train.config import TrainConfig
    from actionkit.train.learner import Learner
    from actionkit.train.workflow import train_and_evaluate
    from actionkit.video import VideoReadError, open_video, write_video
