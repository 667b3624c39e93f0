"""Extensions, created unbound and wired to the app in ``create_app``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import marshmallow as ma
from flask_migrate import Migrate
from flask_smorest import Api, Blueprint
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, Table
from sqlalchemy.orm import DeclarativeBase
from webargs.core import is_json
from webargs.flaskparser import FlaskParser
from webargs.flaskparser import abort as webargs_abort

# Named constraints keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class RegistryApi(Api):  # type: ignore[misc]
    """flask-smorest's Api, with a ``message`` and an ``errors`` object in every error: one shape to parse."""

    def handle_http_exception(self, error: Any) -> Any:
        payload, code, headers = super().handle_http_exception(error)
        omitted = 0
        if isinstance(payload.get("errors"), dict):
            payload["errors"], omitted = cap_errors(payload["errors"])
        if "message" not in payload:
            if code in (400, 422) and "errors" in payload:
                fields = _field_names(payload["errors"])
                more = f" and {omitted} more" if omitted else ""
                payload["message"] = (
                    f"Invalid request: check {', '.join(fields)}{more}." if fields else "Invalid request."
                )
            else:
                payload["message"] = error.description or error.name
        payload.setdefault("errors", {})
        return payload, code, headers


# A body of 50,000 unknown fields would otherwise answer with 50,000 messages (1.7 MB).
MAX_ERROR_FIELDS = 20


def cap_errors(errors: dict[str, Any], limit: int = MAX_ERROR_FIELDS) -> tuple[dict[str, Any], int]:
    """Keep at most ``limit`` fields per level of a validation-error tree; return it and how many went."""
    omitted = 0

    def cap(node: Any, depth: int) -> Any:
        nonlocal omitted
        if not isinstance(node, dict):
            return node
        # The top level is the location ("json", "query"): its fields count together.
        if depth == 0:
            kept: dict[str, Any] = {}
            room = limit
            for location, fields in node.items():
                if isinstance(fields, dict):
                    items = sorted(fields.items(), key=lambda kv: str(kv[0]))
                    omitted += max(0, len(items) - room)
                    kept[location] = {k: cap(v, depth + 2) for k, v in items[: max(room, 0)]}
                    room -= min(len(items), max(room, 0))
                else:
                    kept[location] = fields
            return kept
        items = list(node.items())
        omitted += max(0, len(items) - limit)
        return {k: cap(v, depth + 1) for k, v in items[:limit]}

    return cap(errors, 0), omitted


def _field_names(errors: Any) -> list[str]:
    names: list[str] = []
    if isinstance(errors, dict):
        for location in errors.values():
            if isinstance(location, dict):
                names.extend(str(k) for k in location)
    return sorted(names)


# Real bodies are a few levels deep; deeper ones are refused before anything recurses into them.
MAX_JSON_DEPTH = 32


def text_problem(value: Any) -> tuple[str, str] | None:
    """Return (JSON path, message) for the first string no database or hash can take, if any.

    Refused: NUL characters (PostgreSQL cannot store them) and lone UTF-16 surrogates such as a
    JSON "\\ud800" (they cannot be encoded as UTF-8, so hashing or storing them fails). Walks
    iteratively and reports nesting deeper than MAX_JSON_DEPTH as a problem of its own.
    """
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return path or "$", f"Nested more than {MAX_JSON_DEPTH} levels deep."
        if isinstance(item, str):
            problem = _string_problem(item)
            if problem:
                return path or "$", problem
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                here = f"{path}.{key}" if path else str(key)
                problem = _string_problem(str(key))
                if problem:
                    return here, problem
                children.append((child, here, depth + 1))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(
                (child, f"{path}.{i}" if path else str(i), depth + 1)
                for i, child in reversed(list(enumerate(item)))
            )
    return None


def _string_problem(text: str) -> str | None:
    if "\x00" in text:
        return "Must not contain NUL characters."
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "Must not contain lone surrogate characters (invalid Unicode)."
    return None


def _plainly_safe(raw: bytes) -> bool:
    """Tell whether a JSON body that parsed can hold no problem text_problem would find.

    webargs decodes the body as strict UTF-8 and json.loads refuses raw control characters, so a NUL
    or a lone surrogate can only come from a ``\\u`` escape; and nesting cannot be deeper than the
    number of brackets. Bodies without either skip the walk (nearly every real request).
    """
    return b"\\u" not in raw and b"\x00" not in raw and raw.count(b"{") + raw.count(b"[") <= MAX_JSON_DEPTH


class RegistryParser(FlaskParser):
    """webargs' parser, refusing bodies that would otherwise fail later as a 500 or be ignored.

    - A body sent without a JSON Content-Type is a 415: webargs would silently read it as empty,
      so ``curl -d '{"dry_run": true}' /v1/sweeps`` would run a real sweep.
    - JSON nested so deep that the decoder gives up is a 400, not a RecursionError.
    - NUL characters and lone surrogates are a 422 naming the field: PostgreSQL cannot store the
      first, UTF-8 cannot encode the second.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._schemas: dict[type[ma.Schema], ma.Schema] = {}

    def _get_schema(self, argmap: Any, req: Any) -> ma.Schema:
        # webargs builds a new instance of a Schema class on every request (deep-copying every field:
        # about 30 us for the check's schema). Our schemas keep no per-call state, so one instance per
        # class serves every request.
        if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
            schema = self._schemas.get(argmap)
            if schema is None:
                schema = self._schemas[argmap] = argmap()
            return schema
        return super()._get_schema(argmap, req)

    def _raw_load_json(self, req: Any) -> Any:
        if not is_json(req.mimetype) and req.get_data(cache=True):
            webargs_abort(
                415,
                messages={"json": ["Send the body as JSON with Content-Type: application/json."]},
                message=f"Unsupported Content-Type {req.mimetype or '(none)'!r}; use application/json.",
            )
        try:
            data = super()._raw_load_json(req)
        except RecursionError:
            webargs_abort(
                400,
                messages={"json": [f"Nested more than {MAX_JSON_DEPTH} levels deep."]},
                message="Invalid JSON body: nested too deeply.",
            )
        found = None if _plainly_safe(req.get_data(cache=True)) else text_problem(data)
        if found:
            where, problem = found
            webargs_abort(422, messages={"json": {where: [problem]}}, message=f"Invalid value for {where}.")
        return data


Blueprint.ARGUMENTS_PARSER = RegistryParser()

db = SQLAlchemy(model_class=Base)

# The models' base class. At run time it is ``db.Model``: the class Flask-SQLAlchemy builds from Base
# (sharing its metadata and registry) with its own mixins. ``db.Model`` is an instance attribute, which
# mypy cannot take as a base class, so mypy sees the same class spelled out: SQLAlchemy's typed
# declarative base plus Flask-SQLAlchemy's Model. Every model subclasses this, so its ``Mapped[...]``
# columns are checked and a misspelled attribute is an error.
if TYPE_CHECKING:
    from flask_sqlalchemy.model import Model as _FlaskModel

    class Model(Base, _FlaskModel):
        __abstract__ = True
        # Every model maps one table (none maps a join or a select), so ``Model.__table__`` is a Table.
        __table__: ClassVar[Table]

else:
    Model = db.Model
migrate = Migrate()
api = RegistryApi()
