"""Avatars over HTTP: accounts and bans keep hashes only, checks find banned avatars and QR codes."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import sqlalchemy as sa
from PIL import ImageEnhance

from avatars.images import TRANSFORMS, caption, encode, jpeg, picture, qr_avatar
from registry.accounts.models import Account
from registry.bans.models import BanAvatar
from registry.bans.prepare import fingerprint, prepare_ban
from registry.extensions import db
from registry.identifiers import PiiHasher
from registry.reviews.models import Review

BANNED = picture(101)
OTHER = picture(202)
# What a ban stores for an image, besides the whole: its central crop, top band, 8 one-sided crops, tone.
VARIANTS = ["band", "crop", *["side"] * 8, "tone"]


@pytest.fixture
def app(app_factory):
    return app_factory(ban_sync_seconds=0)


@pytest.fixture
def headers(auth):
    return auth("check", "bans:read", "bans:write", "accounts:read", "accounts:write")


def post(client, headers, path, body, status):
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == status, response.json
    return response.json


def check(client, headers, **body):
    body.setdefault("username", "fresh_person")
    return post(client, headers, "/v1/check", body, 200)


def avatar_reasons(result, code="similar_to_banned_avatar"):
    return [r for r in result["reasons"] if r["code"] == code]


def ban_account_with_avatar(client, headers, account_id="u_banned", image=BANNED):
    post(
        client,
        headers,
        "/v1/accounts",
        {"id": account_id, "username": "spammer_1", "avatar": encode(image, "JPEG", quality=90)},
        201,
    )
    return post(client, headers, "/v1/bans", {"account_id": account_id, "reason": "spam", "rule": "R3"}, 201)


def test_an_account_keeps_the_hash_never_the_image(app, client, headers):
    text = encode(BANNED)
    created = post(client, headers, "/v1/accounts", {"id": "u1", "username": "someone", "avatar": text}, 201)
    assert len(created["avatar_hash"]) == 64
    with app.app_context():
        row = db.session.get(Account, "u1")
        stored = " ".join(str(v) for v in vars(row).values())
    assert text[:40] not in stored and row.avatar_crop_hash and row.avatar_band_hash and row.avatar_tone_hash
    assert len(row.avatar_side_hashes) == 8 * 64


def test_a_ban_by_account_captures_its_avatar_and_a_resized_mirrored_copy_is_flagged(client, headers):
    ban = ban_account_with_avatar(client, headers)
    assert sorted(a["kind"] for a in ban["avatars"]) == sorted(["image", *VARIANTS])
    probe = TRANSFORMS["mirror"](TRANSFORMS["resize_half"](BANNED))
    result = check(client, headers, avatar=encode(jpeg(probe), "JPEG"))
    assert result["decision"] == "review"
    (reason,) = avatar_reasons(result)
    assert reason["ban_id"] == ban["id"] and reason["field"] == "avatar" and 0 <= reason["distance"] <= 31


@pytest.mark.parametrize("copy", ["crop_right_2.5pc", "brightness_50pc"])
def test_a_ban_by_account_catches_a_copy_cropped_between_the_steps_or_brightened(client, headers, copy):
    # picture(4): both copies are past the threshold (32 and 42 bits) from the hashes a ban stored
    # before the 92.5% cuts and the tone hash, within it (18 and 22) with them.
    banned = picture(4)
    ban = ban_account_with_avatar(client, headers, image=banned)
    w, h = banned.size
    probe = {
        "crop_right_2.5pc": lambda: banned.crop((0, 0, w - int(w * 0.025), h)),
        "brightness_50pc": lambda: ImageEnhance.Brightness(banned).enhance(1.5),
    }[copy]()
    result = check(client, headers, avatar=encode(probe, "JPEG", quality=85))
    assert [r["ban_id"] for r in avatar_reasons(result)] == [ban["id"]]


def test_a_distinct_avatar_is_allowed(client, headers):
    ban_account_with_avatar(client, headers)
    result = check(client, headers, avatar=encode(OTHER))
    assert result == {**result, "decision": "allow", "reasons": []}


def test_a_check_may_send_the_hash_instead(client, headers):
    ban = ban_account_with_avatar(client, headers)
    created = post(
        client, headers, "/v1/accounts", {"id": "u2", "username": "x2", "avatar": encode(BANNED)}, 201
    )
    result = check(client, headers, avatar_hash=created["avatar_hash"].upper())
    assert [r["ban_id"] for r in avatar_reasons(result)] == [ban["id"]]


def test_a_lifted_ban_no_longer_flags_its_avatar(client, headers):
    ban = ban_account_with_avatar(client, headers)
    post(client, headers, f"/v1/bans/{ban['id']}/lift", {"reason": "appeal granted"}, 200)
    assert avatar_reasons(check(client, headers, avatar=encode(BANNED))) == []


def test_post_bans_takes_images_and_hashes(app, client, headers):
    other_hash = post(
        client, headers, "/v1/accounts", {"id": "u3", "username": "x3", "avatar": encode(OTHER)}, 201
    )
    ban = post(
        client,
        headers,
        "/v1/bans",
        {"avatars": [encode(BANNED, "WEBP"), other_hash["avatar_hash"]], "reason": "ring", "rule": "R1"},
        201,
    )
    assert sorted(a["kind"] for a in ban["avatars"]) == sorted(["hash", "image", *VARIANTS])
    for im in (BANNED, OTHER):
        assert [r["ban_id"] for r in avatar_reasons(check(client, headers, avatar=encode(im)))] == [ban["id"]]


@pytest.mark.parametrize("bad", ["%%%", encode(picture(1, 16), "BMP"), "aGVsbG8="])
def test_a_bad_avatar_is_a_422_naming_the_field_on_accounts_and_bans(app, client, headers, bad):
    response = client.post(
        "/v1/accounts", json={"id": "u4", "username": "x4", "avatar": bad}, headers=headers
    )
    assert response.status_code == 422 and "avatar" in response.json["errors"]["json"]
    response = client.post("/v1/bans", json={"avatars": [bad], "reason": "r", "rule": "R1"}, headers=headers)
    assert response.status_code == 422 and "0" in response.json["errors"]["json"]["avatars"]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Account)) == 0


def test_a_bad_hash_is_a_422_naming_avatar_hash(client, headers):
    response = client.post(
        "/v1/accounts", json={"id": "u5", "username": "x5", "avatar_hash": "abc"}, headers=headers
    )
    assert response.status_code == 422 and "avatar_hash" in response.json["errors"]["json"]


def test_both_avatar_and_hash_is_a_422(client, headers):
    body = {"id": "u6", "username": "x6", "avatar": encode(OTHER), "avatar_hash": "0" * 64}
    response = client.post("/v1/accounts", json=body, headers=headers)
    assert response.status_code == 422 and "avatar" in response.json["errors"]["json"]


@pytest.mark.parametrize("bad", ["%%%", "aGVsbG8=", "data:image/png;base64,AAAA"])
def test_a_bad_avatar_on_a_check_is_a_reason_not_an_error(client, headers, bad):
    result = check(client, headers, avatar=bad)
    assert result["decision"] == "allow"
    assert [(r["code"], r["field"]) for r in result["reasons"]] == [("invalid_avatar", "avatar")]
    result = check(client, headers, avatar_hash="xyz")
    assert [(r["code"], r["field"]) for r in result["reasons"]] == [("invalid_avatar", "avatar_hash")]


def test_a_qr_code_in_a_check_avatar_opens_a_review(app, client, headers):
    result = check(client, headers, avatar=encode(qr_avatar(3)))
    assert result["decision"] == "review"
    assert [r["code"] for r in result["reasons"]] == ["qr_code_in_avatar"]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Review)) == 1


def test_a_qr_code_on_an_account_is_flagged_for_review(client, headers):
    created = post(
        client, headers, "/v1/accounts", {"id": "u7", "username": "x7", "avatar": encode(qr_avatar(4))}, 201
    )
    assert [f["code"] for f in created["name_flags"]] == ["qr_code_in_avatar"]


def test_the_qr_decision_can_deny(app_factory, auth):
    app = app_factory(avatar_qr_decision="deny")
    client = app.test_client()
    headers = auth("check", "accounts:write", app=app)
    assert check(client, headers, avatar=encode(qr_avatar(5)))["decision"] == "deny"
    body = {"id": "u8", "username": "x8", "avatar": encode(qr_avatar(5))}
    response = client.post("/v1/accounts", json=body, headers=headers)
    assert response.status_code == 422 and "avatar" in response.json["errors"]["json"]


def test_the_qr_rule_can_be_off(app_factory, auth):
    app = app_factory(avatar_qr_decision="off")
    assert check(app.test_client(), auth("check", app=app), avatar=encode(qr_avatar(5)))["reasons"] == []


def test_patch_sets_and_removes_the_avatar(client, headers):
    post(client, headers, "/v1/accounts", {"id": "u9", "username": "x9"}, 201)
    response = client.patch("/v1/accounts/u9", json={"avatar": encode(caption(OTHER))}, headers=headers)
    assert response.status_code == 200 and response.json["avatar_hash"]
    response = client.patch("/v1/accounts/u9", json={"avatar": "%%%"}, headers=headers)
    assert response.status_code == 422 and "avatar" in response.json["errors"]["json"]
    response = client.patch("/v1/accounts/u9", json={"avatar": None}, headers=headers)
    assert response.status_code == 200 and response.json["avatar_hash"] is None


def test_bans_import_takes_avatars_and_reports_bad_ones_by_line(app, runner, client, headers, tmp_path):
    lines = [
        json.dumps({"avatars": [encode(BANNED)], "reason": "r", "rule": "R1"}),
        json.dumps({"avatars": ["not an image"], "reason": "r", "rule": "R1"}),
        json.dumps({"avatars": ["ab" * 32], "names": ["ring_member"], "reason": "r", "rule": "R1"}),
    ]
    path = tmp_path / "bans.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(args=["bans", "import", str(path)])
    assert "3 lines read, 2 created, 0 already present, 1 rejected" in result.output, result.output
    assert "line 2" in result.output and "avatars" in result.output
    with app.app_context():
        kinds = sorted(db.session.scalars(sa.select(BanAvatar.kind)))
    assert kinds == sorted(["hash", "image", *VARIANTS])
    again = runner.invoke(args=["bans", "import", str(path)])
    assert "0 created, 2 already present" in again.output, again.output
    assert avatar_reasons(check(client, headers, avatar=encode(jpeg(BANNED))))


def test_an_engine_built_afresh_loads_the_banned_avatars(app, client, headers):
    from registry.check.index import get_index

    ban = ban_account_with_avatar(client, headers)
    with app.app_context():
        engine = get_index(app)
        engine.rebuild()
        assert len(engine.avatars) == 1 + len(VARIANTS)
    assert [r["ban_id"] for r in avatar_reasons(check(client, headers, avatar=encode(caption(BANNED))))] == [
        ban["id"]
    ]


def test_an_import_fingerprint_rests_on_the_whole_image_hash_only():
    # Bans imported before a recipe change hold other variants (crops, tone) for the same image; the
    # import must still find them when the same file is read again.
    prepared = prepare_ban(
        {"avatars": [encode(BANNED)], "reason": "r", "rule": "R1"}, PiiHasher(b"k" * 32, 1)
    )
    assert len(prepared.avatars) == 1 + len(VARIANTS)
    older = replace(prepared, avatars=[a for a in prepared.avatars if a[0] in ("image", "crop", "band")])
    other = prepare_ban({"avatars": [encode(OTHER)], "reason": "r", "rule": "R1"}, PiiHasher(b"k" * 32, 1))
    assert fingerprint(older) == fingerprint(prepared) != fingerprint(other)
