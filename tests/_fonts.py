"""Font checks for the figure tests: is a CJK font installed, has a drawn text its glyphs."""

from __future__ import annotations

import functools

import pytest

CJK_NAMES = ["跳绳", "jump", "打太极拳", "拍手", "wave_hands", "坐下"]
"""Six class names in Chinese and English."""

CJK_FONT_PACKAGE = "fonts-wqy-microhei"
"""The Debian package CI installs so that a font with the glyphs of :data:`CJK_NAMES` exists."""


def charmap(font_path) -> set[int]:
    """The code points the font ``font_path`` (a ``findfont`` answer or a file) has glyphs for."""
    from matplotlib.ft2font import FT2Font

    index = int(getattr(font_path, "face_index", 0))
    return set(FT2Font(str(font_path), face_index=index).get_charmap())


@functools.cache
def system_font_has(text: str) -> bool:
    """Whether an installed system font (matplotlib's own excluded) has every glyph of ``text``."""
    from matplotlib import font_manager

    for path in font_manager.findSystemFonts():
        try:
            if {ord(c) for c in text} <= charmap(path):
                return True
        except (OSError, RuntimeError, ValueError):
            continue
    return False


needs_cjk_font = pytest.mark.skipif(
    not system_font_has("".join(CJK_NAMES) + "→·"),
    reason=f"no CJK font installed (apt-get install {CJK_FONT_PACKAGE})",
)


def drawn_font_has_every_glyph(text) -> bool:
    """Whether the font matplotlib picks for the Text ``text`` has a glyph for each character."""
    from matplotlib import font_manager

    found = font_manager.findfont(text.get_fontproperties(), fallback_to_default=False)
    return {ord(c) for c in text.get_text() if not c.isspace()} <= charmap(found)
