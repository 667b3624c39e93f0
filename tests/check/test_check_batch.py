"""POST /v1/check/batch: each answer is what POST /v1/check gives, in order; errors name the item."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from registry.check.models import CheckRecord
from registry.extensions import db
from registry.reviews.models import Review

BODIES = [
    {"username": "innocent_user"},
    {"username": "zhangsam_88"},  # a look-alike of a banned name: review
    {"username": "someone_else", "phone": "+86 138 0013 8000"},  # a banned phone: deny
    {"username": "plain", "email": "not-an-email"},  # an invalid identifier is a reason, not an error
    {"username": "another_one", "display_name": "Wang Wei", "account_type": "personal"},
]


@pytest.fixture
def app(app_factory):
    return app_factory(ban_sync_seconds=0)


@pytest.fixture
def headers(auth):
    return auth("check", "bans:write", name="batch")


@pytest.fixture
def banned(client, headers):
    for body in ({"names": ["zhangsan_88"]}, {"identifiers": {"phone": ["+86 138 0013 8000"]}}):
        response = client.post("/v1/bans", json={**body, "reason": "spam", "rule": "R1"}, headers=headers)
        assert response.status_code == 201, response.json


def without_id(answer):
    return {k: v for k, v in answer.items() if k != "check_id"}


def count(app, model):
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_each_answer_is_the_single_check_answer_in_order(app, client, headers, banned):
    singles = [client.post("/v1/check", json=b, headers=headers).json for b in BODIES]
    reviews_before, checks_before = count(app, Review), count(app, CheckRecord)
    response = client.post("/v1/check/batch", json={"checks": BODIES}, headers=headers)
    assert response.status_code == 200, response.json
    results = response.json["results"]
    assert [without_id(r) for r in results] == [without_id(s) for s in singles]
    assert [r["decision"] for r in results][:3] == ["allow", "review", "deny"]
    assert len({r["check_id"] for r in results}) == len(BODIES)
    # Stored and reviewed as single checks are: one review per review, one record per flagged check.
    flagged = sum(1 for s in singles if s["decision"] != "allow")
    assert count(app, CheckRecord) - checks_before == flagged
    assert count(app, Review) - reviews_before == sum(1 for s in singles if s["decision"] == "review")
    with app.app_context():
        review = db.session.scalar(sa.select(Review).where(Review.check_id == results[1]["check_id"]))
        assert review is not None and review.status == "open"


@pytest.mark.parametrize(
    ("checks", "field"),
    [
        (
            [{"username": "a"}, {"username": "b"}, {"username": "c"}, {"username": "d", "email": 5}],
            "checks[3].email",
        ),
        ([{"username": "a"}, {"display_name": "no username"}], "checks[1].username"),
        ([{"username": "a", "account_type": "robot"}], "checks[0].account_type"),
        ([{"username": "a"}, "not an object"], "checks[1]"),
        ([], "checks"),
        ([{"username": "x"}] * 1001, "checks"),
    ],
)
def test_errors_name_the_item_and_field(client, headers, checks, field):
    response = client.post("/v1/check/batch", json={"checks": checks}, headers=headers)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["json"], response.json
    assert field in response.json["message"]


def test_a_thousand_checks_in_one_request_and_the_scope(client, headers, auth):
    bodies = [{"username": f"user_{i}"} for i in range(1000)]
    response = client.post("/v1/check/batch", json={"checks": bodies}, headers=headers)
    assert response.status_code == 200
    assert len(response.json["results"]) == 1000
    assert (
        client.post("/v1/check/batch", json={"checks": bodies[:1]}, headers=auth("bans:read")).status_code
        == 403
    )
