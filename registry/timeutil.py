"""Time helpers: the service stores naive UTC and speaks ISO 8601 with a zone."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Return the current time as naive UTC, the form stored in the database."""
    return datetime.now(UTC).replace(tzinfo=None)


def to_naive_utc(value: datetime) -> datetime:
    """Convert an aware datetime to naive UTC (naive input is taken as UTC already)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def to_aware(value: datetime | None) -> datetime | None:
    """Attach UTC to a stored naive datetime for output."""
    return None if value is None else value.replace(tzinfo=UTC)
