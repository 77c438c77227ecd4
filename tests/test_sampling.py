"""Frame index sampling: bounds, shapes, order, coverage, determinism, short videos."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actionkit.data.sampling import (
    SHORT_MODES,
    FrameSelection,
    clip_span,
    random_clip,
    segment_frames,
    uniform_clips,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

num_frames_st = st.integers(1, 400)
clip_len_st = st.integers(1, 40)
step_st = st.integers(1, 8)
short_st = st.sampled_from(SHORT_MODES)
seed_st = st.integers(0, 2**32 - 1)


def _check_common(sel: FrameSelection, num_frames: int, shape: tuple[int, ...]) -> None:
    assert isinstance(sel, FrameSelection)
    assert sel.indices.dtype == np.int64
    assert sel.indices.shape == shape
    assert sel.indices.min() >= 0
    assert sel.indices.max() < num_frames
    assert sel.fill in ("none", *SHORT_MODES)


# --------------------------------------------------------------------------------------------
# clip_span and FrameSelection


def test_clip_span_values():
    assert clip_span(1, 1) == 1
    assert clip_span(1, 5) == 1
    assert clip_span(8, 1) == 8
    assert clip_span(8, 2) == 15
    assert clip_span(16, 4) == 61
    assert clip_span(np.int64(3), np.int32(3)) == 7


def test_frame_selection_equality_and_fill_check():
    a = FrameSelection(np.arange(4, dtype=np.int64), "none")
    assert a == FrameSelection(np.arange(4, dtype=np.int64), "none")
    assert a != FrameSelection(np.arange(4, dtype=np.int64), "loop")
    assert a != FrameSelection(np.arange(1, 5, dtype=np.int64), "none")
    with pytest.raises(ValueError, match=r"fill='wrap'.*'loop', 'pad'"):
        FrameSelection(np.arange(4), "wrap")


# --------------------------------------------------------------------------------------------
# argument checks


RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    "call, pattern",
    [
        (lambda: clip_span(0, 1), "clip_len=0"),
        (lambda: clip_span(4, 0), "step=0"),
        (lambda: random_clip(0, 4, rng=RNG), "num_frames=0"),
        (lambda: random_clip(-3, 4, rng=RNG), "num_frames=-3"),
        (lambda: random_clip(10, 0, rng=RNG), "clip_len=0"),
        (lambda: random_clip(10, 4, 0, rng=RNG), "step=0"),
        (lambda: random_clip(10.0, 4, rng=RNG), "num_frames=10.0"),
        (lambda: random_clip(10, True, rng=RNG), "clip_len=True"),
        (lambda: random_clip(10, 4, rng=RNG, short="wrap"), r"short='wrap'.*\('loop', 'pad'\)"),
        (lambda: random_clip(10, 4, rng=0), "rng=0 must be a numpy.random.Generator"),
        (lambda: random_clip(10, 4, rng=None), "rng=None"),
        (lambda: uniform_clips(10, 4, num_clips=0), "num_clips=0"),
        (lambda: uniform_clips(0, 4), "num_frames=0"),
        (lambda: uniform_clips(10, 4, short="repeat"), r"short='repeat'.*\('loop', 'pad'\)"),
        (lambda: segment_frames(10, 0, train=False), "num_segments=0"),
        (lambda: segment_frames(10, 3, 0, train=False), "snippet_len=0"),
        (lambda: segment_frames(10, 3, 1, 0, train=False), "step=0"),
        (lambda: segment_frames(0, 3, train=False), "num_frames=0"),
        (lambda: segment_frames(10, 3, train=True), "rng=None"),
        (lambda: segment_frames(10, 3, train="yes"), "train='yes'"),
        (lambda: segment_frames(10, 3, train=False, short="x"), r"short='x'.*\('loop', 'pad'\)"),
    ],
)
def test_invalid_arguments_raise_value_error(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


# --------------------------------------------------------------------------------------------
# random_clip


@SETTINGS
@given(num_frames_st, clip_len_st, step_st, st.booleans(), short_st, seed_st)
def test_random_clip_properties(num_frames, clip_len, step, jitter, short, seed):
    sel = random_clip(
        num_frames, clip_len, step, rng=np.random.default_rng(seed), jitter=jitter, short=short
    )
    _check_common(sel, num_frames, (clip_len,))
    idx = sel.indices
    grid = np.arange(clip_len) * step
    long_enough = num_frames >= clip_span(clip_len, step)
    assert sel.fill == ("none" if long_enough else short)

    if long_enough:
        assert np.all(np.diff(idx) > 0)  # strictly increasing
        if jitter:
            # frame i stays inside its own bin [start + i*step, start + (i+1)*step)
            shifted = idx - grid
            assert shifted.max() - shifted.min() < step
        else:
            assert np.array_equal(idx, idx[0] + grid)
    elif short == "loop" and not jitter:
        assert np.array_equal(idx, (idx[0] + grid) % num_frames)
    elif short == "pad":
        assert np.all(np.diff(idx) >= 0)
        assert idx[-1] == num_frames - 1  # the last frame is held
        if not jitter:
            # as many distinct real frames as the step allows, then the last frame repeated
            real = (num_frames - 1) // step + 1
            assert len(np.unique(idx)) in (real, real + 1)
            assert np.array_equal(idx[:real], idx[0] + grid[:real])


@SETTINGS
@given(num_frames_st, clip_len_st, step_st, st.booleans(), short_st, seed_st)
def test_random_clip_is_deterministic_given_seeded_rng(
    num_frames, clip_len, step, jitter, short, seed
):
    def draw():
        rng = np.random.default_rng(seed)
        return [
            random_clip(num_frames, clip_len, step, rng=rng, jitter=jitter, short=short)
            for _ in range(3)
        ]

    assert draw() == draw()


def test_random_clip_starts_cover_all_valid_starts_uniformly():
    rng = np.random.default_rng(1)
    num_frames, clip_len, step = 30, 4, 3  # span 10: starts 0..20
    starts = Counter(
        int(random_clip(num_frames, clip_len, step, rng=rng).indices[0]) for _ in range(8400)
    )
    assert set(starts) == set(range(21))
    expected = 8400 / 21
    assert all(0.75 * expected < n < 1.25 * expected for n in starts.values())


def test_random_clip_exact_fit_has_one_start():
    rng = np.random.default_rng(2)
    for _ in range(20):
        sel = random_clip(15, 8, 2, rng=rng)
        assert sel.fill == "none"
        assert np.array_equal(sel.indices, np.arange(0, 15, 2))


def test_random_clip_jitter_reaches_every_gap_and_frame():
    rng = np.random.default_rng(3)
    num_frames, clip_len, step = 40, 4, 4  # bins of 4 frames, 16 frames per jittered clip
    gaps: set[int] = set()
    frames: set[int] = set()
    for _ in range(3000):
        idx = random_clip(num_frames, clip_len, step, rng=rng, jitter=True).indices
        gaps.update(int(g) for g in np.diff(idx))
        frames.update(int(i) for i in idx)
    # gap = step + (offset of next frame) - (offset of this one): every value 1 .. 2*step - 1
    assert gaps == set(range(1, 2 * step))
    assert frames == set(range(num_frames))


def test_random_clip_jitter_when_only_the_plain_clip_fits():
    # 15 frames: a plain clip of 8 frames step 2 fits exactly, the full jitter bins do not.
    rng = np.random.default_rng(4)
    for _ in range(200):
        sel = random_clip(15, 8, 2, rng=rng, jitter=True)
        assert sel.fill == "none"
        assert np.all(np.diff(sel.indices) > 0)
        assert sel.indices.max() <= 14


def test_random_clip_jitter_has_no_effect_with_step_one():
    a = random_clip(50, 8, 1, rng=np.random.default_rng(5), jitter=True)
    assert np.array_equal(np.diff(a.indices), np.ones(7))


def test_random_clip_short_loop_wraps_and_varies_start():
    rng = np.random.default_rng(6)
    starts = set()
    for _ in range(500):
        sel = random_clip(5, 8, rng=rng, short="loop")
        assert sel.fill == "loop"
        assert np.array_equal(sel.indices, (sel.indices[0] + np.arange(8)) % 5)
        starts.add(int(sel.indices[0]))
    assert starts == set(range(5))


def test_random_clip_short_pad_examples():
    rng = np.random.default_rng(7)
    sel = random_clip(5, 8, rng=rng, short="pad")
    assert sel.fill == "pad"
    assert sel.indices.tolist() == [0, 1, 2, 3, 4, 4, 4, 4]
    sel = random_clip(1, 4, 3, rng=rng, short="pad")
    assert sel.indices.tolist() == [0, 0, 0, 0]
    # step 3 over 6 frames: starts 0..2 all keep 2 real frames
    seen = {tuple(random_clip(6, 4, 3, rng=rng, short="pad").indices) for _ in range(200)}
    assert seen == {(0, 3, 5, 5), (1, 4, 5, 5), (2, 5, 5, 5)}


def test_random_clip_single_frame_video():
    rng = np.random.default_rng(8)
    for short in SHORT_MODES:
        for jitter in (False, True):
            sel = random_clip(1, 16, 2, rng=rng, short=short, jitter=jitter)
            assert sel.indices.tolist() == [0] * 16
            assert sel.fill == short
    assert random_clip(1, 1, 4, rng=rng).fill == "none"


# --------------------------------------------------------------------------------------------
# uniform_clips


@SETTINGS
@given(num_frames_st, clip_len_st, step_st, st.integers(1, 12), short_st)
def test_uniform_clips_properties(num_frames, clip_len, step, num_clips, short):
    sel = uniform_clips(num_frames, clip_len, step, num_clips, short=short)
    _check_common(sel, num_frames, (num_clips, clip_len))
    assert sel == uniform_clips(num_frames, clip_len, step, num_clips, short=short)  # deterministic
    idx = sel.indices
    grid = np.arange(clip_len) * step
    span = clip_span(clip_len, step)
    starts = idx[:, 0]
    if num_frames >= span:
        assert sel.fill == "none"
        assert np.array_equal(idx, starts[:, None] + grid[None, :])
        assert np.all(np.diff(starts) >= 0)
        if num_clips == 1:
            # centred: equal room before and after, within one frame
            before, after = starts[0], num_frames - 1 - idx[0, -1]
            assert abs(before - after) <= 1
        else:
            # from the very start to the very end, evenly spaced (gaps differ by <= 1 frame)
            assert starts[0] == 0
            assert idx[-1, -1] == num_frames - 1
            gaps = np.diff(starts)
            assert gaps.max() - gaps.min() <= 1
    else:
        assert sel.fill == short
        if short == "loop":
            assert np.array_equal(idx, (starts[:, None] + grid[None, :]) % num_frames)
            assert np.all(np.diff(starts) >= 0)
            assert starts[0] == 0
        else:
            assert np.all(idx == idx[0])  # every clip is the padded clip
            assert np.all(np.diff(idx[0]) >= 0)
            assert idx[0, -1] == num_frames - 1


def test_uniform_clips_example():
    sel = uniform_clips(100, 8, 2, num_clips=5)
    assert sel.indices[:, 0].tolist() == [0, 21, 43, 64, 85]
    assert sel.indices[-1, -1] == 99
    assert uniform_clips(100, 8, 2, num_clips=1).indices[0, 0] == 42
    # more clips than possible starts: starts repeat, still in order
    sel = uniform_clips(10, 8, 1, num_clips=5)
    assert sel.indices[:, 0].tolist() == [0, 1, 1, 2, 2]


def test_uniform_clips_short_loop_spreads_starts():
    sel = uniform_clips(6, 8, 1, num_clips=3, short="loop")
    assert sel.fill == "loop"
    assert sel.indices[:, 0].tolist() == [0, 2, 4]
    assert sel.indices[1].tolist() == [2, 3, 4, 5, 0, 1, 2, 3]


# --------------------------------------------------------------------------------------------
# segment_frames (TSN)


@SETTINGS
@given(st.integers(1, 400), st.integers(1, 30), st.booleans(), seed_st, short_st)
def test_segment_frames_one_index_inside_each_segment(num_frames, num_segments, train, seed, short):
    rng = np.random.default_rng(seed) if train else None
    sel = segment_frames(num_frames, num_segments, train=train, rng=rng, short=short)
    _check_common(sel, num_frames, (num_segments,))
    idx = sel.indices
    if num_frames >= num_segments:
        assert sel.fill == "none"
        k = np.arange(num_segments)
        # index k is inside the k-th of K equal parts: k <= idx * K / n < k + 1
        assert np.all(k * num_frames <= idx * num_segments)
        assert np.all(idx * num_segments < (k + 1) * num_frames)
    else:
        assert sel.fill == short
        if short == "pad":
            assert np.all(np.diff(idx) >= 0)


@SETTINGS
@given(
    st.integers(1, 400), st.integers(1, 16), st.integers(1, 6), step_st, st.booleans(), seed_st,
    short_st,
)  # fmt: skip
def test_segment_frames_snippets(num_frames, num_segments, snippet_len, step, train, seed, short):
    rng = np.random.default_rng(seed)
    sel = segment_frames(
        num_frames, num_segments, snippet_len, step, train=train, rng=rng, short=short
    )
    _check_common(sel, num_frames, (num_segments * snippet_len,))
    snippets = sel.indices.reshape(num_segments, snippet_len)
    span = clip_span(snippet_len, step)
    num_starts = num_frames - span + 1
    if num_starts >= num_segments:
        assert sel.fill == "none"
        starts = snippets[:, 0]
        assert np.array_equal(snippets, starts[:, None] + np.arange(snippet_len) * step)
        assert np.all(np.diff(starts) > 0)  # snippets in order (they may overlap when short)
        k = np.arange(num_segments)
        assert np.all(k * num_starts <= starts * num_segments)
        assert np.all(starts * num_segments < (k + 1) * num_starts)
    else:
        assert sel.fill == short


def test_segment_frames_test_mode_centres_and_determinism():
    assert segment_frames(300, 3, train=False).indices.tolist() == [50, 150, 250]
    assert segment_frames(10, 5, train=False).indices.tolist() == [1, 3, 5, 7, 9]
    assert segment_frames(7, 7, train=False).indices.tolist() == list(range(7))
    a = segment_frames(123, 8, 2, 3, train=False)
    b = segment_frames(123, 8, 2, 3, train=False, rng=np.random.default_rng(0))  # rng ignored
    assert a == b


def test_segment_frames_train_covers_every_frame_of_each_segment():
    rng = np.random.default_rng(9)
    num_frames, num_segments = 30, 3
    seen = [Counter() for _ in range(num_segments)]
    for _ in range(3000):
        idx = segment_frames(num_frames, num_segments, train=True, rng=rng).indices
        for k, i in enumerate(idx):
            seen[k][int(i)] += 1
    for k in range(num_segments):
        assert set(seen[k]) == set(range(10 * k, 10 * k + 10))
        assert all(200 < n < 400 for n in seen[k].values())  # ~300 each


def test_segment_frames_train_is_deterministic_given_seed():
    def draw(seed):
        rng = np.random.default_rng(seed)
        return [segment_frames(200, 8, 2, 2, train=True, rng=rng) for _ in range(4)]

    assert draw(11) == draw(11)
    assert draw(11) != draw(12)


def test_segment_frames_short_videos():
    sel = segment_frames(3, 8, train=False, short="pad")
    assert sel.fill == "pad"
    assert sel.indices.tolist() == [0, 1, 2, 2, 2, 2, 2, 2]
    sel = segment_frames(3, 8, train=False, short="loop")
    assert sel.fill == "loop"
    # looped to 9 frames, 8 parts of the 9 frames, centres 1..8, mapped back modulo 3
    assert sel.indices.tolist() == [1, 2, 0, 1, 2, 0, 1, 2]
    sel = segment_frames(1, 4, 3, 2, train=True, rng=np.random.default_rng(0))
    assert sel.indices.tolist() == [0] * 12
