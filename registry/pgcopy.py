"""PostgreSQL's COPY text format, for the bulk loads (bans, accounts, audit entries) and the index build.

One field is written with ``field`` (text) or ``value`` (any column value); rows are tab-separated
fields ending in a newline, and ``copy_in`` sends a buffer of them to a table. ``unescape`` reads a
field of ``COPY ... TO STDOUT`` back.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

# Below this many rows a plain executemany costs less than setting up COPY.
COPY_MIN_ROWS = 200
# A NULL field.
NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r]")
_UNESCAPES = {"\\\\": "\\", "\\t": "\t", "\\n": "\n", "\\r": "\r", "\\b": "\b", "\\f": "\f", "\\v": "\v"}


def field(text: str | None) -> str:
    """Return one text field as COPY reads it: backslash, tab, newline and CR escaped; None as NULL."""
    if text is None:
        return NULL
    return text.translate(_ESCAPES) if _NEEDS_ESCAPE.search(text) else text


def value(v: Any) -> str:
    """Return any column value as a COPY field: text escaped, booleans t/f, times in ISO form, None NULL."""
    if v is None:
        return NULL
    if type(v) is str:
        return field(v)
    if v is True:
        return "t"
    if v is False:
        return "f"
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    return field(str(v))


def unescape(text: str) -> str:
    """Undo COPY's text-format escapes in one field (backslash, tab, newline, other control letters)."""
    if "\\" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            pair = text[i : i + 2]
            out.append(_UNESCAPES.get(pair, pair[1]))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def copy_in(session: Any, loads: Sequence[tuple[str, str, io.StringIO]]) -> None:
    """Send each (table, "col, col, ...", buffer of rows) with one COPY FROM STDIN; empty buffers are skipped.

    The session is flushed first, so the rows land after what the ORM has pending, in the same transaction.
    """
    session.flush()
    cursor = session.connection().connection.cursor()
    try:
        for table, columns, buffer in loads:
            if buffer.tell():
                buffer.seek(0)
                cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", buffer)
    finally:
        cursor.close()
