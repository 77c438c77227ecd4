"""Drawing the sample dataset's videos (see :mod:`actionkit.datasets.sample` for the design).

:func:`render_sample_video` draws the look of a video (background, colours, shape) first, then the
motion, then the noise, so that equal generator states give the same look in every class, and in
the two classes of a pair the very same frames in reverse order.
"""

from __future__ import annotations

import colorsys
import math

import numpy as np

__all__ = ["SAMPLE_CLASSES", "render_sample_video"]

SAMPLE_CLASSES: tuple[str, ...] = (
    "growing",
    "moving_down",
    "moving_left",
    "moving_right",
    "moving_up",
    "shrinking",
)
"""The class names, sorted (the order ``classes.txt`` and a folder scan both give)."""

# class -> (kind of motion, played backwards?). The second class of a pair is the first reversed.
_CLASS_MOTION: dict[str, tuple[str, bool]] = {
    "moving_right": ("move_x", False),
    "moving_left": ("move_x", True),
    "moving_down": ("move_y", False),
    "moving_up": ("move_y", True),
    "growing": ("scale", False),
    "shrinking": ("scale", True),
}


def render_sample_video(
    cls: str, rng: np.random.Generator, num_frames: int, size: tuple[int, int]
) -> np.ndarray:
    """Frames of one generated video of class ``cls``.

    Args:
        cls: One of :data:`SAMPLE_CLASSES`.
        rng: The source of randomness (the only one: equal generator states give equal videos).
        num_frames: Number of frames ``T`` (at least 2).
        size: ``(width, height)`` in pixels (each at least 16).

    Returns:
        ``T×H×W×3`` uint8 RGB frames. From equal generator states every class gives the same
        look (background, colours, shape), and the second class of a pair (``moving_left``,
        ``moving_up``, ``shrinking``) exactly the first's frames reversed.
    """
    if cls not in _CLASS_MOTION:
        raise ValueError(
            f"unknown sample class {cls!r}; the classes are {', '.join(SAMPLE_CLASSES)}"
        )
    num_frames = int(num_frames)
    width, height = (int(v) for v in size)
    if num_frames < 2:
        raise ValueError(f"num_frames must be at least 2, got {num_frames}")
    if width < 16 or height < 16:
        raise ValueError(f"size (width, height) must be at least 16×16, got {size}")
    kind, backwards = _CLASS_MOTION[cls]

    # Everything below draws the same numbers in the same order for both classes of a pair.
    background = _background(rng, width, height)
    body, tip = _object_colours(rng, background.reshape(-1, 3).mean(axis=0))
    shape = int(rng.integers(len(_SHAPES)))
    cx, cy, scale, angle = _trajectory(kind, rng, num_frames, width, height)
    # Mild per-frame noise (0..3 levels on a background lowered by 1.5), then the object on top.
    frames = rng.integers(0, 4, size=(num_frames, height, width, 3), dtype=np.uint8)
    frames += np.clip(np.rint(background - 1.5), 0, 252).astype(np.uint8)
    cx, cy, scale, angle = (a.tolist() for a in (cx, cy, scale, angle))
    reach = 1.2  # every shape lies within this radius of its origin, in shape units
    for t in range(num_frames):
        # Only the box around the object is drawn; elsewhere the frame is background.
        r = reach * scale[t] + 2
        x0, x1 = max(int(cx[t] - r), 0), min(int(cx[t] + r) + 1, width)
        y0, y1 = max(int(cy[t] - r), 0), min(int(cy[t] + r) + 1, height)
        if x0 >= x1 or y0 >= y1:
            continue
        # Pixel centres in the object's own frame (rotation by -angle, then scaling).
        dx = np.arange(x0, x1, dtype=np.float32)[None, :] + (0.5 - cx[t])
        dy = np.arange(y0, y1, dtype=np.float32)[:, None] + (0.5 - cy[t])
        c, s, k = math.cos(angle[t]), math.sin(angle[t]), 1.0 / scale[t]
        u = (c * k) * dx + (s * k) * dy
        v = (c * k) * dy - (s * k) * dx
        cover = np.clip(0.5 - _SHAPES[shape](u, v) * scale[t], 0.0, 1.0)[..., None]
        tip_mix = np.clip((u - 0.35) * scale[t] + 0.5, 0.0, 1.0)[..., None]
        colour = body + (tip - body) * tip_mix
        box = frames[t, y0:y1, x0:x1]
        drawn = box.astype(np.float32)
        drawn += (colour - drawn) * cover
        box[...] = drawn + 0.5  # a convex mix of 0..255 values: the cast cannot wrap
    return np.ascontiguousarray(frames[::-1]) if backwards else frames


def _trajectory(kind: str, rng: np.random.Generator, num_frames: int, width: int, height: int):
    """Per-frame centre x, y (pixels), scale (pixels per shape unit) and angle (radians)."""
    t = np.linspace(0.0, 1.0, num_frames)
    ones = np.ones(num_frames)
    if kind in ("move_x", "move_y"):  # forwards: left to right / top to bottom, a little drift
        along, across = (width, height) if kind == "move_x" else (height, width)
        scale = rng.uniform(0.20, 0.28) * height * ones
        travel = rng.uniform(0.45, 0.65) * along
        start = rng.uniform(0.15 * along, 0.85 * along - travel)
        side = rng.uniform(0.35, 0.65) * across
        drift = rng.uniform(-0.10, 0.10) * across
        position, sideways = start + travel * t, side + drift * t
        cx, cy = (position, sideways) if kind == "move_x" else (sideways, position)
        angle = rng.uniform(0.0, 2 * np.pi) * ones
    else:  # "scale", forwards: small to large (3–4 times), geometrically
        small = rng.uniform(0.11, 0.14) * height
        large = rng.uniform(0.40, 0.46) * height
        scale = small * (large / small) ** t
        cx = rng.uniform(0.40, 0.60) * width * ones
        cy = rng.uniform(0.40, 0.60) * height * ones
        angle = rng.uniform(0.0, 2 * np.pi) * ones
    return cx, cy, scale, angle


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """H×W×3 float background: a colour, a linear gradient, smooth blobs and a fixed fine grain."""
    hue, sat, val = rng.uniform(0, 1), rng.uniform(0.0, 0.6), rng.uniform(0.15, 0.85)
    base = np.array(colorsys.hsv_to_rgb(hue, sat, val)) * 255
    ys, xs = np.mgrid[0:height, 0:width] / max(width, height)
    direction = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(direction) * (xs - 0.5) + np.sin(direction) * (ys - 0.5)) * rng.uniform(0, 20)
    coarse = rng.uniform(-1, 1, size=(4, 5))  # smooth texture: a 4×5 grid of values, bilinear
    gy = np.linspace(0, 3, height)
    gx = np.linspace(0, 4, width)
    iy, ix = np.minimum(gy.astype(int), 2), np.minimum(gx.astype(int), 3)
    fy, fx = (gy - iy)[:, None], (gx - ix)[None, :]
    blobs = (
        coarse[iy][:, ix] * (1 - fy) * (1 - fx)
        + coarse[iy + 1][:, ix] * fy * (1 - fx)
        + coarse[iy][:, ix + 1] * (1 - fy) * fx
        + coarse[iy + 1][:, ix + 1] * fy * fx
    ) * rng.uniform(3, 8)
    grain = rng.normal(0, 3.0, size=(height, width, 1))
    image = base + (ramp + blobs)[..., None] + grain
    return image.astype(np.float32)


def _luma(rgb: np.ndarray) -> float:
    return float(rgb @ np.array([0.299, 0.587, 0.114]))


def _object_colours(rng: np.random.Generator, background: np.ndarray):
    """A body and a tip colour, both clearly apart from the background and from each other."""
    for _ in range(1000):
        hue = rng.uniform(0, 1)
        body = np.array(colorsys.hsv_to_rgb(hue, rng.uniform(0.4, 1.0), rng.uniform(0.3, 1.0)))
        tip_hue = (hue + rng.uniform(0.25, 0.75)) % 1.0
        tip = np.array(colorsys.hsv_to_rgb(tip_hue, rng.uniform(0.4, 1.0), rng.uniform(0.3, 1.0)))
        body, tip = body * 255, tip * 255
        if (
            abs(_luma(body) - _luma(background)) >= 60
            and abs(_luma(tip) - _luma(background)) >= 50
            and np.linalg.norm(body - tip) >= 80
        ):
            return body.astype(np.float32), tip.astype(np.float32)
    raise RuntimeError("no contrasting colours found")  # pragma: no cover (p ≈ 0)


# Shapes as signed distance functions in the object's frame: about 2 units long along u, pointing
# to +u (where the tip colour is).


def _box(u, v, u0, u1, v0, v1):
    du = np.maximum(u0 - u, u - u1)
    dv = np.maximum(v0 - v, v - v1)
    outside = np.hypot(np.maximum(du, 0), np.maximum(dv, 0))
    return outside + np.minimum(np.maximum(du, dv), 0)


def _convex(points):
    pts = np.asarray(points, dtype=np.float32)
    edges = np.roll(pts, -1, axis=0) - pts
    normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1)  # outward for clockwise order in (u, v)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    offsets = (normals * pts).sum(axis=1)
    if (normals @ pts.mean(axis=0) - offsets).max() > 0:
        normals, offsets = -normals, -offsets

    def sdf(u, v):
        d = normals[0, 0] * u + normals[0, 1] * v - offsets[0]
        for (nu, nv), off in zip(normals[1:], offsets[1:], strict=True):
            d = np.maximum(d, nu * u + nv * v - off)
        return d

    return sdf


def _bar_and_knob(u, v):
    return np.minimum(_box(u, v, -1.0, 0.45, -0.22, 0.22), np.hypot(u - 0.62, v) - 0.38)


def _l_shape(u, v):
    return np.minimum(_box(u, v, -1.0, 1.0, 0.15, 0.55), _box(u, v, -1.0, -0.5, -0.6, 0.55))


def _t_shape(u, v):
    return np.minimum(_box(u, v, -1.0, 0.6, -0.18, 0.18), _box(u, v, 0.55, 0.95, -0.65, 0.65))


_SHAPES = (
    _convex([(1.0, 0.0), (-0.85, -0.6), (-0.85, 0.6)]),  # arrowhead
    _convex([(1.0, 0.0), (0.15, -0.5), (-1.0, 0.0), (0.15, 0.5)]),  # kite
    _bar_and_knob,
    _l_shape,
    _t_shape,
)
