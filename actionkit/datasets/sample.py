"""A small generated video dataset: the offline default of the demo, the notebooks and the tests.

Six classes in three pairs; in each pair one class is the exact time reversal of the other:
``moving_left`` / ``moving_right`` and ``moving_up`` / ``moving_down`` (an object crosses the
frame), ``growing`` / ``shrinking`` (it scales up or down three- to fourfold). The pairs differ in
the kind of motion, which a model can partly guess from single frames (how large the object is,
how far it is from the centre); within a pair only the direction of time tells the classes apart.

How the videos are drawn makes appearance useless for telling classes apart:

- :func:`render_sample_video` (:mod:`actionkit.datasets._render`) draws the look of a video
  (background, colours, shape) first, then the motion, then the noise. Equal generator states
  give the same look in every class, and in the two classes of a pair the very same frames, in
  reverse order:
  ``render_sample_video("moving_left", ...)`` equals
  ``render_sample_video("moving_right", ...)[::-1]``.
- :func:`make_sample_dataset` renders video ``i`` of every class from the same generator state.
  So ``moving_left_007.mp4`` is ``moving_right_007.mp4`` played backwards, and all six
  ``*_007.mp4`` files show the same object on the same background.

A model that ignores frame order (averaged single-frame scores, a bag of frames) therefore sees
the same input for both classes of a pair and is at chance within each pair, about 50 % accurate
overall at best, while a model of time can reach 100 %; and a model cannot learn the training set
by heart from its looks, since every look occurs in all six classes.

Per video index the shape (five two-tone shapes), its orientation, the colours and the background
(colour, gradient, smooth texture, fixed grain) vary; per video the size, the path, the speed and
mild per-frame noise. The object's long side is at least 22 % of the frame height (40–56 % while
moving), so it survives resizing to a short side of 128 and a 112-pixel crop. A horizontal flip
turns ``moving_left`` into ``moving_right`` (a vertical one ``moving_up`` into ``moving_down``):
train without flips (``flip=False``) on this dataset.

Measured when the classes were chosen (TSM on EfficientNet-Lite0, ImageNet weights, 8 segments,
112-pixel crops, AdamW lr 1e-3 one-cycle, batch 8, 16 videos a class to train and 8 held out, two
CPU cores): 81 % held-out accuracy after 10 epochs, 92 % after 13 (about 5 minutes). An earlier
version with rotating clockwise / counterclockwise in place of up / down (and two- to threefold
scaling) reached 71 % after the same 10 epochs, with its counterclockwise class at 0 %: the
direction of a turn is much slower to learn than the direction of a slide.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np

from actionkit.datasets._render import SAMPLE_CLASSES, render_sample_video
from actionkit.utils.atomic import write_text
from actionkit.utils.locks import file_lock
from actionkit.utils.progress import progress_bar
from actionkit.video import write_video

__all__ = ["SAMPLE_CLASSES", "make_sample_dataset", "render_sample_video"]

GENERATOR_VERSION = 1
"""Bumped whenever the rendering changes, so that datasets built by an older version are rebuilt."""

MANIFEST_NAME = ".sample.json"
LOCK_NAME = ".sample.lock"
CLASS_FILE_NAME = "classes.txt"
_GOP = 16  # a keyframe every 16 frames: seeking decodes at most 15 frames
_CRF = 23
# One encoder thread per file (files are encoded in parallel instead); "veryfast" is about twice
# as fast as the default preset at this size and gives slightly smaller files.
_X264 = {"preset": "veryfast", "threads": "1"}


def _video_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of video ``index`` of every class (see :func:`make_sample_dataset`)."""
    return np.random.default_rng([int(seed), int(index)])


def _params(videos_per_class, num_frames, size, fps, seed) -> dict:
    return {
        "generator_version": GENERATOR_VERSION,
        "classes": list(SAMPLE_CLASSES),
        "videos_per_class": int(videos_per_class),
        "num_frames": int(num_frames),
        "size": [int(size[0]), int(size[1])],
        "fps": float(fps),
        "seed": int(seed),
    }


def _expected_files(videos_per_class: int) -> list[tuple[str, int, str]]:
    return [
        (cls, i, f"{cls}/{cls}_{i:03d}.mp4")
        for cls in SAMPLE_CLASSES
        for i in range(videos_per_class)
    ]


_OUR_VIDEO = re.compile(r"^(?P<cls>[a-z_]+)_(?P<index>\d{3,})\.mp4$")
_OUR_TEMP = re.compile(r"^\.(?P<cls>[a-z_]+)_\d{3,}\..*\.mp4$")  # write_video's temporary files
_OUR_ROOT_TEMP = re.compile(r"^\.(sample\.json|classes\.txt)\..*\.tmp$")


def _read_manifest(root: Path) -> dict | None:
    try:
        return json.loads((root / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _is_complete(root: Path, params: dict) -> bool:
    manifest = _read_manifest(root)
    if not manifest or manifest.get("params") != params:
        return False
    files = manifest.get("files", {})
    for _, _, rel in _expected_files(params["videos_per_class"]):
        try:
            if (root / rel).stat().st_size != files.get(rel):
                return False
        except OSError:
            return False
    classes_file = root / CLASS_FILE_NAME
    return classes_file.is_file() and classes_file.read_text(encoding="utf-8").split() == list(
        SAMPLE_CLASSES
    )


def _foreign_entries(root: Path) -> list[str]:
    """What in ``root`` a sample-dataset build did not (or could not) write."""
    foreign = []
    for entry in root.iterdir():
        name = entry.name
        ours = name in (MANIFEST_NAME, CLASS_FILE_NAME, LOCK_NAME) or _OUR_ROOT_TEMP.match(name)
        if entry.is_file() and ours:
            continue
        if entry.is_dir() and not entry.is_symlink() and name in SAMPLE_CLASSES:
            for sub in entry.iterdir():
                match = _OUR_VIDEO.match(sub.name) or _OUR_TEMP.match(sub.name)
                if not (sub.is_file() and match and match["cls"] == name):
                    foreign.append(f"{name}/{sub.name}")
            continue
        foreign.append(name + ("/" if entry.is_dir() else ""))
    return sorted(foreign)


def _holds(path: Path, frames: np.ndarray, fps: float) -> bool:
    """Whether an existing file holds these frames (decoded, up to the codec's loss)."""
    num_frames, height, width = frames.shape[:3]
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if (stream.codec_context.width, stream.codec_context.height) != (width, height):
                return False
            if stream.frames != num_frames or abs(float(stream.average_rate) - fps) > 1e-3 * fps:
                return False
            # threads=1: PyAV's default sets up a threaded converter for every frame (~30× slower)
            decoded = [f.to_ndarray(format="rgb24", threads=1) for f in container.decode(stream)]
    except Exception:  # unreadable, truncated, not a video: rewrite it
        return False
    if len(decoded) != num_frames:
        return False
    error = np.abs(np.stack(decoded).astype(np.int16) - frames.astype(np.int16)).mean(
        axis=(1, 2, 3)
    )
    # The codec's loss is under 3.5 levels per frame here; another seed's video differs by 11+.
    return bool(error.max() < 7.0)


def _build_one(root: Path, cls: str, index: int, rel: str, params: dict) -> tuple[str, int]:
    """Render one video and write it, unless the file there already holds it."""
    path = root / rel
    width, height = params["size"]
    frames = render_sample_video(
        cls, _video_rng(params["seed"], index), params["num_frames"], (width, height)
    )
    if not (path.exists() and _holds(path, frames, params["fps"])):
        write_video(path, frames, params["fps"], crf=_CRF, gop=_GOP, options=_X264)
    return rel, path.stat().st_size


def _empty_folder(root: Path) -> None:
    resolved = root.resolve()
    if resolved == Path(resolved.anchor) or resolved == Path.home().resolve():
        raise ValueError(f"refusing to empty {resolved} (overwrite=True)")
    for entry in root.iterdir():
        if entry.name == LOCK_NAME:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def make_sample_dataset(
    root: str | os.PathLike,
    *,
    videos_per_class: int = 24,
    num_frames: int = 40,
    size: tuple[int, int] = (160, 120),
    fps: float = 25.0,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Generate (or reuse) the sample dataset in ``root/<class>/<class>_<i:03d>.mp4``.

    Also writes ``root/classes.txt`` (:data:`SAMPLE_CLASSES`, one a line) and, last and atomically,
    a ``root/.sample.json`` manifest of the parameters and file sizes. With the defaults: 144 H.264
    videos of 40 frames at 160×120 and 25 fps (keyframe every 16 frames), about 1.6 MB, built in
    about 4 seconds on two CPU cores.

    Video ``i`` of every class comes from the same generator state (see the module notes): the six
    ``*_<i>.mp4`` files share their look, and paired classes hold each other's frames reversed.
    Split by index (or at random: a held-out video's time-reversed twin in the training set does
    not help a model that ignores time; it misleads it).

    If ``root`` already holds a complete dataset built with the same parameters this returns at
    once. A partial one (a build that was killed, a deleted file) or one built with other parameters
    is completed in place: files that already hold the right video are kept, the others are
    (re)written and stale ones removed. A non-empty ``root`` holding anything else raises
    :class:`FileExistsError`, unless ``overwrite=True``, which empties ``root`` and builds afresh.

    Args:
        root: Target folder (created if needed).
        videos_per_class: Videos per class. Video ``i`` of a class does not depend on this number.
        num_frames: Frames per video.
        size: ``(width, height)`` of the frames.
        fps: Nominal frame rate of the files.
        seed: Base seed; the same seed and parameters give identical frames.
        overwrite: Delete whatever ``root`` holds and rebuild.

    Returns:
        ``root`` as a :class:`~pathlib.Path`.
    """
    root = Path(root).expanduser()
    if videos_per_class < 1:
        raise ValueError(f"videos_per_class must be at least 1, got {videos_per_class}")
    if len(size) != 2:
        raise ValueError(f"size must be (width, height), got {size!r}")
    if int(num_frames) < 2:
        raise ValueError(f"num_frames must be at least 2, got {num_frames}")
    if int(size[0]) < 16 or int(size[1]) < 16:
        raise ValueError(f"size (width, height) must be at least 16×16, got {size}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    params = _params(videos_per_class, num_frames, size, fps, seed)

    if root.exists() and not root.is_dir():
        raise FileExistsError(f"{root} exists and is not a folder")
    if not overwrite and root.exists():
        if _is_complete(root, params):
            return root
        _refuse_foreign(root)  # before the lock file is created in someone else's folder
    root.mkdir(parents=True, exist_ok=True)
    with file_lock(
        root / LOCK_NAME, remove=False
    ):  # one build at a time in a folder (e.g. parallel test workers)
        if overwrite:
            _empty_folder(root)
        elif _is_complete(root, params):  # another process finished it while we waited
            return root
        _build(root, params)
    return root


def _refuse_foreign(root: Path) -> None:
    foreign = _foreign_entries(root)
    if foreign:
        shown = ", ".join(foreign[:5]) + (
            f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        )
        raise FileExistsError(
            f"{root} is not empty and is not a sample dataset (it holds {shown}); choose another "
            "folder, or pass overwrite=True to delete its contents and build the sample dataset "
            "there"
        )


def _build(root: Path, params: dict) -> None:
    _refuse_foreign(root)

    # Whatever a manifest said, the files are about to change: it goes first.
    (root / MANIFEST_NAME).unlink(missing_ok=True)
    expected = _expected_files(params["videos_per_class"])
    wanted = {rel for _, _, rel in expected}
    for cls in SAMPLE_CLASSES:  # stale files: other indices, dead temporaries of a killed build
        folder = root / cls
        if folder.is_dir():
            for entry in folder.iterdir():
                if f"{cls}/{entry.name}" not in wanted:
                    entry.unlink()
    for entry in root.iterdir():
        if _OUR_ROOT_TEMP.match(entry.name):
            entry.unlink()

    files = {}
    workers = max(1, min(4, os.cpu_count() or 1))
    with (
        ThreadPoolExecutor(workers) as pool,  # x264 and most of numpy release the GIL
        progress_bar(total=len(expected), desc="sample dataset", unit="video", leave=False) as bar,
    ):
        jobs = [pool.submit(_build_one, root, cls, i, rel, params) for cls, i, rel in expected]
        try:
            for job in jobs:
                rel, nbytes = job.result()
                files[rel] = nbytes
                bar.update()
        except BaseException:  # Ctrl-C or a failed write: do not wait for the rest
            for job in jobs:
                job.cancel()
            raise

    write_text(root / CLASS_FILE_NAME, "\n".join(SAMPLE_CLASSES) + "\n")
    manifest = {"params": params, "files": files, "total_bytes": sum(files.values())}
    write_text(root / MANIFEST_NAME, json.dumps(manifest, indent=1) + "\n")
