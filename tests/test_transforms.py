"""Clip transforms: shapes and layouts, one random draw per clip, normalization, presets."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from actionkit.data.presets import eval_transform, train_transform
from actionkit.data.transforms import (
    CROPS,
    Contiguous,
    MultiScaleCrop,
    ResizeShortSide,
    ThreeCrop,
    ToLayout,
    ToVideo,
    denormalize,
    normalize,
    to_video,
)
from actionkit.spec import IMAGENET_MEAN, IMAGENET_STD, InputSpec

CTHW = InputSpec(layout="CTHW", clip_len=8, crop_size=112, resize=128)
KCHW = InputSpec(
    layout="KCHW", clip_len=1, num_segments=8, crop_size=112, resize=128,
    mean=IMAGENET_MEAN, std=IMAGENET_STD,
)  # fmt: skip


def random_clip(t=8, h=128, w=171, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def coordinate_clip(t=8, h=128, w=171) -> np.ndarray:
    """R = column, G = row, B = 10 * frame index: every pixel says where it came from."""
    clip = np.empty((t, h, w, 3), np.uint8)
    clip[..., 0] = np.arange(w)[None, None, :]
    clip[..., 1] = np.arange(h)[None, :, None]
    clip[..., 2] = (10 * np.arange(t))[:, None, None]
    return clip


def as_tchw(out: torch.Tensor, spec: InputSpec) -> torch.Tensor:
    """Model output back to T×C×H×W, denormalized to [0, 255] floats."""
    x = denormalize(out, spec.mean, spec.std, layout=spec.layout) * 255
    return x.transpose(-4, -3) if spec.layout == "CTHW" else x


# --------------------------------------------------------------------------------------------
# to_video


def test_to_video_is_a_permuted_view():
    clip = random_clip()
    video = to_video(clip)
    assert isinstance(video, tv_tensors.Video)
    assert video.shape == (8, 3, 128, 171) and video.dtype == torch.uint8
    assert torch.equal(video[3, 1], torch.from_numpy(clip[3, :, :, 1]))
    clip[0, 0, 0, 0] = 7
    assert video[0, 0, 0, 0] == 7  # shares memory: no copy


def test_to_video_accepts_tensors_readonly_and_flipped_arrays():
    clip = random_clip()
    assert torch.equal(to_video(torch.from_numpy(clip)), to_video(clip))
    readonly = clip.copy()
    readonly.setflags(write=False)
    flipped = clip[:, :, ::-1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(to_video(readonly), to_video(clip))
        assert torch.equal(to_video(flipped), to_video(clip).flip(-1))
    video = to_video(clip)
    assert to_video(video) is video


@pytest.mark.parametrize(
    "frames, pattern",
    [
        (np.zeros((8, 16, 16, 3), np.float32), "uint8"),
        (torch.zeros((8, 16, 16, 3)), "uint8"),
        (np.zeros((16, 16, 3), np.uint8), r"\(T, H, W, 3\)"),
        (np.zeros((8, 3, 16, 16), np.uint8), r"\(T, H, W, 3\)"),
        ([[1, 2, 3]], "numpy array or torch tensor"),
        (tv_tensors.Video(torch.zeros(8, 3, 16, 16)), "uint8 T×3×H×W"),
    ],
)
def test_to_video_rejects_bad_input(frames, pattern):
    with pytest.raises(ValueError, match=pattern):
        to_video(frames)


# --------------------------------------------------------------------------------------------
# ResizeShortSide


@pytest.mark.parametrize(
    "shape, size, expected",
    [((240, 320), 128, (128, 170)), ((320, 240), 128, (170, 128)), ((100, 100), 64, (64, 64))],
)
def test_resize_short_side_keeps_aspect(shape, size, expected):
    video = to_video(random_clip(4, *shape))
    assert ResizeShortSide(size)(video).shape[-2:] == expected


def test_resize_short_side_is_a_noop_at_size():
    video = to_video(random_clip())
    out = ResizeShortSide(128)(video)
    assert out.data_ptr() == video.data_ptr() and out.shape == video.shape


@pytest.mark.parametrize("size", [0, -1, 1.5, (128, 171), True])
def test_resize_short_side_rejects_bad_size(size):
    with pytest.raises(ValueError, match="size="):
        ResizeShortSide(size)


# --------------------------------------------------------------------------------------------
# presets: shapes, dtypes, layouts


@pytest.mark.parametrize("spec", [CTHW, KCHW], ids=["CTHW", "KCHW"])
@pytest.mark.parametrize("crop", CROPS)
@pytest.mark.parametrize("jitter", [0.0, 0.3])
def test_train_transform_shapes(spec, crop, jitter):
    tf = train_transform(spec, crop=crop, color_jitter=jitter)
    out = tf(random_clip(8, 240, 320))  # not pre-resized
    expected = (3, 8, 112, 112) if spec.layout == "CTHW" else (8, 3, 112, 112)
    assert out.shape == expected
    assert out.dtype == torch.float32
    assert type(out) is torch.Tensor and out.is_contiguous()


@pytest.mark.parametrize("spec", [CTHW, KCHW], ids=["CTHW", "KCHW"])
@pytest.mark.parametrize("three_crop", [False, True])
def test_eval_transform_shapes(spec, three_crop):
    out = eval_transform(spec, three_crop=three_crop)(random_clip(8, 128, 171))
    one = (3, 8, 112, 112) if spec.layout == "CTHW" else (8, 3, 112, 112)
    assert out.shape == ((3, *one) if three_crop else one)
    assert out.dtype == torch.float32
    assert type(out) is torch.Tensor and out.is_contiguous()


def test_presets_accept_tensors_and_numpy_alike():
    clip = random_clip()
    tf = eval_transform(CTHW)
    assert torch.equal(tf(clip), tf(torch.from_numpy(clip)))


def test_presets_print_their_steps():
    text = repr(train_transform(CTHW, crop="multiscale", color_jitter=0.4))
    for name in ("ToVideo", "ResizeShortSide", "MultiScaleCrop", "RandomHorizontalFlip"):
        assert name in text
    assert "ColorJitter" in text and "Normalize" in text and "ToLayout(layout='CTHW')" in text
    assert "RandomHorizontalFlip" not in repr(train_transform(CTHW, flip=False))
    assert "ThreeCrop(size=112)" in repr(eval_transform(KCHW, three_crop=True))
    assert isinstance(train_transform(CTHW), torch.nn.Module)


@pytest.mark.parametrize(
    "call, pattern",
    [
        (lambda: train_transform(CTHW, crop="center"), r"crop='center'.*'random_resized'"),
        (lambda: train_transform(CTHW, color_jitter=-0.1), "color_jitter=-0.1"),
        (lambda: train_transform(CTHW, color_jitter=2), "color_jitter=2"),
        (lambda: train_transform(CTHW, hue=0.6), "hue=0.6"),
        (lambda: train_transform({"crop_size": 112}), "InputSpec"),
        (lambda: eval_transform(None), "InputSpec"),
        (lambda: ToLayout("NCHW"), r"layout='NCHW'.*\('CTHW', 'KCHW'\)"),
        (lambda: ThreeCrop(0), "size=0"),
        (lambda: MultiScaleCrop(112, scales=(1.2,)), "scales="),
        (lambda: MultiScaleCrop(112, max_distort=-1), "max_distort=-1"),
        (lambda: MultiScaleCrop("big"), "size='big'"),
    ],
)
def test_invalid_arguments(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


# --------------------------------------------------------------------------------------------
# one random draw per clip


@pytest.mark.parametrize("spec", [CTHW, KCHW], ids=["CTHW", "KCHW"])
@pytest.mark.parametrize("crop", CROPS)
def test_identical_frames_stay_identical(spec, crop):
    frame = random_clip(1, 150, 200, seed=1)
    clip = np.repeat(frame, 6, axis=0)
    tf = train_transform(spec, crop=crop, color_jitter=0.4, hue=0.1)
    for seed in range(4):
        torch.manual_seed(seed)
        frames = as_tchw(tf(clip), spec)
        assert torch.equal(frames, frames[:1].expand_as(frames)), f"seed {seed}"


def test_random_crop_and_flip_move_every_frame_alike():
    """Exact check with coordinate-coded pixels: one crop window and one flip for all frames."""
    clip = coordinate_clip()
    tf = train_transform(CTHW, crop="random", flip=True)
    flips, lefts, tops = set(), set(), set()
    for seed in range(40):
        torch.manual_seed(seed)
        x = as_tchw(tf(clip), CTHW).round().to(torch.int64)  # T, C, H, W
        cols, rows, stamps = x[:, 0], x[:, 1], x[:, 2]
        assert torch.equal(cols, cols[:1].expand_as(cols))  # same columns in every frame
        assert torch.equal(rows, rows[:1].expand_as(rows))  # same rows in every frame
        assert torch.equal(stamps[:, 0, 0], 10 * torch.arange(8))  # frames kept in order
        top, left = int(rows[0, 0, 0]), int(cols[0].min())
        assert torch.equal(rows[0], (top + torch.arange(112))[:, None].expand(112, 112))
        flipped = bool(cols[0, 0, 0] > cols[0, 0, -1])
        span = torch.arange(112) if not flipped else torch.arange(111, -1, -1)
        assert torch.equal(cols[0], (left + span)[None, :].expand(112, 112))
        assert 0 <= top <= 128 - 112 and 0 <= left <= 171 - 112
        flips.add(flipped)
        lefts.add(left)
        tops.add(top)
    assert flips == {False, True}
    assert len(lefts) > 10 and len(tops) > 5


@pytest.mark.parametrize("crop", ["random_resized", "multiscale"])
def test_resized_crops_move_every_frame_alike(crop):
    """Frames that differ only in blue: red/green (the image) must come out identical."""
    clip = np.repeat(random_clip(1, 128, 171, seed=2), 8, axis=0)
    clip[..., 2] = (30 * np.arange(8))[:, None, None]
    tf = train_transform(CTHW, crop=crop)
    for seed in range(10):
        torch.manual_seed(seed)
        x = as_tchw(tf(clip), CTHW)
        assert torch.equal(x[:, :2], x[:1, :2].expand(8, -1, -1, -1))
        blue = x[:, 2].mean(dim=(1, 2))
        assert torch.allclose(blue, 30 * torch.arange(8.0), atol=0.01)


def test_marker_pixel_follows_the_flip_in_every_frame():
    clip = np.zeros((8, 16, 20, 3), np.uint8)
    clip[:, 5, 2] = 255  # marker near the left edge of every frame
    flip = v2.RandomHorizontalFlip()
    seen = set()
    for seed in range(30):
        torch.manual_seed(seed)
        out = flip(to_video(clip))
        where = [tuple(torch.nonzero(frame[0]).tolist()[0]) for frame in out]
        assert len(set(where)) == 1  # same place in all frames
        assert where[0] in {(5, 2), (5, 17)}
        seen.add(where[0])
    assert seen == {(5, 2), (5, 17)}


def test_train_transform_is_reproducible_with_seeded_torch_rng():
    clip = random_clip(4, 150, 200)
    for crop in CROPS:
        tf = train_transform(CTHW, crop=crop, color_jitter=0.3, hue=0.05)
        torch.manual_seed(123)
        a = tf(clip)
        torch.manual_seed(123)
        b = tf(clip)
        assert torch.equal(a, b)
        torch.manual_seed(124)
        outs = [tf(clip) for _ in range(3)]
        assert any(not torch.equal(a, o) for o in outs)


def test_eval_transform_is_deterministic():
    clip = random_clip(8, 150, 200)
    for three_crop in (False, True):
        tf = eval_transform(CTHW, three_crop=three_crop)
        torch.manual_seed(0)
        a = tf(clip)
        torch.manual_seed(1)
        assert torch.equal(a, tf(clip))


def test_flip_off_keeps_orientation():
    clip = coordinate_clip()
    tf = train_transform(CTHW, crop="random", flip=False)
    for seed in range(20):
        torch.manual_seed(seed)
        cols = as_tchw(tf(clip), CTHW).round()[:, 0]
        assert bool((cols[:, :, 1:] > cols[:, :, :-1]).all())


# --------------------------------------------------------------------------------------------
# MultiScaleCrop


def test_multiscale_crop_sizes_come_from_scales():
    msc = MultiScaleCrop(112)
    # short side 128: 128, 112, 96, 84 (84.48 floored); 112 snaps to itself
    pairs = msc.crop_sizes(128, 171)
    sides = {128, 112, 96, 84}
    assert all(h in sides and w in sides for h, w in pairs)
    idx = {128: 0, 112: 1, 96: 2, 84: 3}
    assert all(abs(idx[h] - idx[w]) <= 1 for h, w in pairs)  # max_distort=1
    assert len(pairs) == 10
    # values within 3 pixels of the output size snap to it: 0.875 * 130 = 113.75 -> 112
    assert (112, 112) in MultiScaleCrop(112).crop_sizes(130, 200)
    assert MultiScaleCrop(112, max_distort=0).crop_sizes(128, 171) == [
        (128, 128), (112, 112), (96, 96), (84, 84),
    ]  # fmt: skip


def test_multiscale_crop_offsets_land_on_corners_and_centre():
    msc = MultiScaleCrop(112)
    height, width = 128, 171
    video = to_video(random_clip(2, height, width))
    seen_sizes, seen_offsets = set(), set()
    torch.manual_seed(0)
    for _ in range(2000):
        p = msc.make_params([video])
        h, w, top, left = p["height"], p["width"], p["top"], p["left"]
        seen_sizes.add((h, w))
        fy, fx = height - h, width - w
        allowed = {
            (round(qy * fy / 4 + 1e-9), round(qx * fx / 4 + 1e-9))
            for qy in range(5)
            for qx in range(5)
        }
        assert (top, left) in allowed
        # the four corners are exact
        assert (0, 0) in msc.fixed_offsets(height, width, h, w)
        assert (fy, fx) in msc.fixed_offsets(height, width, h, w)
        assert (0, fx) in msc.fixed_offsets(height, width, h, w)
        assert (fy, 0) in msc.fixed_offsets(height, width, h, w)
        seen_offsets.add((top / max(fy, 1), left / max(fx, 1)))
    assert seen_sizes == set(msc.crop_sizes(height, width))
    # corners, centre, edge centres and quarter points all drawn
    for pos in [(0, 0), (0, 1), (1, 0), (1, 1), (0.5, 0.5), (0.5, 0), (0, 0.5), (1, 0.5), (0.5, 1)]:
        assert any(abs(a - pos[0]) < 0.02 and abs(b - pos[1]) < 0.02 for a, b in seen_offsets), pos


def test_multiscale_crop_offset_counts_and_free_offsets():
    assert len(MultiScaleCrop(112).fixed_offsets(128, 171, 96, 96)) == 13
    five = MultiScaleCrop(112, more_fix_crop=False).fixed_offsets(128, 171, 96, 96)
    assert sorted(five) == sorted([(0, 0), (0, 75), (32, 0), (32, 75), (16, 38)])
    free = MultiScaleCrop(112, fix_crop=False)
    video = to_video(random_clip(2, 128, 171))
    torch.manual_seed(0)
    lefts = set()
    for _ in range(300):
        p = free.make_params([video])
        assert 0 <= p["top"] <= 128 - p["height"] and 0 <= p["left"] <= 171 - p["width"]
        lefts.add(p["left"])
    assert len(lefts) > 20


def test_multiscale_crop_content_is_the_chosen_window():
    # one scale giving exactly the output size: no interpolation, the crop is copied verbatim
    msc = MultiScaleCrop(112, scales=(0.875,), max_distort=0)
    video = to_video(coordinate_clip(4, 128, 171))
    allowed = set(msc.fixed_offsets(128, 171, 112, 112))
    seen = set()
    for seed in range(60):
        torch.manual_seed(seed)
        out = msc(video)
        assert out.shape == (4, 3, 112, 112)
        top, left = int(out[0, 1, 0, 0]), int(out[0, 0, 0, 0])
        assert (top, left) in allowed
        assert torch.equal(out, video[:, :, top : top + 112, left : left + 112])
        seen.add((top, left))
    assert seen == allowed


def test_multiscale_crop_rectangular_output():
    out = MultiScaleCrop((100, 120))(to_video(random_clip(3, 128, 171)))
    assert out.shape == (3, 3, 100, 120)


# --------------------------------------------------------------------------------------------
# ThreeCrop


def test_three_crop_landscape_left_centre_right():
    video = to_video(coordinate_clip(4, 128, 171))
    out = ThreeCrop(112)(video)
    assert isinstance(out, tv_tensors.Video) and out.shape == (3, 4, 3, 112, 112)
    assert ThreeCrop(112).boxes(128, 171) == [(8, 0), (8, 30), (8, 59)]
    lefts = [int(out[k, 0, 0, 0, 0]) for k in range(3)]
    tops = [int(out[k, 0, 1, 0, 0]) for k in range(3)]
    assert lefts == [0, 30, 59] and tops == [8, 8, 8]
    assert int(out[2, 0, 0, 0, -1]) == 170  # the right crop ends at the right edge
    for k, (top, left) in enumerate(ThreeCrop(112).boxes(128, 171)):
        assert torch.equal(out[k], video[:, :, top : top + 112, left : left + 112])


def test_three_crop_portrait_top_centre_bottom():
    out = ThreeCrop(100)(to_video(coordinate_clip(2, 180, 120)))
    tops = [int(out[k, 0, 1, 0, 0]) for k in range(3)]
    lefts = [int(out[k, 0, 0, 0, 0]) for k in range(3)]
    assert tops == [0, 40, 80] and lefts == [10, 10, 10]
    assert int(out[2, 0, 1, -1, 0]) == 179


def test_three_crop_too_small_raises():
    with pytest.raises(ValueError, match="does not fit"):
        ThreeCrop(112)(to_video(random_clip(2, 100, 171)))


@pytest.mark.parametrize("spec", [CTHW, KCHW], ids=["CTHW", "KCHW"])
def test_eval_three_crop_matches_single_crops(spec):
    clip = random_clip(8, 128, 171)
    three = eval_transform(spec, three_crop=True)(clip)
    centre = eval_transform(spec)(clip)
    assert torch.equal(three[1], centre)  # the middle crop is the centre crop
    assert not torch.equal(three[0], three[2])


# --------------------------------------------------------------------------------------------
# ToLayout, normalize, denormalize


def test_to_layout():
    video = tv_tensors.Video(torch.arange(2 * 3 * 4 * 5.0).reshape(2, 3, 4, 5))
    cthw = ToLayout("CTHW")(video)
    assert cthw.shape == (3, 2, 4, 5) and type(cthw) is torch.Tensor and cthw.is_contiguous()
    assert torch.equal(cthw[1, 0], video[0, 1])
    kchw = ToLayout("KCHW")(video)
    assert torch.equal(kchw, video.as_subclass(torch.Tensor))
    stacked = torch.stack([video, video + 1])
    assert ToLayout("CTHW")(stacked).shape == (2, 3, 2, 4, 5)
    with pytest.raises(ValueError, match="T×C×H×W"):
        ToLayout("CTHW")(torch.zeros(3, 4, 5))


def test_contiguous_step_keeps_values_and_type():
    video = to_video(random_clip())
    out = Contiguous()(video)
    assert isinstance(out, tv_tensors.Video) and out.is_contiguous()
    assert torch.equal(out, video)


@pytest.mark.parametrize("spec", [CTHW, KCHW], ids=["CTHW", "KCHW"])
def test_normalize_denormalize_round_trip(spec):
    clip = random_clip(8, 128, 171)
    out = eval_transform(spec)(clip)  # centre crop at rows 8.., cols 30.. (round(59 / 2) = 30)
    back = as_tchw(out, spec)
    crop = torch.from_numpy(clip[:, 8:120, 30:142]).permute(0, 3, 1, 2).float()
    assert torch.allclose(back, crop, atol=1e-3)
    # batches and three-crop stacks
    batch = torch.stack([out, out])
    assert torch.allclose(
        denormalize(batch, spec.mean, spec.std, layout=spec.layout)[1],
        denormalize(out, spec.mean, spec.std, layout=spec.layout),
    )
    three = eval_transform(spec, three_crop=True)(clip)
    back3 = denormalize(three, spec.mean, spec.std, layout=spec.layout)
    assert torch.allclose(
        back3[1] * 255, denormalize(out, spec.mean, spec.std, layout=spec.layout) * 255
    )


def test_denormalize_checks_and_clamp():
    x = torch.zeros(3, 8, 4, 4)
    with pytest.raises(ValueError, match="KCHW"):
        denormalize(x, IMAGENET_MEAN, IMAGENET_STD, layout="KCHW")  # dim -3 has 8, not 3
    with pytest.raises(ValueError, match="layout='THWC'"):
        denormalize(x, IMAGENET_MEAN, IMAGENET_STD, layout="THWC")
    big = torch.full((3, 2, 4, 4), 10.0)
    assert denormalize(big, IMAGENET_MEAN, IMAGENET_STD, clamp=True).max() == 1.0
    assert denormalize(big, IMAGENET_MEAN, IMAGENET_STD).max() > 1.0


def test_normalize_on_its_own():
    video = to_video(np.full((2, 4, 4, 3), 255, np.uint8))
    out = normalize((0.5, 0.5, 0.5), (0.25, 0.5, 1.0))(video)
    assert out.dtype == torch.float32
    assert torch.allclose(out[:, 0], torch.full((2, 4, 4), 2.0))
    assert torch.allclose(out[:, 1], torch.full((2, 4, 4), 1.0))
    assert torch.allclose(out[:, 2], torch.full((2, 4, 4), 0.5))


def test_normalization_matches_hand_computation_on_a_real_frame():
    skimage_data = pytest.importorskip("skimage.data")
    frame = skimage_data.chelsea()[:, :450]  # 300×450 RGB photo; even sizes → exact centre
    clip = np.stack([frame, frame[:, ::-1]])  # two frames, the second mirrored
    spec = InputSpec(crop_size=200, resize=300, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    out = eval_transform(spec)(clip)  # C, T, H, W; centre crop: rows 50..249, cols 125..324
    assert out.shape == (3, 2, 200, 200)
    for c in range(3):
        for t, y, x in [(0, 0, 0), (0, 100, 100), (1, 199, 199), (1, 37, 150)]:
            raw = int(clip[t, 50 + y, 125 + x, c])
            expected = (raw / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]
            assert out[c, t, y, x].item() == pytest.approx(expected, abs=1e-5)
        # channel means over the crop, by hand in float64
        crop = clip[0, 50:250, 125:325, c].astype(np.float64)
        expected_mean = (crop.mean() / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]
        assert out[c, 0].double().mean().item() == pytest.approx(expected_mean, abs=1e-5)
    # one value written out: the raw pixel (50, 125) of chelsea
    r = int(frame[50, 125, 0])
    assert out[0, 0, 0, 0].item() == pytest.approx((r / 255 - 0.485) / 0.229, abs=1e-5)


def test_to_video_step_for_custom_compose():
    tf = v2.Compose([ToVideo(), v2.CenterCrop(64), ToLayout("KCHW")])
    out = tf(random_clip(4, 100, 100))
    assert out.shape == (4, 3, 64, 64) and out.dtype == torch.uint8


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_presets_run_on_cuda_tensors():
    clip = torch.from_numpy(random_clip(8, 240, 320)).cuda()
    for crop in CROPS:
        out = train_transform(CTHW, crop=crop, color_jitter=0.2)(clip)
        assert out.is_cuda and out.shape == (3, 8, 112, 112)
    cpu = eval_transform(KCHW, three_crop=True)(clip.cpu())
    gpu = eval_transform(KCHW, three_crop=True)(clip)
    assert torch.allclose(cpu, gpu.cpu(), atol=2e-2)


def test_presets_never_modify_the_input_clip():
    clip = random_clip(4, 128, 171)
    before = clip.copy()
    tensor = torch.from_numpy(clip.copy())
    presets = [train_transform(CTHW, crop=c, flip=f) for c in CROPS for f in (False, True)]
    presets += [eval_transform(s, three_crop=t) for s in (CTHW, KCHW) for t in (False, True)]
    for tf in presets:
        for _ in range(2):
            tf(clip)
            tf(tensor)
    assert np.array_equal(clip, before)
    assert torch.equal(tensor, torch.from_numpy(before))


def test_color_jitter_is_clamped_and_changes_colours():
    clip = random_clip(4, 128, 171)
    spec = CTHW.replace(clip_len=4)
    plain = train_transform(spec, crop="random", flip=False)
    jitter = train_transform(spec, crop="random", flip=False, color_jitter=0.5, hue=0.2)
    changed = 0
    for seed in range(5):
        torch.manual_seed(seed)
        a = denormalize(plain(clip), spec.mean, spec.std)
        torch.manual_seed(seed)  # same crop draw; jitter draws come after it
        b = denormalize(jitter(clip), spec.mean, spec.std)
        assert b.min() >= -1e-5 and b.max() <= 1 + 1e-5  # still valid pixel values
        changed += not torch.allclose(a, b, atol=1e-3)
    assert changed == 5
