"""The patient's checklist as a PDF, made on the server (fpdf2) from the same text as every channel's checklist.

Fonts: DejaVu Sans (Latin, Cyrillic, Arabic) with Noto Sans CJK as the fallback for Chinese, from
Debian's fonts-dejavu-core and fonts-noto-cjk (`./run` and `./test` install them). Text shaping
(HarfBuzz, through uharfbuzz) joins Arabic letters and lays Arabic lines out right to left. These are
the simplest pieces that render zh and ar correctly: fpdf2's built-in fonts are Latin-1 only, and a
browser's print-to-PDF is not something the server can run for a patient.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

from fpdf import FPDF

from bot.web.pages import direction
from dialogs.checklist import checklist_text

FONT_FOLDERS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/opentype/noto"),
                Path("/usr/share/fonts/truetype/noto"), Path("/usr/local/share/fonts"))
REGULAR, BOLD, CJK = "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "NotoSansCJK-Regular.ttc"
CJK_SIMPLIFIED = 2        # index of "Noto Sans CJK SC" inside the collection
STUDY_LINE = re.compile(r"^\d+\. ")
LINE_HEIGHT = 6.0


class FontsMissing(RuntimeError):
    """The fonts a PDF needs are not installed (Debian: fonts-dejavu-core, fonts-noto-cjk)."""


@functools.cache
def fonts() -> dict[str, Path]:
    found = {}
    for name in (REGULAR, BOLD, CJK):
        found[name] = next((folder / name for folder in FONT_FOLDERS if (folder / name).is_file()), None)
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise FontsMissing(f"fonts not installed: {', '.join(missing)}")
    return found


def checklist_pdf(report: dict, locale: str) -> bytes:
    paths = fonts()
    rtl = direction(locale) == "rtl"
    pdf = FPDF(format="A4")
    pdf.set_margins(18, 16, 18)
    pdf.set_auto_page_break(True, margin=16)
    pdf.add_font("Body", "", str(paths[REGULAR]))
    pdf.add_font("Body", "B", str(paths[BOLD]))
    pdf.add_font("CJK", "", str(paths[CJK]), collection_font_number=CJK_SIMPLIFIED)
    pdf.add_font("CJK", "B", str(paths[CJK]), collection_font_number=CJK_SIMPLIFIED)
    pdf.set_fallback_fonts(["CJK"])
    pdf.set_text_shaping(use_shaping_engine=True, direction="rtl" if rtl else "ltr")
    pdf.set_title("ScanPass")
    pdf.add_page()
    lines = checklist_text(report, locale).strip().splitlines()
    for number, line in enumerate(lines):
        text = line.strip()
        if not text:
            pdf.ln(LINE_HEIGHT / 2)
            continue
        indent = (len(line) - len(line.lstrip(" "))) * 1.6
        heading = number == 0 or (indent == 0 and not text.startswith(("*", "-")) and _is_heading(lines, number))
        pdf.set_font("Body", "B" if heading or STUDY_LINE.match(text) else "", 15 if number == 0 else 11)
        width = pdf.epw - indent
        pdf.set_x(pdf.l_margin if rtl else pdf.l_margin + indent)
        pdf.multi_cell(width, LINE_HEIGHT + (2 if number == 0 else 0), text, align="R" if rtl else "L",
                       new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _is_heading(lines: list[str], number: int) -> bool:
    """A section title ("What to bring"): an unindented line followed by an indented list."""
    following = lines[number + 1] if number + 1 < len(lines) else ""
    return following.startswith("   -")
