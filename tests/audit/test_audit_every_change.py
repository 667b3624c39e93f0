"""Every change made over HTTP or the CLI leaves its entry, by the acting key, and the chain stays intact."""

from __future__ import annotations


def actions(client, headers, subject):
    items = client.get(f"/v1/audit?subject={subject}&order=asc&limit=500", headers=headers).json["items"]
    return [(e["action"], e["actor"]) for e in items]


def test_changes_across_features_are_each_audited(client, auth, runner):
    staff = auth(name="staff")
    result = runner.invoke(args=["keys", "create", "--name", "signup-flow", "--scope", "check"])
    assert result.exit_code == 0, result.output
    assert (
        client.post("/v1/accounts", json={"id": "u1", "username": "someone"}, headers=staff).status_code
        == 201
    )
    tier = client.put(
        "/v1/accounts/u1/tier", json={"tier": "watch", "reason": "odd", "rule": "R2"}, headers=staff
    )
    assert tier.status_code == 200
    unpin = client.post("/v1/accounts/u1/tier/unpin", json={"reason": "done"}, headers=staff)
    assert unpin.status_code == 200
    violation = client.post(
        "/v1/accounts/u1/violations", json={"rule": "R4", "severity": "severe"}, headers=staff
    )
    assert violation.status_code == 201
    ban = client.post(
        "/v1/bans", json={"account_id": "u1", "reason": "spam", "rule": "R3"}, headers=staff
    ).json
    lift = client.post(f"/v1/bans/{ban['id']}/lift", json={"reason": "appeal"}, headers=staff)
    assert lift.status_code == 200

    account_trail = actions(client, staff, "account:u1")
    assert [a for a, _ in account_trail] == [
        "account.create",
        "tier.change",
        "tier.unpin",
        "violation.create",  # credit 60: watch already, so no automatic move
        "account.status",  # banned
        "account.status",  # the lift restores it
    ]
    assert {actor for _, actor in account_trail} == {"staff"}
    ban_trail = [a for a, _ in actions(client, staff, f"ban:{ban['id']}")]
    assert ban_trail[0] == "ban.create" and "ban.lift" in ban_trail
    assert actions(client, staff, "key:signup-flow")[0][0] == "key.create"
    verify = runner.invoke(args=["audit", "verify"])
    assert verify.exit_code == 0, verify.output
