"""VideoDataset: labelled video files in, decoded, sampled and transformed clips out."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from actionkit.data import presets, sampling, sources, transforms
from actionkit.data.check import CheckReport, check_videos
from actionkit.data.sources import PathLike, Sample, SampleList
from actionkit.spec import InputSpec
from actionkit.video import VideoReadError, open_video

log = logging.getLogger(__name__)

_MAX_SLOTS = 256  # per-process skip counters: slot 0 = main process, 1 + worker id otherwise


class VideoDataset(torch.utils.data.Dataset):
    """Labelled videos as model-ready samples.

    Each item is a dict: ``video`` (float tensor in the spec's layout; with ``num_clips > 1`` or
    ``three_crop`` the clips are stacked on a new first axis), ``label`` (int), ``path`` (str),
    ``indices`` (the frame indices read, int64), ``fill`` (``"none"``, ``"loop"`` or ``"pad"``:
    what was done for a video shorter than a clip) and ``index``.

    A file that cannot be decoded is never fatal: in training another item is drawn in its place;
    in evaluation the item comes back with ``label == -1`` and a zero video, so that every video
    is still counted once. Either way it is counted (:attr:`skipped_count`) and logged once.
    ``strict=True`` raises :class:`~actionkit.video.VideoReadError` instead.

    Args:
        samples: The labelled files (see the ``from_*`` constructors).
        classes: Class names; label ``i`` is ``classes[i]``.
        spec: The model's input spec (clip length, step, crop, mean/std, layout).
        train: Random clips and train augmentation, or deterministic test clips.
        transform: Replaces the preset transform built from ``spec``.
        num_clips: Test clips per video (uniformly spaced); ignored in training.
        three_crop: Three crops per test clip instead of one centre crop.
        strict: Raise on a bad file instead of skipping it.
        backend: Video decoding backend (``"auto"``, ``"pyav"``, ``"torchcodec"``).
        decode_resize: Scale frames to ``spec.resize`` while decoding (much faster on large videos).
        flip: Horizontal flip in the train preset (turn off when left/right matters).
        crop: Train preset crop: ``"auto"`` (multi-scale corners for TSN/TSM, random resized
            for 3D models), ``"random_resized"``, ``"multiscale"`` or ``"random"`` (a plain
            random crop: keeps the whole scene scale).
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        classes: Sequence[str],
        *,
        spec: InputSpec | None = None,
        train: bool = True,
        transform: Callable | None = None,
        num_clips: int = 1,
        three_crop: bool = False,
        strict: bool = False,
        backend: str = "auto",
        decode_resize: bool = True,
        flip: bool = True,
        crop: str = "auto",
    ) -> None:
        if num_clips < 1:
            raise ValueError(f"num_clips={num_clips!r} must be at least 1")
        if crop != "auto" and crop not in transforms.CROPS:
            raise ValueError(
                f"crop={crop!r} is not valid; choose 'auto' or one of {transforms.CROPS}"
            )
        self.samples = list(samples)
        self.classes = list(classes)
        self.spec = spec or InputSpec()
        self.train = train
        self.num_clips = 1 if train else num_clips
        self.three_crop = three_crop and not train
        self.strict = strict
        self.backend = backend
        self.decode_resize = decode_resize
        self.flip = flip
        self.crop = crop
        self.custom_transform = transform
        self.transform = transform or self._preset()
        self.ignored = 0
        self.missing: tuple[str, ...] = ()
        self._skips = torch.zeros(_MAX_SLOTS, dtype=torch.int64).share_memory_()
        self._logged: set[str] = set()

    # -- constructors ------------------------------------------------------------------------
    @classmethod
    def _from_list(cls, found: SampleList, **kwargs: Any) -> VideoDataset:
        if kwargs.get("strict") and found.missing:
            raise FileNotFoundError(
                f"{len(found.missing)} listed videos do not exist: {list(found.missing[:5])}"
            )
        dataset = cls(found.samples, found.classes, **kwargs)
        dataset.ignored, dataset.missing = found.ignored, found.missing
        return dataset

    @classmethod
    def from_folder(
        cls, root: PathLike, *, classes: Sequence[str] | PathLike | None = None, **kwargs: Any
    ) -> VideoDataset:
        """Videos in ``root/<class name>/``. ``classes``: a list or a class file; default sorted."""
        if isinstance(classes, str | os.PathLike):
            classes = sources.read_class_file(classes)
        return cls._from_list(sources.scan_folder(root, classes), **kwargs)

    @classmethod
    def from_list(
        cls,
        list_file: PathLike,
        root: PathLike | None = None,
        *,
        classes: Sequence[str] | PathLike | None = None,
        **kwargs: Any,
    ) -> VideoDataset:
        """Videos named in a ``path label`` list or a CSV file (see :func:`read_list_file`)."""
        if isinstance(classes, str | os.PathLike):
            classes = sources.read_class_file(classes)
        found = sources.read_list_file(list_file, root, None if classes is None else list(classes))
        return cls._from_list(found, **kwargs)

    @classmethod
    def _from_split(
        cls,
        read_split: Callable[..., SampleList],
        video_root: PathLike,
        split_dir: PathLike,
        split: int,
        **kwargs: Any,
    ) -> VideoDataset:
        """An official split read by ``read_split``: its train subset, or test with train=False."""
        subset = "train" if kwargs.get("train", True) else "test"
        return cls._from_list(read_split(video_root, split_dir, split, subset), **kwargs)

    @classmethod
    def from_hmdb51(
        cls, video_root: PathLike, split_dir: PathLike, split: int = 1, **kwargs: Any
    ) -> VideoDataset:
        """HMDB51 with an official split; ``train=False`` gives the test subset."""
        return cls._from_split(sources.read_hmdb51_split, video_root, split_dir, split, **kwargs)

    @classmethod
    def from_ucf101(
        cls, video_root: PathLike, split_dir: PathLike, split: int = 1, **kwargs: Any
    ) -> VideoDataset:
        """UCF101 with an official split list; ``train=False`` gives the test subset."""
        return cls._from_split(sources.read_ucf101_split, video_root, split_dir, split, **kwargs)

    def options(self) -> dict[str, Any]:
        """The keyword arguments this dataset was made with."""
        return dict(
            spec=self.spec,
            train=self.train,
            transform=self.custom_transform,
            num_clips=self.num_clips,
            three_crop=self.three_crop,
            strict=self.strict,
            backend=self.backend,
            decode_resize=self.decode_resize,
            flip=self.flip,
            crop=self.crop,
        )

    def subset(self, samples: Sequence[Sample], **changes: Any) -> VideoDataset:
        """A dataset of other samples with the same classes and options (some changed)."""
        return VideoDataset(samples, self.classes, **{**self.options(), **changes})

    def split(
        self, val_fraction: float = 0.2, seed: int = 0, num_clips: int = 1
    ) -> tuple[VideoDataset, VideoDataset]:
        """Seeded stratified train/validation split; the validation part is in test mode.

        Each class keeps at least one video for training and holds out
        ``round(count * val_fraction)`` of its videos.

        Raises:
            ValueError: the split would hold out no video at all (the message gives the videos
                per class and the smallest ``val_fraction`` that holds one out).
        """
        train, val = sources.stratified_split(self.samples, val_fraction, seed)
        if not val:
            counts = Counter(self.classes[s.label] for s in self.samples)
            shown = ", ".join(f"{name} {counts.get(name, 0)}" for name in self.classes)
            most = max(counts.values(), default=0)
            hint = (
                f"use val_fraction >= {(50 // most + 1) / 100:.2f} (--val-fraction) or"
                if most >= 2
                else "add videos (a class needs 2: one to train, one to validate), or"
            )
            raise ValueError(
                f"val_fraction={val_fraction} holds out no video for validation (videos per "
                f"class: {shown}); {hint} give validation videos (--val)"
            )
        missing = sorted(set(range(len(self.classes))) - {s.label for s in val})
        if missing:
            log.warning(
                "no validation video for %s (too few videos): validation leaves them out",
                ", ".join(self.classes[i] for i in missing),
            )
        return self.subset(train, train=True), self.subset(val, train=False, num_clips=num_clips)

    # -- items -------------------------------------------------------------------------------
    def _preset(self) -> Callable:
        if self.train:
            crop = presets.default_crop(self.spec) if self.crop == "auto" else self.crop
            return presets.train_transform(self.spec, crop=crop, flip=self.flip)
        return presets.eval_transform(self.spec, three_crop=self.three_crop)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
        current = index
        for _ in range(10):
            sample = self.samples[current]
            try:
                return self._load(current, sample, rng)
            except VideoReadError as error:
                if self.strict:
                    raise
                self._note_bad(sample.path, error)
                if not self.train:
                    return self._placeholder(current, sample)
                current = int(rng.integers(len(self.samples)))
        raise RuntimeError(f"10 videos in a row could not be read, the last {sample.path}")

    def select_frames(self, num_frames: int, rng: np.random.Generator) -> sampling.FrameSelection:
        """The frame indices one item reads from a video of ``num_frames`` frames
        (:func:`~actionkit.data.presets.select_frames` in this dataset's mode)."""
        return presets.select_frames(
            num_frames, self.spec, train=self.train, num_clips=self.num_clips, rng=rng
        )

    def _load(self, index: int, sample: Sample, rng: np.random.Generator) -> dict[str, Any]:
        short_side = self.spec.resize if self.decode_resize else None
        with open_video(sample.path, backend=self.backend) as reader:
            selection = self.select_frames(len(reader), rng)
            wanted, inverse = np.unique(selection.indices, return_inverse=True)
            frames = reader.read(wanted, short_side=short_side)[inverse.reshape(-1)]
        indices = selection.indices
        video = self._transform_clips(frames, indices.shape)
        return {
            "video": video,
            "label": sample.label,
            "path": str(sample.path),
            "indices": torch.from_numpy(indices.astype(np.int64)),
            "fill": selection.fill,
            "index": index,
        }

    def _placeholder(self, index: int, sample: Sample) -> dict[str, Any]:
        item = self._shape_probe()
        return {
            "video": torch.zeros_like(item["video"]),
            "label": -1,
            "path": str(sample.path),
            "indices": torch.full_like(item["indices"], -1),
            "fill": "none",
            "index": index,
        }

    def _shape_probe(self) -> dict[str, Any]:
        """A synthetic item with the right shapes, for placeholders (no file is read)."""
        spec = self.spec
        rng = np.random.default_rng(0)
        selection = self.select_frames(spec.frames_per_sample, rng)
        shape = selection.indices.shape
        frames = np.zeros((selection.indices.size, spec.resize, spec.resize, 3), dtype=np.uint8)
        video = self._transform_clips(frames, shape)
        return {"video": video, "indices": torch.from_numpy(selection.indices)}

    def _transform_clips(self, frames: np.ndarray, shape: tuple[int, ...]) -> torch.Tensor:
        """Transform frames read for indices of ``shape``: one clip (T,) or N clips (N, T)."""
        if len(shape) == 1:
            return self.transform(frames)
        clips = frames.reshape(shape + frames.shape[1:])
        video = torch.stack([self.transform(clip) for clip in clips])
        return video.flatten(0, 1) if self.three_crop else video

    def _note_bad(self, path: Path, error: Exception) -> None:
        info = torch.utils.data.get_worker_info()
        slot = 0 if info is None else 1 + info.id % (_MAX_SLOTS - 1)
        self._skips[slot] += 1
        if str(path) not in self._logged:
            self._logged.add(str(path))
            log.warning("skipping unreadable video: %s", error)

    @property
    def skipped_count(self) -> int:
        """Items replaced because their video could not be read (all DataLoader workers)."""
        return int(self._skips.sum())

    # -- inspection --------------------------------------------------------------------------
    def class_counts(self) -> dict[str, int]:
        """Videos per class."""
        counts = Counter(s.label for s in self.samples)
        return {name: counts.get(i, 0) for i, name in enumerate(self.classes)}

    def check(self, workers: int | None = None, progress: bool = True) -> CheckReport:
        """Open every video (in parallel) and report the unreadable, empty, still-image and too
        short ones, and the listed files that are missing (see
        :func:`~actionkit.data.check.check_videos`)."""
        return check_videos(
            [s.path for s in self.samples], self.spec, missing=self.missing,
            backend=self.backend, workers=workers, progress=progress,
        )  # fmt: skip

    def without(self, paths: Sequence[str]) -> VideoDataset:
        """A copy without the given files (e.g. ``report.bad_paths`` from :meth:`check`)."""
        drop = {str(p) for p in paths}
        return self.subset([s for s in self.samples if str(s.path) not in drop])

    def show_batch(self, n: int = 4, frames: int = 4, seed: int = 0):
        """Plot the frames of ``n`` random items with their labels (matplotlib Figure)."""
        from actionkit.data.preview import show_batch

        order = np.random.default_rng(seed).permutation(len(self))[:n]
        return show_batch([self[int(i)] for i in order], self.classes, self.spec, frames=frames)

    def __repr__(self) -> str:
        mode = "train" if self.train else f"test, {self.num_clips} clip(s)"
        return (
            f"VideoDataset({len(self)} videos, {len(self.classes)} classes, {mode}, "
            f"{self.spec.layout} {self.spec.frames_per_sample}×{self.spec.crop_size}²)"
        )
