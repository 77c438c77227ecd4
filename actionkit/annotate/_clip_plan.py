"""What :func:`~actionkit.annotate.clips.cut_clips` cuts, decided before any clip is: the
background clips (from the time no segment covers) and the split by source video. Both are
seeded and deterministic: a rerun plans the same clips and the same split."""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from actionkit.annotate.annotations import frames_to_seconds
from actionkit.utils.pool import run_jobs

log = logging.getLogger(__name__)

#: The split files' names, in order.
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Clip:
    """One clip to cut: frames ``start_frame..end_frame`` (inclusive) of ``video``."""

    video: str  # the annotation's key, relative to the video folder
    label: str  # the class (its folder's name)
    start_frame: int
    end_frame: int
    start: float
    end: float
    path: str  # relative to OUT, with "/"


def make_clip(key, label, stem, first, last, start, end) -> Clip:
    """The clip, named ``<label>/<stem>__<first>-<last>.mp4``."""
    return Clip(key, label, first, last, start, end, f"{label}/{stem}__{first}-{last}.mp4")


def free_intervals(num_frames: int, segments, pad: int) -> list[tuple[int, int]]:
    """Frames ``[a, b)`` of a video at least ``pad`` frames away from every segment."""
    blocked = sorted(
        (max(0, s.start_frame - pad), min(num_frames, s.end_frame + 1 + pad)) for s in segments
    )
    free, pos = [], 0
    for a, b in blocked:
        if a > pos:
            free.append((pos, a))
        pos = max(pos, b)
    if pos < num_frames:
        free.append((pos, num_frames))
    return free


def largest_remainder(total: int, weights: Sequence[float]) -> list[int]:
    """``total`` split in proportion to ``weights`` into whole numbers that sum to it."""
    if not weights or sum(weights) <= 0:
        return [0] * len(weights)
    exact = [total * w / sum(weights) for w in weights]
    out = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: (out[i] - exact[i], i))
    for i in by_remainder[: total - sum(out)]:
        out[i] += 1
    return out


def place_clips(key, count, free, fps, lengths, rng, stems, background) -> list[Clip]:
    """Up to ``count`` clips of lengths drawn from ``lengths`` (seconds) in ``free``, which
    loses what they take (background clips never overlap each other)."""
    out = []
    for _ in range(count):
        for _attempt in range(8):  # a length that fits nowhere: draw another
            n = max(1, round(float(rng.choice(lengths)) * fps))
            fits = [(a, b) for a, b in free if b - a >= n]
            if fits:
                break
        else:
            return out
        room = np.array([b - a - n + 1 for a, b in fits], dtype=float)
        a, b = fits[int(rng.choice(len(fits), p=room / room.sum()))]
        first = a + int(rng.integers(0, b - a - n + 1))
        free.remove((a, b))
        free += [r for r in ((a, first), (first + n, b)) if r[1] > r[0]]
        free.sort()
        start, end = frames_to_seconds(first, first + n - 1, fps)
        out.append(make_clip(key, background, stems[key], first, first + n - 1, start, end))
    return out


# -- background clips ---------------------------------------------------------------------------
def negatives_for(annotations, videos, stems, positives, count, margin, background, seed, workers):
    """``count`` background clips (or fewer), spread over the videos by their free time."""
    keys = sorted({c.video for c in positives})
    info = _video_info(annotations, videos, keys, workers)
    lengths = [c.end - c.start for c in positives]
    free = {}
    for key, (fps, n) in info.items():
        pad = math.ceil(margin * fps - 1e-9)
        free[key] = free_intervals(n, annotations.videos[key].segments, pad)
    rng = np.random.default_rng(seed)
    seconds = {k: sum(b - a for a, b in free[k]) / info[k][0] for k in free}
    quota = largest_remainder(count, [seconds[k] for k in free])
    made: list[Clip] = []
    for key, wanted in zip(free, quota, strict=True):
        made += place_clips(key, wanted, free[key], info[key][0], lengths, rng, stems, background)
    while len(made) < count:  # videos short of room: the others take the rest, one at a time
        before = len(made)
        for key in sorted(free, key=lambda k: -sum(b - a for a, b in free[k])):
            if len(made) < count:
                made += place_clips(
                    key, 1, free[key], info[key][0], lengths, rng, stems, background
                )
        if len(made) == before:
            log.warning("only %d of %d background clips fit %.3g s away from the segments",
                        len(made), count, margin)  # fmt: skip
            break
    return made


def _video_info(annotations, videos, keys, workers) -> dict[str, tuple[float, int]]:
    """``(fps, frame count)`` of each video: from the annotations, else a probe (in a worker
    process: a decoder crash must not end the run); videos that cannot be read are left out."""
    info, todo = {}, []
    for key in keys:
        entry = annotations.videos[key]
        if entry.fps and entry.num_frames:
            info[key] = (entry.fps, entry.num_frames)
        else:
            todo.append(key)

    def done(key: str, result) -> None:
        if isinstance(result, tuple):
            info[key] = result
        else:  # its segments fail too, and are reported then
            log.warning(
                "%s: no background clips from it: %s", key, getattr(result, "reason", result)
            )

    jobs = [str(videos / key) for key in todo]
    run_jobs(_probe, jobs, lambda job, r: done(todo[jobs.index(job)], r),
             workers=min(workers or os.cpu_count() or 1, len(jobs) or 1))  # fmt: skip
    return {key: info[key] for key in keys if key in info}


def _probe(path: str) -> tuple[float, int] | str:
    from actionkit.video import VideoReadError, probe

    try:
        info = probe(path, backend="pyav")  # "auto" would import torch to test TorchCodec
    except VideoReadError as exc:
        return exc.reason
    return info.fps, info.num_frames


# -- the split ----------------------------------------------------------------------------------
def assign_splits(clips: list[Clip], fractions: Sequence[float], seed: int) -> dict[str, str]:
    """Each source video's split: seeded, stratified by class, every class in train if it can.

    The number of videos per split follows ``fractions`` (at least one video in val, and in
    test, when there are enough videos); the videos holding the rarest classes are placed
    first, each where it brings the split's class counts closest to their shares.
    """
    counts: dict[str, Counter] = {}
    for c in clips:
        counts.setdefault(c.video, Counter())[c.label] += 1
    totals = Counter(c.label for c in clips)
    keys = sorted(counts)
    order = [keys[i] for i in np.random.default_rng(seed).permutation(len(keys))]
    order.sort(key=lambda v: (min(totals[x] for x in counts[v]), -sum(counts[v].values())))
    quota = video_quotas(len(order), fractions)
    have = [Counter() for _ in SPLITS]
    split_of: dict[str, str] = {}

    def put(video: str, i: int) -> None:
        split_of[video] = SPLITS[i]
        have[i].update(counts[video])
        quota[i] -= 1
        order.remove(video)

    for label in sorted(totals, key=lambda x: (totals[x], x)):  # every class in train
        holder = next((v for v in order if label in counts[v]), None)
        if quota[0] > 0 and holder is not None and label not in have[0]:
            put(holder, 0)
    while order:
        video = order[0]

        def cost(i: int, v: Counter = counts[video]) -> float:
            target = {x: fractions[i] * totals[x] for x in v}
            return sum(((have[i][x] + v[x] - target[x]) ** 2 - (have[i][x] - target[x]) ** 2)
                       / totals[x] for x in v)  # fmt: skip

        put(video, min((i for i in range(len(SPLITS)) if quota[i] > 0), key=cost))
    return split_of


def video_quotas(n: int, fractions: Sequence[float]) -> list[int]:
    """Videos per split: ``n`` shared by ``fractions``, and one each for val and test (when
    asked for) as soon as there are enough videos (2 videos: train and val)."""
    quota = largest_remainder(n, fractions)
    wanted = [i for i, f in enumerate(fractions) if f > 0]
    for rank, i in enumerate(wanted):
        if quota[i] == 0 and n > rank:
            quota[max(range(len(quota)), key=lambda j: quota[j])] -= 1
            quota[i] = 1
    return quota
