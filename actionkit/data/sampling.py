"""Which frames to read: random training clips, uniform test clips and TSN segments.

Every function here is a pure function of the frame count, its parameters and (for the random
ones) a :class:`numpy.random.Generator`; it returns a :class:`FrameSelection` whose ``indices``
can be handed straight to the video reader. Nothing here touches a video.

Videos that are too short for the request are never an error. The ``short`` argument says what
to do instead:

- ``"loop"``: play the video again from the start (indices wrap modulo ``num_frames``);
- ``"pad"``: hold the last frame (indices are clipped to ``num_frames - 1``).

``FrameSelection.fill`` records whether that happened (``"none"`` when the video was long
enough). All indices are always in ``[0, num_frames)``.

Example::

    >>> rng = np.random.default_rng(0)
    >>> random_clip(300, clip_len=8, step=2, rng=rng).indices.shape
    (8,)
    >>> uniform_clips(300, clip_len=8, num_clips=10).indices.shape
    (10, 8)
    >>> segment_frames(300, num_segments=3, train=False).indices
    array([ 50, 150, 250])
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np

SHORT_MODES = ("loop", "pad")
FILL_MODES = ("none", *SHORT_MODES)

__all__ = [
    "SHORT_MODES",
    "FrameSelection",
    "clip_span",
    "random_clip",
    "segment_frames",
    "uniform_clips",
]


@dataclass(frozen=True)
class FrameSelection:
    """Frame indices to read, and whether the video had to be looped or padded.

    Attributes:
        indices: ``int64`` array, shape ``(T,)`` for one clip or ``(N, T)`` for ``N`` clips.
            Always in ``[0, num_frames)``.
        fill: ``"none"`` if the video was long enough, otherwise the short mode that was used
            (``"loop"`` or ``"pad"``).
    """

    indices: np.ndarray
    fill: str

    def __post_init__(self) -> None:
        if self.fill not in FILL_MODES:
            raise ValueError(f"fill={self.fill!r} is not valid; choose one of {FILL_MODES}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FrameSelection):
            return NotImplemented
        return self.fill == other.fill and np.array_equal(self.indices, other.indices)

    __hash__ = None  # type: ignore[assignment]  # holds an array: not hashable


# --------------------------------------------------------------------------------------------
# argument checks


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name}={value!r} must be a positive integer, not a bool")
    try:
        number = operator.index(value)  # int and numpy integers; rejects floats
    except TypeError:
        raise ValueError(f"{name}={value!r} must be a positive integer") from None
    if number < 1:
        raise ValueError(f"{name}={value!r} must be a positive integer (>= 1)")
    return number


def _check_short(short: object) -> str:
    if not isinstance(short, str) or short not in SHORT_MODES:
        raise ValueError(f"short={short!r} is not valid; choose one of {SHORT_MODES}")
    return short


def _check_rng(rng: object) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"rng={rng!r} must be a numpy.random.Generator, e.g. numpy.random.default_rng(seed)"
        )
    return rng


def _wrap(positions: np.ndarray, num_frames: int, short: str) -> np.ndarray:
    """Map positions in a (conceptually) extended video back to real frame indices."""
    if short == "loop":
        out = np.mod(positions, num_frames)
    else:
        out = np.minimum(positions, num_frames - 1)
    return out.astype(np.int64, copy=False)


# --------------------------------------------------------------------------------------------
# public API


def clip_span(clip_len: int, step: int) -> int:
    """Frames a clip covers from its first to its last frame: ``(clip_len - 1) * step + 1``.

    >>> clip_span(8, 2)
    15
    """
    clip_len = _positive_int("clip_len", clip_len)
    step = _positive_int("step", step)
    return (clip_len - 1) * step + 1


def random_clip(
    num_frames: int,
    clip_len: int,
    step: int = 1,
    *,
    rng: np.random.Generator,
    jitter: bool = False,
    short: str = "loop",
) -> FrameSelection:
    """One training clip of ``clip_len`` frames, ``step`` apart, at a random start.

    Args:
        num_frames: Frames in the video.
        clip_len: Frames in the clip.
        step: Distance between consecutive clip frames.
        rng: Source of randomness; the result is a function of its state only.
        jitter: Move each frame by a random offset in ``[0, step)`` (a different one per frame),
            so a clip sees frames between the regular grid. The order stays strictly increasing
            when the video is long enough. No effect with ``step=1``.
        short: What to do when ``num_frames < clip_span(clip_len, step)``: ``"loop"`` (random
            start anywhere in the video, wrapping around) or ``"pad"`` (start at the beginning and
            hold the last frame).

    Returns:
        A :class:`FrameSelection` with indices of shape ``(clip_len,)``.

    When long enough, every start in ``[0, num_frames - clip_span]`` is equally likely. With
    ``jitter`` the clip is laid out on ``clip_len`` bins of ``step`` frames, one frame drawn in
    each bin; bins that would run past the end of the video are cut short.
    """
    num_frames = _positive_int("num_frames", num_frames)
    clip_len = _positive_int("clip_len", clip_len)
    step = _positive_int("step", step)
    rng = _check_rng(rng)
    short = _check_short(short)
    span = clip_span(clip_len, step)
    grid = np.arange(clip_len, dtype=np.int64) * step

    if num_frames >= span:
        if jitter and step > 1:
            # Bins [start + i*step, start + (i+1)*step), clipped to the video. Prefer starts that
            # leave room for the whole last bin; when even the first start cannot, fall back to
            # all starts that fit the un-jittered clip and clip the bins.
            full = clip_len * step
            max_start = num_frames - full if num_frames >= full else num_frames - span
            start = int(rng.integers(0, max_start + 1))
            lo = start + grid
            hi = np.minimum(lo + step, num_frames)  # always > lo since lo <= num_frames - 1
            positions = rng.integers(lo, hi)
        else:
            start = int(rng.integers(0, num_frames - span + 1))
            positions = start + grid
        return FrameSelection(positions.astype(np.int64, copy=False), "none")

    # Too short.
    if short == "loop":
        start = int(rng.integers(0, num_frames))
    else:
        # Any start in [0, (num_frames - 1) % step] keeps the largest possible number of real
        # frames in the clip; with step=1 that is just 0.
        start = int(rng.integers(0, (num_frames - 1) % step + 1))
    positions = start + grid
    if jitter and step > 1:
        positions = positions + rng.integers(0, step, size=clip_len)
    return FrameSelection(_wrap(positions, num_frames, short), short)


def uniform_clips(
    num_frames: int,
    clip_len: int,
    step: int = 1,
    num_clips: int = 10,
    *,
    short: str = "loop",
) -> FrameSelection:
    """``num_clips`` test clips whose starts are spread evenly over the video (deterministic).

    When long enough, the first clip starts at frame 0 and the last one ends at the last frame
    (a single clip is centred). When too short, ``"loop"`` spreads the starts evenly over the
    video and wraps around; ``"pad"`` gives ``num_clips`` copies of the padded clip starting at
    frame 0.

    Returns:
        A :class:`FrameSelection` with indices of shape ``(num_clips, clip_len)``.
    """
    num_frames = _positive_int("num_frames", num_frames)
    clip_len = _positive_int("clip_len", clip_len)
    step = _positive_int("step", step)
    num_clips = _positive_int("num_clips", num_clips)
    short = _check_short(short)
    span = clip_span(clip_len, step)
    grid = np.arange(clip_len, dtype=np.int64) * step

    if num_frames >= span:
        last_start = num_frames - span
        if num_clips == 1:
            starts = np.array([last_start // 2], dtype=np.int64)
        else:
            # Exact integer rounding of k * last_start / (num_clips - 1), half up.
            k = np.arange(num_clips, dtype=np.int64)
            starts = (2 * k * last_start + (num_clips - 1)) // (2 * (num_clips - 1))
        return FrameSelection(starts[:, None] + grid[None, :], "none")

    if short == "loop":
        starts = np.arange(num_clips, dtype=np.int64) * num_frames // num_clips
    else:
        starts = np.zeros(num_clips, dtype=np.int64)
    return FrameSelection(_wrap(starts[:, None] + grid[None, :], num_frames, short), short)


def segment_frames(
    num_frames: int,
    num_segments: int,
    snippet_len: int = 1,
    step: int = 1,
    *,
    train: bool,
    rng: np.random.Generator | None = None,
    short: str = "loop",
) -> FrameSelection:
    """TSN sampling: split the video into ``num_segments`` equal parts, one snippet from each.

    The possible snippet starts ``0 .. num_frames - clip_span(snippet_len, step)`` are split
    into ``num_segments`` equal, contiguous, non-overlapping parts: start ``s`` belongs to part
    ``floor(s * K / num_starts)``. In training (``train=True``) each snippet starts at a random
    position of its part (every position equally likely); at test time at the part's centre
    (the middle frame, the later one of two). With ``snippet_len=1`` (plain TSN) index ``k``
    lies inside the ``k``-th of ``K`` equal parts of the video:
    ``k <= index * K / num_frames < k + 1``.

    When the video has fewer possible starts than segments, it is first extended to just
    enough frames, by looping it (``short="loop"``, whole repetitions) or by repeating its last
    frame (``"pad"``), and the indices are mapped back to real frames.

    Args:
        num_frames: Frames in the video.
        num_segments: Number of segments ``K``.
        snippet_len: Frames per snippet (1 for RGB TSN).
        step: Distance between frames inside a snippet.
        train: Random offsets (``True``, needs ``rng``) or segment centres (``False``).
        rng: Source of randomness for ``train=True``; ignored otherwise.
        short: ``"loop"`` or ``"pad"``, see above.

    Returns:
        A :class:`FrameSelection` with indices of shape ``(num_segments * snippet_len,)``,
        snippet after snippet.
    """
    num_frames = _positive_int("num_frames", num_frames)
    num_segments = _positive_int("num_segments", num_segments)
    snippet_len = _positive_int("snippet_len", snippet_len)
    step = _positive_int("step", step)
    short = _check_short(short)
    if not isinstance(train, (bool, np.bool_)):
        raise ValueError(f"train={train!r} must be True or False")
    if train:
        rng = _check_rng(rng)
    span = clip_span(snippet_len, step)

    needed = num_segments + span - 1  # frames for num_segments distinct starts
    if num_frames >= needed:
        length, fill = num_frames, "none"
    elif short == "loop":
        length, fill = num_frames * -(-needed // num_frames), "loop"
    else:
        length, fill = needed, "pad"

    num_starts = length - span + 1  # >= num_segments
    k = np.arange(num_segments + 1, dtype=np.int64)
    # Part k holds the starts s with k <= s * K / num_starts < k + 1, i.e.
    # [ceil(k * num_starts / K), ceil((k + 1) * num_starts / K)); never empty.
    bounds = (k * num_starts + num_segments - 1) // num_segments
    lo, hi = bounds[:-1], bounds[1:]
    if train:
        assert rng is not None
        starts = rng.integers(lo, hi)
    else:
        starts = (lo + hi) // 2
    positions = (starts[:, None] + np.arange(snippet_len, dtype=np.int64)[None, :] * step).ravel()
    if fill == "none":
        return FrameSelection(positions.astype(np.int64, copy=False), fill)
    return FrameSelection(_wrap(positions, num_frames, short), fill)
