"""Where the videos are and what they show: folders, list files, HMDB51/UCF101 splits, splits.

Every function here returns ``(samples, classes)`` where ``samples`` is a list of :class:`Sample`
and ``classes`` the ordered class names (label ``i`` is ``classes[i]``). Nothing is decoded here.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actionkit.resources import hmdb51_classes
from actionkit.video import is_video_file

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


@dataclass(frozen=True)
class Sample:
    """One labelled video file."""

    path: Path
    label: int


@dataclass
class SampleList:
    """Samples found in a source, with what was left out and why."""

    samples: list[Sample]
    classes: list[str]
    ignored: int = 0  # files that are not videos
    missing: tuple[str, ...] = ()  # listed videos that do not exist


def read_class_file(path: PathLike) -> list[str]:
    """Class names, one a line (``classInd.txt``'s ``1 Name`` form is accepted too)."""
    names = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line:
            parts = line.split(maxsplit=1)
            names.append(parts[1] if len(parts) == 2 and parts[0].isdigit() else line)
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: class names are not unique")
    if not names:
        raise ValueError(f"{path}: no class names in the file")
    return names


def scan_folder(root: PathLike, classes: list[str] | None = None) -> SampleList:
    """Videos in ``root/<class>/...`` (sub-folders of a class folder are searched too).

    Args:
        root: Folder with one sub-folder per class.
        classes: Explicit class order; default: the sorted sub-folder names. Sub-folders not in
            ``classes`` are ignored with a warning.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder {root} does not exist or is not a folder")
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes is None:
        classes = folders
    unknown = sorted(set(folders) - set(classes))
    if unknown:
        log.warning("%s: ignoring folders that are not classes: %s", root, unknown)
    samples, ignored = [], 0
    for label, name in enumerate(classes):
        folder = root / name
        if not folder.is_dir():
            log.warning("%s: class %r has no folder", root, name)
            continue
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        videos = [p for p in files if is_video_file(p)]
        ignored += len(files) - len(videos)
        if not videos:
            log.warning("%s: class folder %r holds no videos", root, name)
        samples.extend(Sample(p, label) for p in videos)
    if ignored:
        log.info("%s: ignored %d files that are not videos", root, ignored)
    if not samples:
        raise ValueError(f"no videos found under {root} (expected {root}/<class>/<video>)")
    return SampleList(samples, list(classes), ignored=ignored)


def _labels_to_ids(
    rows: list[tuple[str, str]], classes: list[str] | None, source: Path
) -> tuple[list[int], list[str]]:
    labels = [label for _, label in rows]
    if all(re.fullmatch(r"-?\d+", label) for label in labels):
        ids = [int(label) for label in labels]
        if classes is None:
            classes = [str(i) for i in range(max(ids) + 1)]
        bad = sorted({i for i in ids if not 0 <= i < len(classes)})
        if bad:
            raise ValueError(
                f"{source}: label ids {bad[:5]} are outside 0..{len(classes) - 1} "
                f"({len(classes)} classes)"
            )
        return ids, classes
    if classes is None:
        classes = sorted(set(labels))
    index = {name: i for i, name in enumerate(classes)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise ValueError(f"{source}: unknown labels {unknown[:5]}; known classes: {classes}")
    return [index[label] for label in labels], classes


def _existing(rows: list[tuple[Path, int]]) -> tuple[list[Sample], tuple[str, ...]]:
    """The listed videos that exist, and the names of those that do not. A listed ``x.avi``
    that is missing beside an ``x.mp4`` is that file: ``actionkit prepare`` writes every video as
    ``.mp4`` and copies list and split files as they are."""
    rows = [(_prepared_twin(p), label) for p, label in rows]
    present = [Sample(p, label) for p, label in rows if p.is_file()]
    missing = tuple(str(p) for p, _ in rows if not p.is_file())
    if missing:
        log.warning("%d listed videos do not exist, e.g. %s", len(missing), missing[0])
    return present, missing


def _prepared_twin(path: Path) -> Path:
    if path.suffix.lower() == ".mp4" or path.is_file():
        return path
    twin = path.with_suffix(".mp4")
    return twin if twin.is_file() else path


def read_list_file(
    path: PathLike, root: PathLike | None = None, classes: list[str] | None = None
) -> SampleList:
    """A list of ``relative/path label`` lines, or a CSV file with a header.

    Labels are class names or integer ids. Paths are relative to ``root`` (default: the list
    file's folder) and may contain spaces (the label is the last field). A CSV needs a ``path``
    (or ``video``/``file``) column and a ``label`` (or ``class``) column.
    """
    path = Path(path)
    root = Path(root) if root is not None else path.parent
    if path.suffix.lower() == ".csv":
        rows = _read_csv_rows(path)
    else:
        rows = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.strip().rsplit(maxsplit=1)
            if len(parts) != 2:
                raise ValueError(f"{path}:{n}: expected 'relative/path label', got {line!r}")
            rows.append((parts[0], parts[1]))
    if not rows:
        raise ValueError(f"{path}: the list holds no videos")
    ids, classes = _labels_to_ids(rows, classes, path)
    samples, missing = _existing([(root / rel, i) for (rel, _), i in zip(rows, ids, strict=True)])
    return SampleList(samples, classes, missing=missing)


def _read_csv_rows(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = {name.strip().lower(): name for name in reader.fieldnames or []}
        path_col = next((fields[c] for c in ("path", "video", "file") if c in fields), None)
        label_col = next((fields[c] for c in ("label", "class") if c in fields), None)
        if path_col is None or label_col is None:
            raise ValueError(
                f"{path}: CSV header {list(fields)} needs a 'path' and a 'label' column"
            )
        return [(row[path_col].strip(), row[label_col].strip()) for row in reader]


def read_hmdb51_split(
    video_root: PathLike, split_dir: PathLike, split: int = 1, subset: str = "train"
) -> SampleList:
    """HMDB51's official splits: ``<class>_test_split<k>.txt`` lines ``<video>.avi <id>``.

    Ids: 1 = train, 2 = test, 0 = unused. Videos are ``video_root/<class>/<video>.avi``.
    """
    _check_split(split, subset)
    classes = list(hmdb51_classes())
    wanted = "1" if subset == "train" else "2"
    split_dir = Path(split_dir)
    files = sorted(split_dir.glob(f"*_test_split{split}.txt"))
    if not files:
        raise FileNotFoundError(f"no '*_test_split{split}.txt' files in {split_dir}")
    rows = []
    for file in files:
        name = file.name[: -len(f"_test_split{split}.txt")]
        if name not in classes:
            raise ValueError(f"{file}: unknown HMDB51 class {name!r}")
        for line in file.read_text(encoding="utf-8").split("\n"):
            parts = line.split()
            if len(parts) == 2 and parts[1] == wanted:
                rows.append((Path(video_root) / name / parts[0], classes.index(name)))
    samples, missing = _existing(rows)
    return SampleList(samples, classes, missing=missing)


def read_ucf101_split(
    video_root: PathLike, split_dir: PathLike, split: int = 1, subset: str = "train"
) -> SampleList:
    """UCF101 split lists: ``classInd.txt``, ``trainlist0N.txt`` and ``testlist0N.txt``."""
    _check_split(split, subset)
    split_dir = Path(split_dir)
    classes = read_class_file(split_dir / "classInd.txt")
    list_file = split_dir / f"{subset}list0{split}.txt"
    rows = []
    for n, line in enumerate(list_file.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        name = parts[0].split("/")[0]
        if name not in classes:
            raise ValueError(f"{list_file}:{n}: unknown UCF101 class {name!r}")
        rows.append((Path(video_root) / parts[0], classes.index(name)))
    samples, missing = _existing(rows)
    return SampleList(samples, classes, missing=missing)


def _check_split(split: int, subset: str) -> None:
    if split not in (1, 2, 3):
        raise ValueError(f"split={split!r} is not valid; choose 1, 2 or 3")
    if subset not in ("train", "test"):
        raise ValueError(f"subset={subset!r} is not valid; choose 'train' or 'test'")


def stratified_split(
    samples: list[Sample], val_fraction: float = 0.2, seed: int = 0
) -> tuple[list[Sample], list[Sample]]:
    """Seeded train/validation split keeping each class's share (at least one of each in train)."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction={val_fraction!r} must be between 0 and 1")
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in sorted({s.label for s in samples}):
        group = sorted((s for s in samples if s.label == label), key=lambda s: str(s.path))
        order = rng.permutation(len(group))
        n_val = min(round(len(group) * val_fraction), len(group) - 1)
        val.extend(group[i] for i in order[:n_val])
        train.extend(group[i] for i in order[n_val:])
    return train, val
