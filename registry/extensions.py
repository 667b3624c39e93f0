"""Extensions, created unbound and wired to the app in ``create_app``."""

from __future__ import annotations

from typing import Any

from flask_migrate import Migrate
from flask_smorest import Api, Blueprint
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase
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
    """flask-smorest's Api, with a ``message`` in every error so callers can always show one."""

    def handle_http_exception(self, error: Any) -> Any:
        payload, code, headers = super().handle_http_exception(error)
        if "message" not in payload:
            if code in (400, 422) and "errors" in payload:
                fields = _field_names(payload["errors"])
                payload["message"] = (
                    f"Invalid request: check {', '.join(fields)}." if fields else "Invalid request."
                )
            else:
                payload["message"] = error.description or error.name
        return payload, code, headers


def _field_names(errors: Any) -> list[str]:
    names: list[str] = []
    if isinstance(errors, dict):
        for location in errors.values():
            if isinstance(location, dict):
                names.extend(str(k) for k in location)
    return sorted(names)


def nul_path(value: Any, path: str = "") -> str | None:
    """Return the JSON path of the first string (key or value) holding a NUL character, if any."""
    if isinstance(value, str):
        return path or "$" if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return here
            found = nul_path(item, here)
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = nul_path(item, f"{path}.{i}" if path else str(i))
            if found:
                return found
    return None


class RegistryParser(FlaskParser):
    """webargs' parser, refusing NUL characters in JSON bodies.

    PostgreSQL cannot store a NUL in text; without this a name like "a\u0000b" would reach the
    database and fail there, as a 500 instead of a 422 naming the field.
    """

    def _raw_load_json(self, req: Any) -> Any:
        data = super()._raw_load_json(req)
        where = nul_path(data)
        if where:
            webargs_abort(
                422,
                messages={"json": {where: ["Must not contain NUL characters."]}},
                message=f"Invalid value for {where}.",
            )
        return data


Blueprint.ARGUMENTS_PARSER = RegistryParser()

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
api = RegistryApi()
