"""font_families: the font a figure draws class names with has their glyphs, on real fonts."""

import logging

from matplotlib import font_manager

from actionkit.utils.fonts import font_families
from tests._fonts import CJK_NAMES, charmap, needs_cjk_font

NO_GLYPH = "\U0010fffd"  # private use: no font draws it
DEFAULT = "DejaVu Sans"


def test_latin_names_keep_matplotlibs_default_font(caplog):
    with caplog.at_level(logging.WARNING, logger="actionkit.utils.fonts"):
        assert font_families(["brush_hair", "jump → run (0.93)", "clap · t=3"]) == [DEFAULT]
    assert caplog.records == []


@needs_cjk_font
def test_cjk_names_get_an_installed_font_with_every_glyph(caplog):
    with caplog.at_level(logging.WARNING, logger="actionkit.utils.fonts"):
        families = font_families([*CJK_NAMES, "→"])
    assert len(families) == 2 and families[0] != DEFAULT and families[1] == DEFAULT
    first = font_manager.findfont(
        font_manager.FontProperties(family=families[0]), fallback_to_default=False
    )
    assert {ord(c) for c in "".join(CJK_NAMES) + "→"} <= charmap(first)
    assert caplog.records == []


def test_a_character_no_font_has_is_named_in_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="actionkit.utils.fonts"):
        families = font_families(["jump", f"odd{NO_GLYPH}"])
    assert families[0] == DEFAULT
    [record] = caplog.records
    assert record.levelno == logging.WARNING and "U+10FFFD" in record.getMessage()


@needs_cjk_font
def test_glyphs_no_single_font_has_are_spread_over_several(caplog):
    with caplog.at_level(logging.WARNING, logger="actionkit.utils.fonts"):
        families = font_families([*CJK_NAMES, NO_GLYPH])
    assert families[0] == DEFAULT and len(families) >= 2  # DejaVu, then a CJK fallback
    fallback = font_manager.findfont(
        font_manager.FontProperties(family=families[1]), fallback_to_default=False
    )
    assert {ord(c) for c in "跳绳打太极拳拍手坐下"} <= charmap(fallback)
    [record] = caplog.records
    assert "U+10FFFD" in record.getMessage() and "跳" not in record.getMessage()
