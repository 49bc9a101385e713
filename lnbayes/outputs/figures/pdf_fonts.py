"""Embedding fonts in PDFs once per font rather than once per file (speed of saving figures).

The house style embeds fonts as TrueType (``pdf.fonttype`` 42, for journals). For every PDF,
matplotlib subsets each font to the glyphs that file uses with fontTools
(``matplotlib.backends._backend_pdf_ps.get_glyphs_subset``), and that was more than half the
time of saving a report's figures: ~0.2 s per font per file, two fonts (regular, bold) per file.

:func:`shared_font_subsets` subsets each font instead to a fixed superset, :data:`BASE_CHARS`
plus whatever a file uses beyond it, and keeps the result for the duration of the block: a
report's PDFs then share one subset per font. The returned glyph index map still maps every
requested glyph to its index in the (larger) subset, which is all matplotlib's PDF writer reads
from it (its CIDToGIDMap and widths), so each PDF draws exactly the same glyphs. Each file's
embedded font depends only on the glyphs that file uses, not on what was saved before it.

If matplotlib's private subsetting function is not there, or its result has other fields (a
future version), nothing changes.
"""

from __future__ import annotations

from contextlib import contextmanager
from io import BytesIO
from typing import Iterator

BASE_CHARS = (
    "".join(chr(c) for c in range(32, 127))  # printable ASCII
    + "\u00a0\u00b0\u00b1\u00b2\u00b7\u00d7\u2013\u2014\u2018\u2019\u201c\u201d\u2026\u2032"
    + "\u2212\u2248\u2260\u2264\u2265\u221e\u2192\u2190\u2191\u2193\u2194"
    + "\u03b1\u03b2\u03b3\u03b4\u03b5\u03b8\u03bb\u03bc\u03c0\u03c3\u03c4\u03c6\u03c7\u03c9"
    + "\u0394\u03a3\u03a6"
    + "\ufb00\ufb01\ufb02\ufb03\ufb04"  # ligatures ff, fi, fl, ffi, ffl (text is shaped)
)
"""Characters whose glyphs every embedded subset holds (those of a font that has them): ASCII,
and the typographic signs and Greek letters figures use (minus sign, dashes, multiplication
sign, inequalities, arrows, mu, sigma, ...) and the Latin ligatures."""


class _SavedFont:
    """The subset font as saved bytes; matplotlib only calls ``save`` on it
    (``_backend_pdf_ps.font_as_file``)."""

    def __init__(self, data: bytes):
        self._data = data

    def save(self, file, reorderTables=False):  # noqa: N803 (fontTools' keyword)
        file.write(self._data)


def _base_glyphs(fontfile) -> frozenset[int]:
    """Glyph indices of :data:`BASE_CHARS` in the font (characters it lacks left out)."""
    from matplotlib import font_manager

    charmap = font_manager.get_font(fontfile).get_charmap()
    return frozenset(charmap[ord(c)] for c in BASE_CHARS if ord(c) in charmap)


@contextmanager
def shared_font_subsets() -> Iterator[None]:
    """For the duration of the block, subset each font once to a fixed superset of glyphs."""
    try:
        from matplotlib.backends import _backend_pdf_ps as pdf_ps
    except ImportError:
        yield
        return
    original = getattr(pdf_ps, "get_glyphs_subset", None)
    results = getattr(pdf_ps, "SubsetResults", None)
    if original is None or getattr(results, "_fields", None) != ("font", "glyph_index_map"):
        yield
        return
    cache: dict = {}
    bases: dict = {}

    @contextmanager
    def get_glyphs_subset(fontfile, glyphs):
        font_key = (str(fontfile), getattr(fontfile, "face_index", 0))
        if font_key not in bases:
            bases[font_key] = _base_glyphs(fontfile)
        wanted = bases[font_key] | frozenset(int(g) for g in glyphs)
        key = (font_key, wanted)
        if key not in cache:
            with original(fontfile, set(wanted)) as subset:
                file = BytesIO()
                subset.font.save(file, reorderTables=False)
                cache[key] = (file.getvalue(), dict(subset.glyph_index_map))
        data, index_map = cache[key]
        yield results(_SavedFont(data), dict(index_map))

    pdf_ps.get_glyphs_subset = get_glyphs_subset
    try:
        yield
    finally:
        pdf_ps.get_glyphs_subset = original
