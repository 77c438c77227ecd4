"""Drawing a prediction onto a frame: the label and its score in a box, in a font that has its
glyphs (class names in any script)."""

from __future__ import annotations

import functools

import numpy as np

from actionkit.utils.fonts import font_families

__all__ = ["draw_label"]


@functools.cache
def _font(families: tuple[str, ...], size: int):
    from matplotlib import font_manager
    from PIL import ImageFont

    path = font_manager.findfont(font_manager.FontProperties(family=list(families)))
    return ImageFont.truetype(path, size)


def draw_label(image: np.ndarray, text: str) -> np.ndarray:
    """A copy of ``image`` (``H×W×3`` uint8 RGB) with ``text`` in a dark box at the top left."""
    from PIL import Image, ImageDraw

    canvas = Image.fromarray(np.ascontiguousarray(image))
    size = max(10, canvas.height // 18)
    font = _font(tuple(font_families([text])), size)
    draw = ImageDraw.Draw(canvas)
    left, top, right, bottom = draw.textbbox((size // 2, size // 3), text, font=font)
    pad = max(2, size // 5)
    draw.rectangle((left - pad, top - pad, right + pad, bottom + pad), fill=(0, 0, 0))
    draw.text((size // 2, size // 3), text, fill=(255, 255, 255), font=font)
    return np.asarray(canvas)
