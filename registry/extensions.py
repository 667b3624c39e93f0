"""Extensions, created unbound and wired to the app in ``create_app``."""

from __future__ import annotations

from typing import Any

from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

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


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
api = RegistryApi()
