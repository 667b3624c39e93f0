"""Import lines that used to abort a whole import are rejected alone, with their line number."""

from __future__ import annotations

import pytest

HOSTILE_BAN_LINES = [
    '{"names": ["x\\udfff"], "reason": "r", "rule": "R1"}',
    '{"names": ["y"], "reason": "\\ud800", "rule": "R1"}',
    '{"names": ["z"], "reason": "r", "rule": "R1", "expires_at": "9999-12-31T23:59:59-05:00"}',
    "[" * 5000 + "]" * 5000,
]


@pytest.mark.parametrize("hostile", HOSTILE_BAN_LINES)
def test_a_hostile_ban_line_is_rejected_alone(runner, client, auth, tmp_path, hostile):
    path = tmp_path / "bans.jsonl"
    path.write_text(hostile + '\n{"names": ["goodname"], "reason": "r", "rule": "R1"}\n')
    result = runner.invoke(args=["bans", "import", str(path)])
    assert result.exit_code == 1, result.output  # some lines were rejected: not a crash
    assert "line 1" in result.output
    assert "1 created" in result.output and "1 rejected" in result.output
    bans = client.get("/v1/bans", headers=auth()).json["items"]
    assert [b["names"] for b in bans] == [["goodname"]]


@pytest.mark.parametrize(
    "hostile",
    [
        '{"id": "i1", "username": "a\\ud800"}',
        '{"id": "i1", "username": "n1", "registered_at": "0001-01-01T00:00:00+08:00"}',
        "{" * 3000 + "}" * 3000,
    ],
)
def test_a_hostile_account_line_is_rejected_alone(runner, client, auth, tmp_path, hostile):
    path = tmp_path / "accounts.jsonl"
    path.write_text(hostile + '\n{"id": "ok1", "username": "fine1"}\n')
    result = runner.invoke(args=["accounts", "import", str(path)])
    assert result.exit_code == 1, result.output  # some lines were rejected: not a crash
    assert "line 1" in result.output
    items = client.get("/v1/accounts", headers=auth()).json["items"]
    assert [a["id"] for a in items] == ["ok1"]
