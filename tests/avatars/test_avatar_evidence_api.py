"""A banned avatar as evidence over HTTP: alone a review, with a similar rare name a deny, lifted gone."""

from __future__ import annotations

import pytest

from avatars.images import crop, encode, jpeg, picture
from registry.check.index import get_index
from registry.extensions import db

BANNED = picture(303)
DISTINCT = picture(404)
BANNED_NAME = "moonlit_heron_qiu"
SIMILAR_NAME = "moonlit_heron_qiu7"


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


def avatar_reasons(result):
    return [r for r in result["reasons"] if r["code"] == "similar_to_banned_avatar"]


@pytest.fixture
def ban(client, headers):
    body = {"id": "u_ring", "username": BANNED_NAME, "avatar": encode(BANNED, "JPEG", quality=90)}
    post(client, headers, "/v1/accounts", body, 201)
    return post(client, headers, "/v1/bans", {"account_id": "u_ring", "reason": "spam", "rule": "R3"}, 201)


def test_the_banned_avatar_alone_gives_review_naming_the_ban_and_distance(client, headers, ban):
    result = check(client, headers, avatar=encode(jpeg(crop(BANNED, 0.10)), "JPEG"))
    assert result["decision"] == "review"
    (reason,) = avatar_reasons(result)
    assert reason["ban_id"] == ban["id"] and reason["field"] == "avatar"
    assert isinstance(reason["distance"], int) and 0 <= reason["distance"] <= 31


def test_a_one_sided_crop_of_the_banned_avatar_is_found(client, headers, ban):
    w, h = BANNED.size
    for box in ((int(w * 0.1), 0, w, h), (0, 0, w, h - int(h * 0.05))):
        result = check(client, headers, avatar=encode(jpeg(BANNED.crop(box)), "JPEG"))
        assert [r["ban_id"] for r in avatar_reasons(result)] == [ban["id"]], box


def test_the_avatar_with_a_similar_rare_name_gives_deny(client, headers, ban):
    name_only = check(client, headers, username=SIMILAR_NAME)
    assert name_only["decision"] == "review"
    both = check(client, headers, username=SIMILAR_NAME, avatar=encode(jpeg(BANNED), "JPEG"))
    assert both["decision"] == "deny"
    assert [r["ban_id"] for r in avatar_reasons(both)] == [ban["id"]]


def test_a_distinct_avatar_stays_allow(client, headers, ban):
    result = check(client, headers, avatar=encode(DISTINCT))
    assert result["decision"] == "allow" and result["reasons"] == []


def test_a_lifted_ban_stops_counting_on_every_worker(app, app_factory, client, headers, ban):
    probe = encode(jpeg(BANNED), "JPEG")
    assert avatar_reasons(check(client, headers, avatar=probe))  # this worker's engine holds the ban
    other = app_factory(ban_sync_seconds=0)
    with app.app_context():
        shared = db.engines[None]
    with other.app_context():
        db.engines[None] = shared
        db.session.remove()
    other_client = other.test_client()
    assert avatar_reasons(check(other_client, headers, avatar=probe))
    post(other_client, headers, f"/v1/bans/{ban['id']}/lift", {"reason": "appeal granted"}, 200)
    for worker, c in ((app, client), (other, other_client)):
        result = check(c, headers, avatar=probe, username=SIMILAR_NAME)
        assert avatar_reasons(result) == [] and result["decision"] != "deny"
        with worker.app_context():
            # Gone from the index itself after the sync, not only filtered by the database.
            assert len(get_index(worker).avatars) == 0


def test_a_hash_only_check_gets_mirror_and_crop_tolerance_from_its_probe_hashes(client, headers, ban):
    from PIL import ImageOps

    from registry.avatars import hash_image

    w, h = BANNED.size
    sent = hash_image(ImageOps.mirror(jpeg(BANNED.crop((0, 0, w - int(w * 0.05), h)))), centre=False)
    extra = [x for x in sent.probe_hashes() if x != sent.hash]
    assert avatar_reasons(check(client, headers, avatar_hash=sent.hash)) == []
    result = check(client, headers, avatar_hash=sent.hash, avatar_probe_hashes=extra)
    assert [r["ban_id"] for r in avatar_reasons(result)] == [ban["id"]]


def test_bad_probe_hashes_are_a_reason_or_a_422_when_too_many(client, headers):
    result = check(client, headers, avatar_hash="0" * 64, avatar_probe_hashes=["0" * 64, "nope"])
    assert [(r["code"], r["field"]) for r in result["reasons"]] == [
        ("invalid_avatar", "avatar_probe_hashes.1")
    ]
    response = client.post(
        "/v1/check",
        json={"username": "x", "avatar_hash": "0" * 64, "avatar_probe_hashes": ["0" * 64] * 17},
        headers=headers,
    )
    assert response.status_code == 422 and "avatar_probe_hashes" in response.json["errors"]["json"]
