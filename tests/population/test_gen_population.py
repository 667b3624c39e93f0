"""scripts/gen_population.py: one seed, one population; valid identity numbers; lines the imports take."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from gen_population import TRICKS, Population, handle_core, split_table

from registry.identifiers.checkdigits import resident_id_check_char


def _write(tmp_path: Path, seed: int, accounts: int = 150, bans: int = 80) -> tuple[Population, Path, Path]:
    pop = Population(seed)
    a, b = tmp_path / f"accounts-{seed}.jsonl", tmp_path / f"bans-{seed}.jsonl"
    pop.write_accounts(a, accounts)
    pop.write_bans(b, bans)
    return pop, a, b


def test_one_seed_gives_the_same_files_and_draws_and_another_seed_does_not(tmp_path):
    (tmp_path / "again").mkdir()
    p1, a1, b1 = _write(tmp_path, 5)
    p2, a2, b2 = _write(tmp_path / "again", 5)
    p3, a3, _ = _write(tmp_path, 6)
    assert a1.read_bytes() == a2.read_bytes() and b1.read_bytes() == b2.read_bytes()
    assert a1.read_bytes() != a3.read_bytes()
    assert [s.body for s in p1.innocents(30)] == [s.body for s in p2.innocents(30)]
    assert [s.body for s in p1.returns("homophone", 5)] == [s.body for s in p2.returns("homophone", 5)]
    # Person i does not depend on what was drawn before.
    assert Population(5).person(7) == p1.person(7)


def test_identifiers_are_unique_and_identity_numbers_carry_their_check_character(tmp_path):
    pop = Population(3)
    people = [pop.person(i) for i in range(2000)]
    for p in people:
        assert len(p.id_number) == 18 and resident_id_check_char(p.id_number[:17]) == p.id_number[17]
        assert 1970 <= int(p.id_number[6:10]) <= 2008
    for attr in ("email", "phone", "device_id"):
        assert len({getattr(p, attr) for p in people}) == len(people), attr


def test_innocents_share_names_with_bans_and_returns_keep_nothing_but_the_disguised_name(tmp_path):
    pop, _, bans_file = _write(tmp_path, 2, accounts=3000, bans=3000)
    banned = [json.loads(line) for line in bans_file.read_text(encoding="utf-8").splitlines()]
    banned_names = {n for b in banned for n in b["names"]}
    banned_ids = {v for b in banned for vs in b["identifiers"].values() for v in vs}
    innocents = pop.innocents(3000)
    # Same population, never disjoint: some innocents hold a banned display name exactly.
    assert any(s.body.get("display_name") in banned_names for s in innocents)
    for trick in TRICKS:
        got = pop.returns(trick, 5)
        assert got, trick
        for s in got:
            assert s.holders <= 2 and s.source in banned[s.ban_line]["names"]
            assert s.body.get(s.field) != s.source
            assert not {s.body.get(k) for k in ("email", "phone", "id_number", "device_id")} & banned_ids
    common = pop.common_returns(5, min_holders=10)
    assert common and all(s.holders >= 10 for s in common)


def test_split_char_uses_more_than_one_table():
    sp = split_table()
    assert {"弓长"} <= set(sp["张"]) and "木木" in sp["林"] and "古月" in sp["胡"]
    assert {"木昜", "木易"} <= set(sp["杨"])


def test_reorder_handle_swaps_the_parts_of_a_pinyin_handle():
    pop = Population(1)
    person = next(p for p in map(pop.person, range(3000)) if p.handle_style == "full")
    got = TRICKS["reorder_handle"](person, random.Random(1))
    assert got is not None and got[0] == "username"
    assert handle_core(got[1]) == handle_core(person.handle_parts[1] + person.handle_parts[0])


@pytest.mark.parametrize("kind", ["accounts", "bans"])
def test_the_lines_import_cleanly(runner, tmp_path, kind):
    _, accounts, bans = _write(tmp_path, 9, accounts=120, bans=60)
    path, n = (accounts, 120) if kind == "accounts" else (bans, 60)
    result = runner.invoke(args=[kind, "import", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{n} lines read, {n} created, 0 already present, 0 rejected" in result.output
