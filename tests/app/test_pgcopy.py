"""COPY's text format (registry/pgcopy.py): what the loads write, the index build reads back."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from registry import pgcopy


@given(st.text())
def test_a_field_reads_back_as_written(text):
    written = pgcopy.field(text)
    assert "\t" not in written and "\n" not in written and "\r" not in written
    assert pgcopy.unescape(written) == text


def test_values_in_copy_form():
    assert pgcopy.value(None) == pgcopy.NULL == "\\N"
    assert pgcopy.field(None) == "\\N"
    assert (pgcopy.value(True), pgcopy.value(False), pgcopy.value(7)) == ("t", "f", "7")
    assert pgcopy.value(datetime(2026, 12, 2, 1, 2, 3)) == "2026-12-02 01:02:03"
    assert pgcopy.value("a\\N") == "a\\\\N"
