"""Pictures of the transforms and the sampling: the boxes drawn are the transforms' real crops,
the images shown are the real outputs, the sampling rows are the sampling functions' indices."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch
from matplotlib.patches import Rectangle
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from actionkit.data import sampling
from actionkit.data.illustrate import (
    draw_crops,
    draw_params,
    draw_segments,
    plot_sampling,
    show_color_jitter,
    show_crops,
    show_frames,
    show_normalization,
    show_same_crop,
)
from actionkit.data.transforms import MultiScaleCrop, ResizeShortSide, ThreeCrop, to_video
from actionkit.spec import InputSpec


@pytest.fixture(autouse=True)
def agg():
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


@pytest.fixture
def clip() -> np.ndarray:
    """8 frames of 60×80 where every pixel says where it is (x, y) and when (t)."""
    t, y, x = np.meshgrid(np.arange(8), np.arange(60), np.arange(80), indexing="ij")
    return np.stack([x * 3, y * 4, t * 30], axis=-1).astype(np.uint8)


def resized_crop(frames: np.ndarray, crop, size: int) -> np.ndarray:
    """The crop's box cut from the frames by hand and resized as the transforms resize."""
    video = to_video(frames)
    out = F.resized_crop(video, crop.top, crop.left, crop.height, crop.width, [size, size])
    return out.permute(0, 2, 3, 1).numpy()


def images(ax) -> list[np.ndarray]:
    return [np.asarray(im.get_array()) for im in ax.get_images()]


def rectangles(ax) -> list[tuple[float, float, float, float]]:
    return [
        (p.get_x(), p.get_y(), p.get_width(), p.get_height())
        for p in ax.patches
        if isinstance(p, Rectangle)
    ]


@pytest.mark.parametrize(
    "transform",
    [v2.RandomResizedCrop(32, antialias=True), MultiScaleCrop(32), v2.RandomCrop(32)],
    ids=lambda t: type(t).__name__,
)
def test_a_random_crop_drawn_is_the_region_the_transform_outputs(clip, transform):
    crops = draw_crops(transform, clip, n=5, seed=3)
    assert len(crops) == 5
    assert len({(c.top, c.left, c.height, c.width) for c in crops}) > 1  # really random
    for crop in crops:
        assert crop.top >= 0 and crop.top + crop.height <= 60
        assert crop.left >= 0 and crop.left + crop.width <= 80
        assert crop.frames.shape == (8, 32, 32, 3)
        # the same box on every frame: the time channel is each frame's own
        np.testing.assert_array_equal(crop.frames, resized_crop(clip, crop, 32))
        assert [int(f[..., 2].mean()) for f in crop.frames] == [30 * t for t in range(8)]


def test_draws_repeat_with_the_seed_and_leave_the_callers_random_state_alone(clip):
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    first = draw_crops(v2.RandomResizedCrop(32), clip, n=3, seed=7)
    assert torch.equal(torch.rand(3), expected)
    again = draw_crops(v2.RandomResizedCrop(32), clip, n=3, seed=7)
    other = draw_crops(v2.RandomResizedCrop(32), clip, n=3, seed=8)
    boxes = [[(c.top, c.left, c.height, c.width) for c in cs] for cs in (first, again, other)]
    assert boxes[0] == boxes[1] != boxes[2]


def test_fixed_crops_are_the_centre_and_the_three_crops(clip):
    (centre,) = draw_crops(v2.CenterCrop(40), clip, n=4)
    assert (centre.top, centre.left, centre.height, centre.width) == (10, 20, 40, 40)
    np.testing.assert_array_equal(centre.frames, clip[:, 10:50, 20:60])
    three = draw_crops(ThreeCrop(40), clip)
    assert [(c.top, c.left) for c in three] == [(10, 0), (10, 20), (10, 40)]
    stacked = ThreeCrop(40)(to_video(clip))  # 3×T×C×H×W
    for crop, out in zip(three, stacked, strict=True):
        np.testing.assert_array_equal(crop.frames, out.permute(0, 2, 3, 1).numpy())


def test_a_transform_that_does_not_crop_and_bad_frames_are_named(clip):
    with pytest.raises(ValueError, match="ColorJitter does not crop"):
        draw_crops(v2.ColorJitter(0.5), clip)
    with pytest.raises(ValueError, match="uint8 T×H×W×3"):
        draw_crops(v2.RandomCrop(8), clip.astype(np.float32))


def test_show_crops_draws_each_box_and_its_output(clip):
    crops = draw_crops(v2.RandomResizedCrop(32), clip, n=3, seed=1)
    fig = show_crops(clip, crops, frame=5)
    assert len(fig.axes) == 4
    np.testing.assert_array_equal(images(fig.axes[0])[0], clip[5])
    assert rectangles(fig.axes[0]) == [
        (c.left - 0.5, c.top - 0.5, c.width, c.height) for c in crops
    ]
    for ax, crop in zip(fig.axes[1:], crops, strict=True):
        np.testing.assert_array_equal(images(ax)[0], crop.frames[5])
        assert f"{crop.width}×{crop.height} at ({crop.left}, {crop.top})" in ax.get_title()


def test_the_same_crop_is_drawn_on_frames_across_the_clip(clip):
    (crop,) = draw_crops(MultiScaleCrop(32), clip, seed=2)
    fig = show_same_crop(clip, crop, times=3)
    top, bottom = fig.axes[:3], fig.axes[3:]  # row-major 2×3: inputs, then outputs
    assert len(fig.axes) == 6
    for ax, t in zip(top, (0, 4, 7), strict=True):
        assert rectangles(ax) == [(crop.left - 0.5, crop.top - 0.5, crop.width, crop.height)]
        np.testing.assert_array_equal(images(ax)[0], clip[t])
    for ax, t in zip(bottom, (0, 4, 7), strict=True):
        np.testing.assert_array_equal(images(ax)[0], crop.frames[t])


def test_show_frames_at_the_same_scale_makes_a_resized_frame_look_smaller(clip):
    small = ResizeShortSide(30)(to_video(clip)).permute(0, 2, 3, 1).numpy()
    fig = show_frames([clip[0], small[0]], ["input", "resized"], same_scale=True)
    assert [ax.get_title() for ax in fig.axes] == ["input", "resized"]
    assert fig.axes[1].get_xlim() == fig.axes[0].get_xlim() == (-0.5, 79.5)
    assert images(fig.axes[1])[0].shape == (30, 40, 3)
    with pytest.raises(ValueError, match="2 images but 1 titles"):
        show_frames([clip[0], small[0]], ["one"])


def test_colour_jitter_shows_the_input_and_each_draw_with_its_factors(clip):
    jitter = v2.ColorJitter(brightness=0.5, contrast=0.5)
    fig = show_color_jitter(clip, jitter, n=3, seed=4)
    draws = draw_params(jitter, clip, n=3, seed=4)
    assert len(fig.axes) == 4
    np.testing.assert_array_equal(images(fig.axes[0])[0], clip[0])
    for ax, (params, out) in zip(fig.axes[1:], draws, strict=True):
        np.testing.assert_array_equal(images(ax)[0], out[0])
        assert f"bri {params['brightness_factor']:.2f}" in ax.get_title()
        assert not np.array_equal(out[0], clip[0])


def test_normalization_shows_the_model_input_and_recovers_the_frame(clip):
    spec = InputSpec()
    fig = show_normalization(clip, spec, frame=2)
    panels = [ax for ax in fig.axes if ax.get_images() and ax.get_title()]  # not colour bars
    assert len(panels) == 5
    red = images(panels[1])[0]
    np.testing.assert_allclose(red, (clip[2, ..., 0] / 255 - spec.mean[0]) / spec.std[0], atol=1e-5)
    back = images(panels[4])[0]
    assert np.abs(back * 255 - clip[2]).max() < 0.01
    assert "max error 0.00/255" in panels[4].get_title()


def test_the_sampling_figure_draws_the_sampling_functions_indices():
    fig = plot_sampling(100, num_segments=5, clip_len=4, step=3, num_clips=2, draws=2, seed=9)
    (ax,) = fig.axes
    rng = np.random.default_rng(9)
    expected = [sampling.segment_frames(100, 5, train=True, rng=rng).indices for _ in range(2)]
    expected.append(sampling.segment_frames(100, 5, train=False).indices)
    expected += [sampling.random_clip(100, 4, 3, rng=rng).indices for _ in range(2)]
    expected += list(sampling.uniform_clips(100, 4, 3, num_clips=2).indices)
    assert len(ax.collections) == len(expected) == 7
    for y, (dots, indices) in enumerate(zip(ax.collections, expected, strict=True)):
        np.testing.assert_array_equal(dots.get_offsets(), np.c_[indices, np.full(len(indices), y)])
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[2] == "TSN test" and labels[-1] == "dense test, clip 2"
    np.testing.assert_array_equal(expected[2], [10, 30, 50, 70, 90])  # the part centres
    assert [line.get_xdata()[0] for line in ax.get_lines()] == [19.5, 39.5, 59.5, 79.5]


def test_true_segments_take_the_colour_of_their_class_on_a_timeline():
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    walk = ax.plot([0, 1, 2], [0.1, 0.9, 0.2], label="walk")[0]
    run = ax.plot([0, 1, 2], [0.8, 0.1, 0.3], label="run")[0]
    spans = draw_segments(ax, [(0.0, 0.8, "run"), (0.8, 1.6, "walk"), (1.6, 2.0, "jump")])
    assert len(spans) == 3
    extents = [(s.get_x(), s.get_x() + s.get_width()) for s in spans]
    np.testing.assert_allclose(extents, [(0.0, 0.8), (0.8, 1.6), (1.6, 2.0)])
    colours = [matplotlib.colors.to_hex(s.get_facecolor()) for s in spans]
    expected = [run.get_color(), walk.get_color(), "grey"]
    assert colours == [matplotlib.colors.to_hex(c) for c in expected]
    assert [t.get_text() for t in ax.texts] == ["run", "walk", "jump"]
