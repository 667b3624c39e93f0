"""Banned IP ranges are sealed at rest, shown masked, and still matched by the check."""

from __future__ import annotations

import json

import sqlalchemy as sa

from registry.audit.models import AuditEntry
from registry.bans.models import BanIdentifier
from registry.extensions import db
from registry.identifiers.iprange import SEALED_PREFIX

V4, V6 = "198.51.100.200/31", "2001:db8:85a3:1234::/64"


def test_ranges_are_sealed_masked_and_still_match(app, client, auth):
    h = auth("admin")
    made = client.post(
        "/v1/bans", json={"identifiers": {"ip": [V4, V6]}, "reason": "abuse", "rule": "R1"}, headers=h
    )
    assert made.status_code == 201, made.json
    assert made.json["identifiers"]["ip_range"] == ["198.51.100.*/31", "2001:db8:85a3:*/64"]
    shown = client.get(f"/v1/bans/{made.json['id']}", headers=h).json["identifiers"]
    assert shown == made.json["identifiers"]
    with app.app_context():
        rows = db.session.scalars(sa.select(BanIdentifier).where(BanIdentifier.kind == "ip_range")).all()
        assert len(rows) == 2 and all(r.value.startswith(SEALED_PREFIX) for r in rows)
        stored = json.dumps(
            [(r.value, r.mask) for r in rows] + [e.data for e in db.session.scalars(sa.select(AuditEntry))],
            default=str,
        )
    for clear in (V4, "198.51.100.200", "198.51.100.201", V6, "2001:db8:85a3:1234::"):
        assert clear not in stored

    for address in ("198.51.100.201", "2001:db8:85a3:1234::99"):
        check = client.post("/v1/check", json={"username": "fresh_user", "ip": address}, headers=h)
        assert check.status_code == 200 and check.json["decision"] == "review", check.json
    clean = client.post("/v1/check", json={"username": "fresh_user", "ip": "198.51.100.202"}, headers=h)
    assert clean.json["decision"] == "allow"


def test_a_fresh_engine_opens_the_sealed_ranges(app, client, auth):
    h = auth("admin")
    client.post("/v1/bans", json={"identifiers": {"ip": [V4]}, "reason": "abuse", "rule": "R1"}, headers=h)
    with app.app_context():
        from registry.check.index import get_index

        engine = get_index()
        engine.rebuild()
        assert engine.range_bans("198.51.100.200")
