"""The check index snapshot: loaded, it answers every check as a fresh build does; anything off is ignored."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from registry.accounts.models import Account
from registry.check import snapshot as snap
from registry.check.index import CheckIndex, get_index
from registry.check.service import decide
from registry.extensions import db
from registry.pii import protect

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from gen_population import TRICKS, Population


@pytest.fixture
def snapshot_path(tmp_path):
    return tmp_path / "instance" / "check-index.snapshot"


@pytest.fixture
def app(app_factory, snapshot_path):
    return app_factory(ban_sync_seconds=3600, index_snapshot=str(snapshot_path))


@pytest.fixture
def headers(auth):
    return auth("check", "bans:write", "accounts:write")


def _load(runner, tmp_path, seed, accounts=120, bans=80):
    pop = Population(seed)
    a, b = tmp_path / f"accounts-{seed}.jsonl", tmp_path / f"bans-{seed}.jsonl"
    pop.write_accounts(a, accounts)
    pop.write_bans(b, bans)
    for cmd, path in (("accounts", a), ("bans", b)):
        args = [cmd, "import", str(path)] + (["--workers", "1"] if cmd == "bans" else [])
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
    return pop


def _signups(pop, seed):
    bodies = [s.body for s in pop.innocents(25)]
    for trick in TRICKS:
        bodies += [s.body for s in pop.returns(trick, 2)]
    bodies += [s.body for s in pop.common_returns(5)]
    return bodies


def _answers(app, engine, bodies):
    out = []
    with app.app_context():
        for body in bodies:
            result, masked = decide(body, engine)
            out.append((result.decision, json.dumps(result.reasons, sort_keys=True, default=str), masked))
    return out


def _same(got, want):
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, f"signup {i}:\n  loaded: {g}\n  fresh:  {w}"


def _sizes(engine):
    s = engine.stats()
    return (s.bans, s.names, s.identifiers, s.ranges, s.last_event)


def _fresh_and_loaded(app):
    with app.app_context():
        fresh = get_index(app)
        fresh.rebuild()
        assert fresh.write_snapshot() is not None
        loaded = CheckIndex(app)
        loaded.ensure_ready()
        assert loaded.source == "snapshot"
    return fresh, loaded


@pytest.mark.parametrize("seed", [3, 11])
def test_a_loaded_snapshot_answers_every_check_as_a_fresh_build(app, runner, tmp_path, seed):
    pop = _load(runner, tmp_path, seed)
    fresh, loaded = _fresh_and_loaded(app)
    bodies = _signups(pop, seed)
    assert len(bodies) > 40
    answers = _answers(app, fresh, bodies)
    _same(_answers(app, loaded, bodies), answers)
    # Not a vacuous comparison: the generated returns are caught.
    assert {d for d, _, _ in answers} >= {"allow", "review"}
    with app.app_context():
        assert _sizes(loaded) == _sizes(fresh)
        for body in bodies:
            for name in (body.get("username"), body.get("display_name")):
                if name:
                    assert loaded.search_names(name, 0) == fresh.search_names(name, 0)


def test_events_after_the_snapshot_are_applied(app, runner, client, headers, tmp_path):
    pop = _load(runner, tmp_path, 5, bans=40)
    with app.app_context():
        fresh = get_index(app)
        fresh.rebuild()
        fresh.write_snapshot()
        first = db.session.execute(db.text("SELECT id FROM bans ORDER BY id LIMIT 1")).scalar()
    new = {
        "names": ["zhuoyuanqiaotest"],
        "identifiers": {"phone": ["13700137999"]},
        "reason": "r",
        "rule": "R1",
    }
    assert client.post("/v1/bans", json=new, headers=headers).status_code == 201
    lifted = client.post(f"/v1/bans/{first}/lift", json={"reason": "appeal"}, headers=headers)
    assert lifted.status_code == 200, lifted.get_json()
    bodies = _signups(pop, 5) + [{"username": "zhuoyuanqiaotest"}, {"phone": "13700137999"}]
    with app.app_context():
        loaded = CheckIndex(app)
        loaded.ensure_ready()
        assert loaded.source == "snapshot"
        assert loaded.sync() >= 2
        # The engine the snapshot was taken of, caught up the same way: the same answers. (A full
        # rebuild may rank ties under the retrieval caps differently, as after any incremental sync.)
        assert fresh.sync() >= 2
        rebuilt = CheckIndex(app)
        rebuilt.rebuild()
    answers = _answers(app, loaded, bodies)
    _same(answers, _answers(app, fresh, bodies))
    assert answers[-2][0] != "allow" and answers[-1][0] != "allow"
    assert [a[0] for a in answers] == [a[0] for a in _answers(app, rebuilt, bodies)]
    with app.app_context():
        assert _sizes(loaded) == _sizes(fresh)
        assert loaded.stats().bans == rebuilt.stats().bans
        lifted_names = db.session.execute(
            db.text(f"SELECT name FROM ban_names WHERE ban_id = '{first}'")
        ).scalars()
        for name in lifted_names:
            assert all(m.ban_id != first for m in loaded.search_names(name, 0))


def _ignored(app, caplog):
    with app.app_context(), caplog.at_level(logging.WARNING, logger="registry.check.index"):
        engine = CheckIndex(app)
        engine.ensure_ready()
    assert engine.source == "database"
    assert any("snapshot" in r.getMessage() and "ignored" in r.getMessage() for r in caplog.records)
    return engine


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage", "empty"])
def test_a_corrupt_snapshot_is_ignored_and_the_index_built(
    app, runner, tmp_path, snapshot_path, caplog, damage
):
    pop = _load(runner, tmp_path, 7, bans=30)
    fresh, _ = _fresh_and_loaded(app)
    data = bytearray(snapshot_path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
    elif damage == "truncate":
        data = data[: len(data) - 100]
    elif damage == "garbage":
        data = bytearray(b"\x80\x04junk" * 50)
    else:
        data = bytearray()
    snapshot_path.write_bytes(bytes(data))
    engine = _ignored(app, caplog)
    bodies = _signups(pop, 7)
    _same(_answers(app, engine, bodies), _answers(app, fresh, bodies))


def test_a_snapshot_of_another_format_or_key_is_ignored(app, runner, tmp_path, snapshot_path, caplog):
    _load(runner, tmp_path, 8, bans=20)
    _fresh_and_loaded(app)
    data = snapshot_path.read_bytes()
    header, start = snap.read_header(data)
    with app.app_context():
        key = get_index(app)._snapshot_key
    payload = snap.read(snapshot_path, key)[1]
    # A well-signed file of a future format.
    snap.write(snapshot_path, snap.SnapshotHeader(**{**header.__dict__, "format": 99}), payload, key)
    _ignored(app, caplog)
    caplog.clear()
    # Signed under another PII key.
    snap.write(snapshot_path, header, payload, snap.snapshot_key(b"another-pii-key-0123456789"))
    _ignored(app, caplog)
    caplog.clear()
    # Of another database: its event is not in this log.
    snap.write(
        snapshot_path, snap.SnapshotHeader(**{**header.__dict__, "event_at": "1999-01-01"}), payload, key
    )
    _ignored(app, caplog)


def test_the_cli_writes_and_loads_a_snapshot(app, runner, tmp_path, snapshot_path):
    _load(runner, tmp_path, 9, bans=20)
    result = runner.invoke(args=["index", "snapshot"])
    assert result.exit_code == 0, result.output
    assert "index snapshot:" in result.output and snapshot_path.is_file()
    assert snapshot_path.stat().st_mode & 0o077 == 0
    result = runner.invoke(args=["index", "load"])
    assert result.exit_code == 0, result.output
    assert "from the snapshot" in result.output


def test_a_snapshot_carries_the_account_identifier_filter_and_a_rebuild_leaves_purged_accounts_out(
    app, client, headers
):
    for account_id, device in (("keep", "kept-device"), ("gone", "purged-device")):
        body = {"id": account_id, "username": f"u_{account_id}", "device_id": device}
        assert client.post("/v1/accounts", json=body, headers=headers).status_code == 201
    fresh, loaded = _fresh_and_loaded(app)
    with app.app_context():
        kept, gone = (protect("device_id", d).digest for d in ("KEPT-DEVICE", "PURGED-DEVICE"))
        assert loaded._require().held.to_bytes() == fresh._require().held.to_bytes()
        # Purged (the sweep's last step): the row stays as a tombstone, its identifiers go.
        db.session.execute(
            sa.update(Account).where(Account.id == "gone").values(status="purged", device_id_hash=None)
        )
        db.session.commit()
        fresh.rebuild()
        assert fresh.maybe_held(kept) and loaded.maybe_held(kept)
        assert not fresh.maybe_held(gone)


def test_the_name_index_pickles_to_the_same_answers():
    import pickle

    from registry.matching import NameIndex

    index = NameIndex()
    names = ["wangxiaoming88", "王晓明", "cherry.tiger520", "zhang_wei", "李娜", "tony_coco_xu"]
    for i, name in enumerate(names * 3):
        index.add(f"ban_{i:04d}", name)
    index.compact()
    again = pickle.loads(pickle.dumps(index, protocol=5))
    for probe in names + ["wangxiaomin88", "王曉明", "cherrytiger", "zhangwei1", "xu coco tony"]:
        assert again.search(probe, limit=10) == index.search(probe, limit=10)
    again.add("ban_9999", "wangxiaoming88")
    assert any(m.ban_id == "ban_9999" for m in again.search("wangxiaoming88", limit=20))
