"""Account-name rules on POST /v1/accounts and PATCH /v1/accounts/{id}, over HTTP on the real database."""

from __future__ import annotations

import itertools
import random

import pytest
import sqlalchemy as sa

from registry.accounts.models import Account
from registry.audit.models import AuditEntry
from registry.audit.service import opened_entries
from registry.check.models import CheckRecord
from registry.extensions import db
from registry.index_changes import IndexChange
from registry.reviews.models import Review

USCC = "91350100M000100Y43"


@pytest.fixture
def headers(auth):
    return auth("accounts:read", "accounts:write", "verification:write", name="signup")


def create(client, headers, account_id="u1", **body):
    body = {"id": account_id, "username": f"user_{account_id}", **body}
    return client.post("/v1/accounts", json=body, headers=headers)


def audit(app, action):
    with app.app_context():
        return opened_entries(
            db.session.scalars(
                sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
            ).all()
        )


@pytest.mark.parametrize(
    ("field", "name", "term"),
    [
        ("display_name", "人民日报", "人民日报"),
        ("display_name", "新华社官方", "新华社"),
        ("username", "xinhua_news", "Xinhua News"),
    ],
)
def test_impersonation_is_refused_on_create(app, client, headers, field, name, term):
    response = create(client, headers, **{field: name})
    assert response.status_code == 422
    message = response.json["errors"]["json"][field][0]
    assert "impersonation" in message and term in message
    with app.app_context():
        assert db.session.get(Account, "u1") is None


def test_impersonation_is_refused_on_rename(app, client, headers):
    assert create(client, headers, display_name="小王").status_code == 201
    response = client.patch("/v1/accounts/u1", json={"display_name": "人民日报评论"}, headers=headers)
    assert response.status_code == 422
    assert "impersonation" in response.json["errors"]["json"]["display_name"][0]
    assert client.get("/v1/accounts/u1", headers=headers).json["display_name"] == "小王"
    assert audit(app, "account.rename") == []


@pytest.mark.parametrize(
    ("field", "name", "code"),
    [
        ("display_name", "加微信abc123", "contact_in_name"),
        ("username", "vx: abc_123", "contact_in_name"),
        ("display_name", "13800138000找我", "contact_in_name"),
        ("display_name", "每日新闻", "news_word"),
        ("username", "news_daily", "news_word"),
        ("display_name", "中国好声音", "strict_review_word"),
        ("display_name", "全国美食", "strict_review_word"),
    ],
)
def test_review_words_pass_flagged_and_queued(app, client, headers, field, name, code):
    response = create(client, headers, **{field: name})
    assert response.status_code == 201, response.json
    flags = response.json["name_flags"]
    assert flags and {f["code"] for f in flags} == {code}
    assert all(f["field"] == field and f["decision"] == "review" for f in flags)
    (entry,) = audit(app, "account.create")
    assert entry.data["name_flags"] == flags
    with app.app_context():
        check = db.session.get(CheckRecord, entry.data["name_check_id"])
        assert check.decision == "review" and check.actor == "signup"
        assert [r["code"] for r in check.reasons] == [f["code"] for f in flags]
        review = db.session.scalars(sa.select(Review).where(Review.check_id == check.id)).one()
        assert review.status == "open"
    # Reads do not repeat the findings of the create.
    assert client.get("/v1/accounts/u1", headers=headers).json["name_flags"] == []


def test_news_licensed_account_may_use_news_words(app, client, headers):
    response = create(client, headers, display_name="每日新闻", news_licensed=True)
    assert response.status_code == 201
    assert response.json["name_flags"] == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CheckRecord)) == 0


def test_withdrawn_news_licence_rechecks_names(client, headers):
    create(client, headers, display_name="每日新闻", news_licensed=True)
    response = client.patch("/v1/accounts/u1", json={"news_licensed": False}, headers=headers)
    assert response.status_code == 200
    assert [f["code"] for f in response.json["name_flags"]] == ["news_word"]


def test_rename_is_audited_with_old_and_new_names(app, client, headers):
    create(client, headers, username="old_name", display_name="老王")
    response = client.patch(
        "/v1/accounts/u1", json={"username": "new_name", "display_name": "小王"}, headers=headers
    )
    assert response.status_code == 200, response.json
    assert response.json["username"] == "new_name" and response.json["display_name"] == "小王"
    assert response.json["name_flags"] == []
    (entry,) = audit(app, "account.rename")
    assert entry.actor == "signup" and entry.subject == "account:u1"
    assert entry.data == {
        "old": {"username": "old_name", "display_name": "老王"},
        "new": {"username": "new_name", "display_name": "小王"},
    }
    with app.app_context():
        account = db.session.get(Account, "u1")
        assert account.username_key and account.display_key


def test_rename_flags_review_words(app, client, headers):
    create(client, headers)
    response = client.patch("/v1/accounts/u1", json={"display_name": "加微信领红包"}, headers=headers)
    assert response.status_code == 200
    assert [f["code"] for f in response.json["name_flags"]] == ["contact_in_name"]
    (entry,) = audit(app, "account.rename")
    assert entry.data["name_flags"] == response.json["name_flags"]


def test_unchanged_rename_records_nothing(app, client, headers):
    create(client, headers, username="same")
    response = client.patch("/v1/accounts/u1", json={"username": "same"}, headers=headers)
    assert response.status_code == 200
    assert audit(app, "account.rename") == []


@pytest.mark.parametrize(
    ("body", "code"),
    [({}, 422), ({"username": ""}, 422), ({"username": 5}, 422), ({"display_name": "x" * 300}, 422)],
)
def test_rename_validation(client, headers, body, code):
    create(client, headers)
    assert client.patch("/v1/accounts/u1", json=body, headers=headers).status_code == code


def test_rename_needs_scope_and_account(client, auth, headers):
    create(client, headers)
    assert (
        client.patch("/v1/accounts/u1", json={"username": "x"}, headers=auth("accounts:read")).status_code
        == 403
    )
    assert client.patch("/v1/accounts/ghost", json={"username": "x"}, headers=headers).status_code == 404


def test_organization_may_carry_a_listed_name_for_review(client, headers):
    response = create(client, headers, account_type="organization", display_name="人民日报")
    assert response.status_code == 201, response.json
    assert [(f["code"], f["decision"]) for f in response.json["name_flags"]] == [("impersonation", "review")]


@pytest.fixture
def synced(app_factory, auth):
    app = app_factory(ban_sync_seconds=0)
    return app, app.test_client(), auth(app=app, name="signup")


def test_verified_organisation_name_is_protected(synced):
    app, client, headers = synced
    assert (
        create(client, headers, "o1", account_type="organization", display_name="小米科技").status_code == 201
    )
    verified = client.put(
        "/v1/accounts/o1/verification",
        json={
            "status": "verified",
            "method": "uscc",
            "entity": {"name": "北京小米科技有限责任公司", "uscc": USCC},
        },
        headers=headers,
    )
    assert verified.status_code == 200, verified.json
    copycat = create(client, headers, "u2", display_name="小米科技")
    assert copycat.status_code == 422
    assert "platform_verified" in copycat.json["errors"]["json"]["display_name"][0]
    # The organisation itself may rename within its entity name, and the new name is protected instead.
    own = client.patch("/v1/accounts/o1", json={"display_name": "小米科技官方"}, headers=headers)
    assert own.status_code == 200, own.json
    stray = client.patch("/v1/accounts/o1", json={"display_name": "快手直播"}, headers=headers)
    assert (
        stray.status_code == 422
        and "revoke the verification first" in stray.json["errors"]["json"]["display_name"][0]
    )
    with app.app_context():
        ops = db.session.scalars(
            sa.select(IndexChange.kind).where(IndexChange.subject == "o1").order_by(IndexChange.id)
        ).all()
    assert ops == ["protect", "protect"]


SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
    "魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红飞鹏辉宇浩凯健俊帆建国志文斌"
FIRST = [
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Nancy",
    "Matthew",
    "Lisa",
    "Anthony",
    "Betty",
    "Mark",
    "Sandra",
    "Paul",
    "Ashley",
]
LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
]


def ordinary_names(n: int, seed: int = 7) -> list[tuple[str, str]]:
    """Generate (username, display_name) pairs of ordinary Chinese and English people."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % 2:
            display = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
            username = f"user{rng.randrange(10_000)}"
        else:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            display = f"{first} {last}"
            username = rng.choice((f"{first}.{last}", f"{first.lower()}_{last.lower()}{rng.randrange(100)}"))
        out.append((username, display))
    return out


def test_ordinary_names_pass(client, headers):
    refused, flagged = [], []
    for i, (username, display) in zip(itertools.count(), ordinary_names(300)):
        response = create(client, headers, f"p{i}", username=username, display_name=display)
        if response.status_code != 201:
            refused.append((username, display, response.json))
        elif response.json["name_flags"]:
            flagged.append((username, display, response.json["name_flags"]))
    assert refused == []
    assert flagged == []


def test_entity_account_with_a_verified_entity_name_goes_to_review(synced):
    """An organisation's second account (here its public account) may carry its verified name: review,
    not refusal, whether or not the index has seen the first verification yet."""
    app, client, headers = synced
    assert (
        create(client, headers, "o1", account_type="organization", display_name="小米科技").status_code == 201
    )
    verified = client.put(
        "/v1/accounts/o1/verification",
        json={
            "status": "verified",
            "method": "uscc",
            "entity": {"name": "北京小米科技有限责任公司", "uscc": USCC},
        },
        headers=headers,
    )
    assert verified.status_code == 200, verified.json
    public = create(client, headers, "p1", account_type="public", display_name="小米科技")
    assert public.status_code == 201, public.json
    assert [(f["code"], f["rule"], f["decision"]) for f in public.json["name_flags"]] == [
        ("impersonation", "platform_verified", "review")
    ]
