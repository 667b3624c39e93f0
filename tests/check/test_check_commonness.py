"""Name commonness over HTTP: counts follow account create, import, rename, ban and purge on every worker."""

from __future__ import annotations

import json

import pytest

from registry.check.index import get_index
from registry.matching.commonness import STAT, account_keys


@pytest.fixture
def app(app_factory):
    return app_factory(ban_sync_seconds=0, common_name_accounts=3)


@pytest.fixture
def headers(auth):
    return auth("check", "bans:read", "bans:write", "accounts:read", "accounts:write")


def post(client, headers, path, body, status=201):
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == status, response.json
    return response.json


def check(client, headers, **body):
    return post(client, headers, "/v1/check", body, status=200)


def holders(app, name):
    with app.app_context():
        engine = get_index(app)
        engine.sync()
        # Match keys only: the statistics keys (STAT-prefixed) count surname characters and the like.
        return max(engine.key_accounts(k) for k in account_keys(name) if not k.startswith(STAT))


def test_counts_follow_create_rename_and_ban(app, client, headers):
    for i in range(3):
        post(
            client,
            headers,
            "/v1/accounts",
            {"id": f"c{i}", "username": f"person_{i}", "display_name": "李伟"},
        )
    ban_id = post(client, headers, "/v1/bans", {"names": ["李伟"], "reason": "r", "rule": "R1"})["id"]
    assert holders(app, "李伟") == 3
    common = check(client, headers, username="fresh_user", display_name="李伟")
    assert common["decision"] == "allow"
    assert {"code": "common_name", "field": "display_name", "ban_id": ban_id, "accounts": 3} in common[
        "reasons"
    ]

    # A rename takes the old name's keys out and puts the new one's in.
    response = client.patch("/v1/accounts/c0", json={"display_name": "王小明"}, headers=headers)
    assert response.status_code == 200, response.json
    assert holders(app, "李伟") == 2 and holders(app, "王小明") == 1
    # A ban on an account takes it out of good standing.
    post(client, headers, "/v1/bans", {"account_id": "c1", "reason": "r", "rule": "R1"})
    assert holders(app, "李伟") == 1
    rare = check(client, headers, username="fresh_user", display_name="李伟")
    assert rare["decision"] == "review"
    (reason,) = [
        r for r in rare["reasons"] if r["code"] == "similar_to_banned_name" and r["ban_id"] == ban_id
    ]
    assert reason["field"] == "display_name" and reason["tricks"] == []
    assert reason["commonness"]["accounts"] == 1


def test_imported_accounts_count_on_another_worker(app, app_factory, client, headers, runner, tmp_path):
    lines = [{"id": f"i{i}", "username": f"cherry.tiger{i}", "display_name": "Cherry"} for i in range(4)]
    path = tmp_path / "accounts.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    ban_id = post(client, headers, "/v1/bans", {"names": ["cherry_tiger"], "reason": "r", "rule": "R1"})["id"]
    with app.app_context():
        get_index(app).ensure_ready()
    result = runner.invoke(args=["accounts", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert holders(app, "cherrytiger") == 4
    out = check(client, headers, username="cherry.tiger")
    assert out["decision"] == "allow"
    assert {"code": "common_name", "field": "username", "ban_id": ban_id, "accounts": 4} in out["reasons"]
    assert not [r for r in out["reasons"] if r["code"] == "similar_to_banned_name"]


def test_many_bans_on_one_common_name_give_one_informational_reason(app, client, headers):
    for i in range(3):
        post(
            client,
            headers,
            "/v1/accounts",
            {"id": f"g{i}", "username": f"guoqiang{i}", "display_name": "郭强"},
        )
    for _ in range(6):
        post(client, headers, "/v1/bans", {"names": ["郭强"], "reason": "r", "rule": "R1"})
    out = check(client, headers, username="guoqiang520", display_name="郭强")
    assert out["decision"] == "allow"
    assert [r["code"] for r in out["reasons"]] == ["common_name"]


def stat(app, key):
    with app.app_context():
        engine = get_index(app)
        engine.sync()
        return engine.key_accounts(STAT + key)


def test_the_smoothed_models_character_counts_follow_create_rename_and_ban(app, client, headers):
    for i, name in enumerate(["温伟", "温鹏飞", "李鹏"]):
        post(client, headers, "/v1/accounts", {"id": f"s{i}", "username": f"wen_{i}", "display_name": name})
    assert (stat(app, "s:温"), stat(app, "g:鹏"), stat(app, "hn"), stat(app, "t:wen")) == (2, 2, 3, 3)
    response = client.patch("/v1/accounts/s1", json={"display_name": "王飞"}, headers=headers)
    assert response.status_code == 200, response.json
    assert (stat(app, "s:温"), stat(app, "g:鹏"), stat(app, "s:王")) == (1, 1, 1)
    post(client, headers, "/v1/bans", {"account_id": "s2", "reason": "r", "rule": "R1"})
    assert (stat(app, "g:鹏"), stat(app, "hn"), stat(app, "t:wen")) == (0, 2, 2)
