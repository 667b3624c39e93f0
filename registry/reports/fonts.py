"""A font with CJK glyphs for the PDF, registered with reportlab once per process.

Looked for in order: ``REGISTRY_REPORT_FONT`` (a TrueType .ttf/.ttc file), then WenQuanYi Micro Hei as
Debian's ``fonts-wqy-microhei`` installs it (Apache-2.0 or GPL-3 with the font exception), then the
other TrueType CJK fonts Debian ships. The glyphs used are embedded (subset) in the PDF, so its text
renders and extracts anywhere. Without any of them, reportlab's built-in ``STSong-Light`` CID font is
used: it is not embedded (the reader supplies the glyphs), and a warning says so.
"""

from __future__ import annotations

import logging
from pathlib import Path

from registry.settings import app_settings

log = logging.getLogger(__name__)

CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
FALLBACK = "STSong-Light"
_registered: dict[str, str] = {}


def font_path() -> str | None:
    """Return the TrueType file the PDF embeds, or None when only the CID fallback is left."""
    configured = app_settings().report_font
    if configured:
        return configured
    return next((p for p in CANDIDATES if Path(p).is_file()), None)


def cjk_font() -> str:
    """Register (once) and return the name of the PDF's CJK font."""
    from reportlab.pdfbase import pdfmetrics

    path = font_path()
    key = path or FALLBACK
    if key in _registered:
        return _registered[key]
    if path is None:
        from reportlab.pdfbase.cidfonts import UnicodeCIDFont

        log.warning(
            "no TrueType CJK font found (install fonts-wqy-microhei or set REGISTRY_REPORT_FONT); "
            "the PDF names %s without embedding it",
            FALLBACK,
        )
        pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK))
        _registered[key] = FALLBACK
        return FALLBACK
    from reportlab.pdfbase.ttfonts import TTFont

    name = "RegistryCJK" + str(len(_registered))
    pdfmetrics.registerFont(
        TTFont(name, path, subfontIndex=0) if path.endswith(".ttc") else TTFont(name, path)
    )
    _registered[key] = name
    return name
