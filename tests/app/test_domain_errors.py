"""Domain errors: their fields, and the one line the CLI and the import reports print for them."""

from __future__ import annotations

from registry.domain_errors import Conflict, Invalid, InvalidCursor, InvalidField, NotFound, describe


def test_invalid_field_names_the_field_in_the_json_error_shape():
    exc = InvalidField("tier", "Must be one of: a, b.")
    assert (exc.status, exc.field, exc.message) == (422, "tier", "Invalid value for tier.")
    assert exc.errors == {"json": {"tier": ["Must be one of: a, b."]}}


def test_invalid_cursor_is_a_query_error():
    exc = InvalidCursor()
    assert exc.message == "Invalid cursor."
    assert exc.errors == {"query": {"cursor": ["Not a cursor this service issued."]}}


def test_describe_flattens_field_errors_else_gives_the_message():
    assert describe(NotFound("No ban 'x'.")) == "No ban 'x'."
    assert describe(Conflict("Refused: cap", {"run": {"id": "r1"}})) == "run: id: r1"
    assert describe(Invalid("Invalid ban.", {"json": {"b": ["two"], "a": ["one"]}})) == "a: one; b: two"
    assert NotFound.status == 404 and Conflict.status == 409
