"""Fonts that have the glyphs of the text a figure draws (class names in any script).

matplotlib draws with DejaVu Sans, which has no CJK glyphs: class names such as ``跳绳`` come
out as boxes. :func:`font_families` looks at the characters to draw and returns a font family
list, for ``fontfamily=``, whose first font has every one of them when an installed font does
(``fonts-noto-cjk`` or ``fonts-wqy-microhei`` on Debian and Ubuntu), and logs a warning naming
the characters that no installed font can draw.

matplotlib is imported only when a function runs.
"""

from __future__ import annotations

import functools
import logging
import unicodedata
from collections.abc import Iterable

__all__ = ["font_families"]

log = logging.getLogger(__name__)

PREFERRED_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK TC", "Noto Sans CJK KR",
    "Noto Sans CJK HK", "Source Han Sans SC", "Source Han Sans", "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei", "Droid Sans Fallback", "Noto Sans", "Microsoft YaHei", "SimHei",
    "PingFang SC", "Hiragino Sans", "Yu Gothic", "Malgun Gothic", "Arial Unicode MS",
    "Nirmala UI", "Segoe UI",
)  # fmt: skip
"""Tried first, in this order, when DejaVu Sans lacks a glyph; then every other installed font."""

PLACEHOLDER_FAMILIES = ("Last Resort",)
"""Fonts whose "glyphs" are boxes for whole Unicode blocks (matplotlib ships one): never chosen."""


def _needed(texts: Iterable[str]) -> frozenset[str]:
    """The characters of ``texts`` that need a glyph (not control or format characters)."""
    return frozenset(
        c for text in texts for c in str(text) if unicodedata.category(c) not in ("Cc", "Cf")
    )


@functools.cache
def _charmap(path: str, index: int) -> frozenset[int]:
    """The code points face ``index`` of the font file ``path`` has glyphs for."""
    from matplotlib.ft2font import FT2Font

    try:
        return frozenset(FT2Font(path, face_index=index).get_charmap())
    except (OSError, RuntimeError, ValueError):  # unreadable or not a font after all
        return frozenset()


def _default() -> tuple[str, frozenset[int]]:
    """The family matplotlib draws with by default (``rcParams``; DejaVu Sans) and its charmap."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    found = font_manager.findfont(font_manager.FontProperties())
    index = int(getattr(found, "face_index", 0))
    return FT2Font(str(found), face_index=index).family_name, _charmap(str(found), index)


def _faces() -> list[tuple[str, str, int]]:
    """``(family, path, face index)`` of each installed family, preferred ones first.

    One face per family: the upright one closest to regular weight.
    """
    from matplotlib import font_manager

    best: dict[str, tuple[tuple[int, int], str, int]] = {}
    for entry in font_manager.fontManager.ttflist:
        if entry.name.startswith(PLACEHOLDER_FAMILIES):
            continue
        weight = entry.weight if isinstance(entry.weight, int) else 400
        rank = (entry.style != "normal", abs(weight - 400))
        if entry.name not in best or rank < best[entry.name][0]:
            best[entry.name] = (rank, entry.fname, int(getattr(entry, "index", 0)))
    order = {name: i for i, name in enumerate(PREFERRED_FAMILIES)}
    names = sorted(best, key=lambda n: (order.get(n, len(order)), n))
    return [(name, best[name][1], best[name][2]) for name in names]


_scanned = False


def _add_new_system_fonts() -> bool:
    """Register fonts installed since matplotlib's font cache was built; True if any was new.

    matplotlib lists the system fonts once and caches the list, so a font package installed
    later is unknown to it until the cache is rebuilt. This runs at most once per process.
    """
    global _scanned
    if _scanned:
        return False
    _scanned = True
    from matplotlib import font_manager

    known = {entry.fname for entry in font_manager.fontManager.ttflist}
    added = False
    for path in font_manager.findSystemFonts():
        if path not in known and not path.lower().endswith((".afm", ".pfb", ".pfa")):
            try:
                font_manager.fontManager.addfont(path)
                added = True
            except (OSError, RuntimeError, ValueError):
                log.debug("cannot read font %s", path)
    return added


def _covering(codes: frozenset[int]) -> str | None:
    for name, path, index in _faces():
        if codes <= _charmap(path, index):
            return name
    return None


def font_families(texts: Iterable[str]) -> list[str]:
    """A font family list that draws every character of ``texts``, for ``fontfamily=``.

    Args:
        texts: The strings a figure will draw (class names, titles).

    Returns:
        ``[D]`` when ``D``, the font matplotlib draws with by default (DejaVu Sans unless
        ``rcParams`` say otherwise), has every glyph; else ``[F, D]`` with
        ``F`` an installed font that has them all (CJK fonts first: Noto Sans CJK, WenQuanYi,
        Droid Sans Fallback...); else DejaVu Sans followed by the fonts that have some of the
        missing glyphs (matplotlib falls back along the list glyph by glyph), with a warning
        logged that names the characters no installed font has.
    """
    codes = frozenset(map(ord, _needed(texts)))
    default, default_charmap = _default()
    if codes <= default_charmap:
        return [default]
    found = _covering(codes)
    if found is None and _add_new_system_fonts():
        found = _covering(codes)
    if found is not None:
        return [found, default]
    families, missing = [default], codes - default_charmap
    faces = [(name, _charmap(path, index)) for name, path, index in _faces()]
    while missing:
        name, charmap = max(faces, key=lambda face: len(missing & face[1]), default=("", set()))
        if not missing & charmap:
            break
        families.append(name)
        missing -= charmap
    if missing:
        shown = ", ".join(f"{chr(c)!r} (U+{c:04X})" for c in sorted(missing))
        log.warning(
            "no installed font has a glyph for %s: they are drawn as boxes "
            "(install a font that has them: fonts-noto-cjk for Chinese, Japanese and Korean, "
            "fonts-noto-core for most other scripts)",
            shown,
        )
    return families
