"""Found by an attack run against a served instance: each was a 500 or a silent wrong write."""

from __future__ import annotations

import re

import pytest

PASSWORD = "a long enough password"
PAST_INT64 = "9" * 30


def _moderator(runner, client):
    made = runner.invoke(
        args=["staff", "create", "--name", "mona", "--role", "moderator", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert made.exit_code == 0, made.output
    token = _token(client, "/console/login")
    response = client.post(
        "/console/login", data={"username": "mona", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    return _token(client, "/console/bans")


def _token(client, path):
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.mark.parametrize("delivery_id", [PAST_INT64, str(2**63)])
def test_a_delivery_id_past_64_bits_is_a_404_not_a_500(client, auth, delivery_id):
    response = client.post(f"/v1/webhooks/deliveries/{delivery_id}/retry", headers=auth())
    assert response.status_code == 404
    assert response.json["code"] == 404
    assert client.post("/v1/webhooks/deliveries/1/retry", headers=auth()).status_code == 404


def test_an_audit_seq_past_64_bits_is_a_404_page_in_the_console(runner, client):
    runner.invoke(
        args=["staff", "create", "--name", "otto", "--role", "auditor", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    token = _token(client, "/console/login")
    client.post("/console/login", data={"username": "otto", "password": PASSWORD, "csrf_token": token})
    assert client.get(f"/console/audit/{PAST_INT64}").status_code == 404
    assert client.get("/console/audit/999999").status_code == 404


@pytest.mark.parametrize(
    "raw, field",
    [
        (b"names=%FF%FE", "names"),  # percent-escaped bytes that are not UTF-8
        (b"names=%ED%A0%80", "names"),  # a UTF-8-encoded lone surrogate
        (b"names=ok_name&reason=r%C3", "reason"),  # cut in the middle of a character
        (b"names=\xff\xfe", "names"),  # raw bytes, not escaped at all
    ],
)
def test_console_form_bytes_that_are_not_utf8_are_refused_naming_the_field(runner, client, auth, raw, field):
    # They were kept as the text "%FF%FE" and a ban on that literal name was made.
    token = _moderator(runner, client)
    body = raw + b"&rule=R1&csrf_token=" + token.encode()
    if b"reason=" not in raw:
        body += b"&reason=r"
    response = client.post(
        "/console/bans", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 400
    assert field in response.get_data(as_text=True)
    assert client.get("/v1/bans", headers=auth()).json["items"] == []


def test_multipart_console_fields_with_bad_bytes_are_refused(runner, client, auth):
    token = _moderator(runner, client)
    boundary = "xyz"
    parts = [("csrf_token", token.encode()), ("names", b"\xff\xfe"), ("reason", b"r"), ("rule", b"R1")]
    body = (
        b"".join(
            b'--xyz\r\nContent-Disposition: form-data; name="'
            + name.encode()
            + b'"\r\n\r\n'
            + value
            + b"\r\n"
            for name, value in parts
        )
        + b"--xyz--\r\n"
    )
    response = client.post(
        "/console/bans", data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert response.status_code == 400
    assert "names" in response.get_data(as_text=True)
    assert client.get("/v1/bans", headers=auth()).json["items"] == []


def test_a_console_ban_with_good_text_and_a_percent_sign_is_still_made(runner, client, auth):
    token = _moderator(runner, client)
    response = client.post(
        "/console/bans",
        data={"names": "50%off_王", "reason": "r", "rule": "R1", "csrf_token": token},
    )
    assert response.status_code == 302
    assert [b["names"] for b in client.get("/v1/bans", headers=auth()).json["items"]] == [["50%off_王"]]


def test_a_nul_in_a_console_form_is_a_400_naming_the_field_not_a_500(runner, client, auth):
    # PostgreSQL cannot store a NUL: a violation with rule "\x00" was a 500 there.
    client.post("/v1/accounts", json={"id": "u1", "username": "plain_name"}, headers=auth())
    token = _moderator(runner, client)
    response = client.post(
        "/console/accounts/u1/violation",
        data={"rule": "R\x001", "severity": "minor", "csrf_token": token},
    )
    assert response.status_code == 400
    assert "rule" in response.get_data(as_text=True)
    assert client.get("/v1/accounts/u1/violations", headers=auth()).json["items"] == []


def test_a_nul_in_the_sign_in_name_is_a_400_not_a_500(client):
    token = _token(client, "/console/login")
    response = client.post(
        "/console/login", data={"username": "mo\x00na", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 400
    assert "username" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "query, field",
    [
        ("year=%D9%A2%D9%A0%D9%A2%D9%A6", "year"),  # Arabic-Indic digits: int() took them as 2026
        ("year=%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96", "year"),  # fullwidth digits
        ("year=2_026", "year"),
        ("year=+2026", "year"),
        ("year=%202026", "year"),
        ("month=%D9%A2%D9%A0%D9%A2%D9%A6-11", "month"),
        ("month=2026-11%0A", "month"),  # "$" matched before a trailing newline
    ],
)
def test_report_periods_are_ascii_digits_only(client, auth, query, field):
    path = "/v1/reports/annual" if field == "year" else "/v1/reports/monthly"
    response = client.get(f"{path}?{query}", headers=auth("reports:read"))
    assert response.status_code == 422
    assert list(response.json["errors"]["query"]) == [field]
    assert (
        client.get(f"{path}?{field}={'2026' if field == 'year' else '2026-11'}", headers=auth()).status_code
        == 200
    )
