"""Time helpers: the service stores naive UTC and speaks ISO 8601 with a zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import overload

# No run of this service can mean a time before this: anything earlier is a typo ("0001-01-01").
EARLIEST_AS_OF = datetime(1970, 1, 1)


def utcnow() -> datetime:
    """Return the current time as naive UTC, the form stored in the database."""
    return datetime.now(UTC).replace(tzinfo=None)


def to_naive_utc(value: datetime) -> datetime:
    """Convert an aware datetime to naive UTC (naive input is taken as UTC already)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


@overload
def to_aware(value: datetime) -> datetime: ...


@overload
def to_aware(value: None) -> None: ...


def to_aware(value: datetime | None) -> datetime | None:
    """Attach UTC to a stored naive datetime for output."""
    return None if value is None else value.replace(tzinfo=UTC)


def as_of_problem(as_of: datetime, *, skew_seconds: float, allow_future: bool = False) -> str | None:
    """Say why ``as_of`` (naive UTC) cannot be a run's "as of" time, or return None if it can.

    A run "as of" later than now acts early for good (a ban expired three days early returns an
    account to active while checks still deny it); only a dry run may look ahead. The clock skew
    allowed is the one activity events get.
    """
    if as_of < EARLIEST_AS_OF:
        return "Must not be before 1970-01-01T00:00:00Z."
    if not allow_future and as_of > utcnow() + timedelta(seconds=skew_seconds):
        return f"Must not be in the future (more than {skew_seconds:g} s ahead of the server's clock)."
    return None


def json_default(value: object) -> str:
    """Render what JSON cannot hold for the audit trail: times as ISO 8601 with their zone (UTC)."""
    # Stored times are naive UTC; written bare ("2024-05-01 03:00:00") a reader in Beijing would take
    # them as local time, eight hours off.
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return str(value)
