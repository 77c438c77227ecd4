"""actionkit: fine-tune, evaluate and run video action-recognition models on your own clips."""

from actionkit.spec import InputSpec

__version__ = "0.1.0"
__all__ = ["InputSpec", "__version__"]
