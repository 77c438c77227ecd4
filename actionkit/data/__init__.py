"""Labelled videos in, model-ready clips out.

* :class:`VideoDataset` (:mod:`~actionkit.data.dataset`): decode, sample and transform, never
  dying on a bad file;
* :mod:`~actionkit.data.sources`: where the videos are (folders, list and CSV files, the
  HMDB51/UCF101 splits) and stratified splits;
* :mod:`~actionkit.data.sampling`: which frames (pure functions of the frame count);
* :mod:`~actionkit.data.transforms`: clip transforms (one draw for every frame of a clip);
* :mod:`~actionkit.data.presets`: what a model's ``InputSpec`` means for frames and transforms;
* :mod:`~actionkit.data.preview`: pictures of dataset items;
* :mod:`~actionkit.data.prepare`: transcode a whole dataset once for fast training.
"""

from actionkit.data.dataset import CheckReport, VideoDataset
from actionkit.data.presets import eval_transform, select_frames, train_transform
from actionkit.data.sources import Sample, SampleList

__all__ = [
    "CheckReport",
    "Sample",
    "SampleList",
    "VideoDataset",
    "eval_transform",
    "select_frames",
    "train_transform",
]
