"""Reading JSON Lines for the bulk imports: one document per line, errors as messages, not exceptions."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.pool import AsyncResult, Pool
from typing import Any, TypeVar

from registry.extensions import text_problem

T = TypeVar("T")

UNASSIGNED_PHONE_WARNING = (
    "phone: kept, but libphonenumber does not know it as an assigned number (possible for its region)"
)


def parse_line(line: str) -> tuple[Any, str | None]:
    """Parse one line; return (document, None) or (None, a message naming what is wrong)."""
    if not line.isascii():
        try:
            line.encode("utf-8")
        except UnicodeEncodeError as exc:
            # Bytes that are not UTF-8 reach here as lone surrogates (see cli_util.open_input).
            return None, f"not UTF-8: invalid byte at column {exc.start + 1}"
    try:
        doc = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, f"not JSON: {exc.msg} at column {exc.colno}"
    except RecursionError:
        return None, "not JSON: nested too deeply"
    # PostgreSQL cannot store NUL in text, UTF-8 cannot encode a lone surrogate ("\\ud800"), and a
    # deep document is no import record: refuse the line here rather than fail its whole batch. The
    # walk is only needed when the line has an escape or nesting that could produce one of them.
    if "\\u" in line or "\x00" in line or line.count("[") + line.count("{") > 8:
        found = text_problem(doc)
        if found:
            where, problem = found
            return None, f"{where}: {problem[0].lower()}{problem[1:].rstrip('.')}"
    return doc, None


def parse_numbered(numbered: Iterable[tuple[int, str]]) -> Iterator[tuple[int, Any, str | None]]:
    """Parse numbered lines (from ``numbered_chunks``): yield (number, document or None, error or None)."""
    for number, line in numbered:
        yield (number, *parse_line(line))


def flatten_errors(messages: Any) -> str:
    """Render nested validation messages as one line for an import report ("field: message; ...")."""
    if isinstance(messages, dict):
        return "; ".join(
            f"{k}: {flatten_errors(v)}" for k, v in sorted(messages.items(), key=lambda kv: str(kv[0]))
        )
    if isinstance(messages, list):
        return " ".join(flatten_errors(m) for m in messages)
    return str(messages)


def numbered_chunks(lines: Iterable[str], size: int) -> Iterator[list[tuple[int, str]]]:
    """Yield the non-blank lines with their 1-based numbers, ``size`` at a time (the imports' batches)."""
    chunk: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            chunk.append((number, line))
            if len(chunk) >= size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def in_order(
    pool: Pool, fn: Callable[..., T], jobs: Iterable[tuple[Any, ...]], *, window: int
) -> Iterator[T]:
    """Run ``fn(*job)`` for each job in ``pool``; yield results in job order, ``window`` at most in flight.

    The imports' parallel preparing. Not ``imap``: its feeder thread reads the whole file ahead and
    buffers every prepared chunk when the database is the slower side.
    """
    pending: deque[AsyncResult[T]] = deque()
    for job in jobs:
        pending.append(pool.apply_async(fn, job))
        if len(pending) >= window:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()
