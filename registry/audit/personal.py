"""Which audit data is personal, and sealing it per subject (crypto-shredding).

The one list of personal fields is PERSONAL_FIELDS: a top-level key of an entry's ``data`` with one of
these names is moved, on append, into ``data["sealed"]`` - AES-256-GCM under a data key of the entry's
subject (``account:u1``, ``ban:...``), stored wrapped in ``audit_subject_keys``. The chain hash covers
the sealed text, so destroying the subject's key on purge erases the data and the trail still verifies.
Callers of ``record(...)`` pass their data as before; nothing else decides what is personal.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from registry.audit.keys import AuditKeys, InvalidTag, seal, unseal
from registry.audit.models import AuditSubjectKey
from registry.timeutil import utcnow

# Names, masked identifiers, and free text staff write (which may name a person).
PERSONAL_FIELDS = frozenset(
    {
        "username",  # account.create
        "display_name",  # account.create
        "identifiers",  # masked phone/email/ID number (account.create, ban.create)
        "names",  # ban.create: the banned names
        "old",  # account.rename: previous names
        "new",  # account.rename: new names
        "name_flags",  # findings quote the flagged part of a name
        "name_keys",  # ban.suppress: folded names
        "id_number",  # verification.change: masked ID number
        "entity",  # verification.change: organisation name and USCC
        "note",  # violations, reviews: free text
        "reason",  # free text beside every rule code
    }
)
SEALED = "sealed"
ERASED = "erased"
_IN_CHUNK = 500


def split(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (public, personal) parts of an entry's data; None values stay public (nothing to hide)."""
    public: dict[str, Any] = {}
    personal: dict[str, Any] = {}
    for name, value in data.items():
        if name in PERSONAL_FIELDS and value is not None:
            personal[name] = value
        else:
            public[name] = value
    return public, personal


def _aad(key_id: str, subject: str, fields: Iterable[str]) -> str:
    return f"{key_id}|{subject}|{','.join(fields)}"


class KeyRing:
    """Data keys of the subjects one append or one read touches (never cached across transactions)."""

    def __init__(self, keys: AuditKeys, session: Any) -> None:
        self.keys = keys
        self.session = session
        self._active: dict[str, tuple[str, bytes]] = {}

    def prepare(self, subjects: Iterable[str]) -> None:
        """Load or create an active key for each subject (one query per chunk, one insert)."""
        wanted = sorted(set(subjects) - set(self._active))
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start : start + _IN_CHUNK]
            rows = self.session.execute(
                sa.select(AuditSubjectKey.id, AuditSubjectKey.subject, AuditSubjectKey.wrapped).where(
                    AuditSubjectKey.subject.in_(chunk), AuditSubjectKey.wrapped.is_not(None)
                )
            ).all()
            for row in rows:
                self._active[row.subject] = (row.id, self.keys.unwrap(row.id, row.subject, row.wrapped))
        fresh = [s for s in wanted if s not in self._active]
        if fresh:
            now = utcnow()
            inserts = []
            for subject in fresh:
                key_id, data_key = os.urandom(12).hex(), os.urandom(32)
                inserts.append(
                    {
                        "id": key_id,
                        "subject": subject,
                        "wrapped": self.keys.wrap(key_id, subject, data_key),
                        "created_at": now,
                    }
                )
                self._active[subject] = (key_id, data_key)
            # The Core table, not the ORM class: bulk paths create thousands of keys at once.
            self.session.execute(sa.insert(AuditSubjectKey.__table__), inserts)

    def seal_entry(self, subject: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Return ``data`` with its personal fields sealed under the subject's key (prepare first)."""
        public, personal = split(data)
        if not personal:
            return public
        key_id, data_key = self._active[subject]
        fields = sorted(personal)
        text = json.dumps(personal, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
        public[SEALED] = {
            "key": key_id,
            "fields": fields,
            "text": seal(data_key, _aad(key_id, subject, fields), text),
        }
        return public


def needs_key(data: Mapping[str, Any]) -> bool:
    """Tell whether an entry's data holds a personal field to seal."""
    return any(name in PERSONAL_FIELDS and value is not None for name, value in data.items())


def open_entries(
    keys: AuditKeys, session: Any, entries: Iterable[tuple[str, Any]]
) -> list[tuple[dict[str, Any], list[str]]]:
    """Return (readable data, erased field names) for each (subject, stored data), in order."""
    entries = list(entries)
    ids = sorted(
        {
            str(data[SEALED].get("key"))
            for _subject, data in entries
            if isinstance(data, dict) and isinstance(data.get(SEALED), dict)
        }
    )
    wrapped: dict[str, tuple[str, str | None]] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        for row in session.execute(
            sa.select(AuditSubjectKey.id, AuditSubjectKey.subject, AuditSubjectKey.wrapped).where(
                AuditSubjectKey.id.in_(ids[start : start + _IN_CHUNK])
            )
        ):
            wrapped[row.id] = (row.subject, row.wrapped)
    out: list[tuple[dict[str, Any], list[str]]] = []
    unwrapped: dict[str, bytes] = {}
    for subject, data in entries:
        if not isinstance(data, dict) or not isinstance(data.get(SEALED), dict):
            out.append((dict(data) if isinstance(data, dict) else {"value": data}, []))
            continue
        box = data[SEALED]
        plain = {k: v for k, v in data.items() if k != SEALED}
        fields = [str(f) for f in box.get("fields") or []]
        key_id = str(box.get("key"))
        row = wrapped.get(key_id)
        opened: dict[str, Any] | None = None
        if row is not None and row[1] is not None and row[0] == subject:
            try:
                data_key = unwrapped.get(key_id) or keys.unwrap(key_id, subject, row[1])
                unwrapped[key_id] = data_key
                opened = json.loads(unseal(data_key, _aad(key_id, subject, fields), str(box.get("text"))))
            except (InvalidTag, ValueError):
                opened = None
        if opened is None:
            plain.update(dict.fromkeys(fields))
            out.append((plain, fields))
        else:
            plain.update(opened)
            out.append((plain, []))
    return out


def erase_subjects(session: Any, subjects: Iterable[str]) -> int:
    """Destroy the data keys of these subjects (crypto-shredding); return how many keys went."""
    subjects = sorted(set(subjects))
    erased = 0
    now = utcnow()
    for start in range(0, len(subjects), _IN_CHUNK):
        result = session.execute(
            sa.update(AuditSubjectKey)
            .where(
                AuditSubjectKey.subject.in_(subjects[start : start + _IN_CHUNK]),
                AuditSubjectKey.wrapped.is_not(None),
            )
            .values(wrapped=None, erased_at=now)
            .execution_options(synchronize_session=False)
        )
        erased += int(result.rowcount or 0)
    return erased
