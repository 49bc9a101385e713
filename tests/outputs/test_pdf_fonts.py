"""lnbayes.outputs.figures.pdf_fonts: one font subset per font for many PDFs, with every
character still mapped to its own glyph."""

from __future__ import annotations

import io
import re
import zlib

import pytest

from lnbayes.outputs.figures import pdf_fonts
from lnbayes.outputs.figures.style import house_style

TEXTS = ("Odds ratio 0.5 \u2212 2 \u2264 P(benefit) = 97%", "fi ffl \u03a9 \u00b5 Sceptical (robust)")
"""Two figures' text: different glyph sets, and Omega and the micro sign outside the base set."""


def _figure(text):
    import matplotlib.pyplot as plt

    with house_style():
        fig = plt.figure(figsize=(3, 1))
        fig.text(0.1, 0.5, text)
        fig.text(0.1, 0.2, text, weight="bold")
    return fig


def _pdf(fig) -> bytes:
    import matplotlib as mpl

    buf = io.BytesIO()
    with house_style(), mpl.rc_context({"pdf.compression": 0}):
        fig.savefig(buf, format="pdf")
    return buf.getvalue()


def _objects(pdf: bytes) -> dict[int, tuple[bytes, bytes | None]]:
    """Object number -> (dictionary text, stream bytes or None), of an uncompressed PDF
    (font files are Flate-compressed whatever ``pdf.compression`` says)."""
    out = {}
    for m in re.finditer(rb"(\d+) 0 obj\s*(.*?)endobj", pdf, re.S):
        body = m.group(2)
        stream = None
        s = re.search(rb"stream\r?\n", body)
        if s:
            head = body[:s.start()]
            length = int(re.search(rb"/Length (\d+)", head).group(1))
            stream = body[s.end():s.end() + length]
            if b"/FlateDecode" in head:
                stream = zlib.decompress(stream)
            body = head
        out[int(m.group(1))] = (body, stream)
    return out


def _ref(body: bytes, key: bytes) -> int:
    return int(re.search(rb"/" + key + rb"\s*\[?\s*(\d+) 0 R", body).group(1))


def _drawn_glyphs(pdf: bytes) -> dict[str, set[tuple[str, str]]]:
    """Per font (its subsets merged): (characters, glyph name) for each character code of the
    file, read through the PDF's ToUnicode map, CIDToGIDMap and the embedded TrueType font."""
    from fontTools.ttLib import TTFont

    objs = _objects(pdf)
    out = {}
    for body, _ in objs.values():
        if b"/Subtype /Type0" not in body:
            continue
        name = re.search(rb"/BaseFont /(\S+)", body).group(1).decode()
        tounicode = objs[_ref(body, b"ToUnicode")][1]
        cid_font = objs[_ref(body, b"DescendantFonts")][0]
        cid_to_gid = objs[_ref(cid_font, b"CIDToGIDMap")][1]
        descriptor = objs[_ref(cid_font, b"FontDescriptor")][0]
        font = TTFont(io.BytesIO(objs[_ref(descriptor, b"FontFile2")][1]))
        order = font.getGlyphOrder()
        pairs = []
        for start, _end, values in re.findall(rb"<([0-9a-f]+)> <([0-9a-f]+)> \[([^\]]*)\]",
                                              tounicode):
            for k, value in enumerate(re.findall(rb"<([0-9a-f]+)>", values)):
                cid = int(start, 16) + k
                gid = int.from_bytes(cid_to_gid[2 * cid:2 * cid + 2], "big")
                pairs.append((bytes.fromhex(value.decode()).decode("utf-16be"), order[gid]))
        out.setdefault(name.split("+", 1)[1], set()).update(pairs)
    return out


def _expected_name(font_name: str, char: str) -> str:
    """The glyph name of ``char`` in the full font file (ligatures: their own glyph)."""
    from fontTools.ttLib import TTFont
    from matplotlib import font_manager

    path = font_manager.findfont(font_manager.FontProperties(
        family="DejaVu Sans", weight="bold" if "Bold" in font_name else "normal"))
    font = TTFont(path)
    return font.getBestCmap()[ord(char)] if len(char) == 1 else None


@pytest.mark.heavy
def test_shared_subsets_map_every_character_to_its_own_glyph():
    """Each character code of each PDF leads (CIDToGIDMap, embedded font) to the glyph the full
    font has for the character (ToUnicode), as with matplotlib's own per-file subsets."""
    for text in TEXTS:
        fig = _figure(text)
        plain = _drawn_glyphs(_pdf(fig))
        with pdf_fonts.shared_font_subsets():
            shared = _drawn_glyphs(_pdf(fig))
        assert set(shared) == set(plain) and len(shared) == 2
        for name, pairs in shared.items():
            assert pairs == plain[name]
            chars = {c for c, _ in pairs}
            assert set(text.replace(" ", "")) - {"f", "i", "l"} <= chars
            for char, glyph in pairs:
                expected = _expected_name(name, char)
                if expected is not None:
                    assert glyph == expected, (name, char)


def test_one_subset_per_font_for_many_files(monkeypatch):
    """Two files with different glyphs inside the base set share the subsets; the original
    function is back after the block."""
    from fontTools import subset
    from matplotlib.backends import _backend_pdf_ps

    calls = []
    original = subset.Subsetter.subset
    monkeypatch.setattr(subset.Subsetter, "subset",
                        lambda self, font: calls.append(1) or original(self, font))
    before = _backend_pdf_ps.get_glyphs_subset
    figs = [_figure("Flat prior 0.25"), _figure("Sceptical \u2212 99%")]
    with pdf_fonts.shared_font_subsets():
        for fig in figs:
            _pdf(fig)
    assert len(calls) == 2  # regular and bold, once each
    assert _backend_pdf_ps.get_glyphs_subset is before
    calls.clear()
    for fig in figs:
        _pdf(fig)
    assert len(calls) == 4


@pytest.mark.parametrize("char", ["\u2212", "\u2264", "\u00d7", "\ufb01"])
def test_base_glyphs_cover_the_signs_figures_use(char):
    from matplotlib import font_manager

    path = font_manager.findfont(font_manager.FontProperties(family="DejaVu Sans"))
    charmap = font_manager.get_font(path).get_charmap()
    assert charmap[ord(char)] in pdf_fonts._base_glyphs(path)
