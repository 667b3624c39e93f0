"""API.md, "POST /v1/check": decisions, reasons, identifier normalisation and disguised names."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from contract_support import ID_NUMBER, PHONE, assert_error, iso, reasons_of

EMAIL = "Zhang.San@Gmail.com"
DEVICE = "D5A93145EE"


@pytest.fixture
def banned(make_ban):
    """An active ban with one of each identifier, a Latin and a Chinese name."""
    return make_ban(
        identifiers={
            "email": [EMAIL],
            "phone": [PHONE],
            "id_number": [ID_NUMBER],
            "device_id": [DEVICE],
            "ip": ["198.51.100.0/24", "203.0.113.7"],
        },
        names=["dragonslayer_88", "欧阳锋"],
    )


def test_request_and_response_example(check, banned):
    """Request (only `username` is required): the contract's example body; response 200 with
    `decision`, `check_id` and `reasons` [{code, field, ban_id}, {code, field, ban_id, score, matched}]."""
    result = check(
        username="dragonslayer_89",
        display_name="张三",
        email="a@b.com",
        phone=PHONE,
        id_number="11010519491231002X",
        device_id="d5a93145...",
        ip="203.0.113.8",
        account_type="personal",
    )
    assert result["decision"] == "deny"
    identifier = reasons_of(result, "banned_identifier")
    assert {(r["field"], r["ban_id"]) for r in identifier} >= {
        ("phone", banned["id"]),
        ("id_number", banned["id"]),
    }
    (name,) = [r for r in reasons_of(result, "similar_to_banned_name") if r["field"] == "username"]
    assert name["ban_id"] == banned["id"]
    assert isinstance(name["score"], int | float) and 0 <= name["score"] <= 100
    assert name["matched"] == "dragonslayer_88"


def test_only_username_is_required(api):
    """Request (only `username` is required)."""
    assert api("POST", "/v1/check", json={"username": "just_a_name"}).status_code == 200
    response = api("POST", "/v1/check", json={"display_name": "张三"})
    assert_error(response, 422)
    assert "username" in response.get_json()["errors"]["json"]


def test_innocent_signup_is_allowed(check, banned):
    """`decision` is `allow`, `review` or `deny` (an unrelated signup is allowed, with no ban reasons)."""
    result = check(
        username="sunflower_lover",
        display_name="李四",
        email="li.si@example.com",
        phone="+86 139 1234 5678",
        id_number="440524188001010014",
        device_id="other-device",
        ip="192.0.2.1",
        account_type="personal",
    )
    assert result["decision"] == "allow", result
    assert not reasons_of(result, "banned_identifier")
    assert not reasons_of(result, "similar_to_banned_name")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "zhang.san@gmail.com"),  # case
        ("email", "ZHANG.SAN@GMAIL.COM"),
        ("email", "  zhang.san@gmail.com "),  # spacing
        ("email", "zhangsan@gmail.com"),  # Gmail ignores dots
        ("email", "z.h.a.n.g.s.a.n@gmail.com"),
        ("email", "zhang.san+promo@gmail.com"),  # Gmail cuts +tags
        ("email", "Zhang.San+x.y@Gmail.com"),
        ("email", "zhangsan@googlemail.com"),  # Gmail's other domain
        ("phone", "13800138000"),
        ("phone", "+8613800138000"),
        ("phone", "008613800138000"),  # 0086 prefix
        ("phone", "0086 138 0013 8000"),
        ("phone", "+86-138-0013-8000"),
        ("phone", "138 0013 8000"),  # spacing
        ("phone", "１３８００１３８０００"),  # full-width digits
        ("phone", "+８６ １３８ ００１３ ８０００"),
        ("id_number", "11010519491231002x"),  # case of the check character
        ("id_number", " 110105 19491231 002X "),  # spacing
        ("id_number", "１１０１０５１９４９１２３１００２Ｘ"),  # full-width
        ("device_id", "d5a93145ee"),  # case
        ("device_id", " D5A93145EE "),
    ],
)
def test_normalised_identifier_is_denied(check, banned, field, value):
    """An identifier (email, phone, id_number, device_id) that equals one of an active ban's identifiers
    after normalisation (case, spacing, full-width digits, +86/0086 prefixes, the address rules of the
    mail provider, ...) gives `deny` with reason `banned_identifier`."""
    result = check(username="fresh_start_2024", **{field: value})
    assert result["decision"] == "deny", result
    assert {"code": "banned_identifier", "field": field, "ban_id": banned["id"]}.items() <= (
        reasons_of(result, "banned_identifier")[0].items()
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "zhang.san@example.com"),  # dots matter outside Gmail's rules
        ("email", "zhangsan1@gmail.com"),
        ("phone", "+86 138 0013 8001"),
        ("id_number", "440524188001010014"),
        ("device_id", "d5a93145ef"),
    ],
)
def test_near_identifiers_are_not_denied(check, banned, field, value):
    """(Normalisation does not over-match: a different identifier is not `banned_identifier`.)"""
    result = check(username="fresh_start_2024", **{field: value})
    assert not reasons_of(result, "banned_identifier"), result
    assert result["decision"] != "deny"


@pytest.mark.parametrize("ip", ["198.51.100.1", "198.51.100.254", "203.0.113.7", "::ffff:203.0.113.7"])
def test_ip_in_a_ban_gives_review(check, banned, ip):
    """An IP address inside a ban's addresses or CIDR ranges gives `review` with the same reason."""
    result = check(username="fresh_start_2024", ip=ip)
    assert result["decision"] == "review", result
    (reason,) = reasons_of(result, "banned_identifier")
    assert reason["field"] == "ip" and reason["ban_id"] == banned["id"]


@pytest.mark.parametrize("ip", ["198.51.101.1", "203.0.113.8", "2001:db8::1"])
def test_ip_outside_a_ban_is_allowed(check, banned, ip):
    """(An address outside every banned range is not a reason.)"""
    result = check(username="fresh_start_2024", ip=ip)
    assert result["decision"] == "allow", result


LATIN = [
    ("username", "drаgonslayer_88"),  # Cyrillic а
    ("username", "ԁragonѕlayer_88"),  # Cyrillic ԁ and ѕ
    ("username", "ｄｒａｇｏｎｓｌａｙｅｒ＿８８"),  # full-width forms
    ("username", "DragonSlayer_88"),  # case
    ("username", "dr4g0nsl4yer_88"),  # digits for letters
    ("username", "drag0n5layer_88"),
    ("username", "dragon\u200bslayer_88"),  # zero-width space
    ("username", "drag\u200don\u2060slayer_88"),  # zero-width joiner, word joiner
    ("username", "dragon.slayer.88"),  # separators
    ("username", "dragon-slayer_88"),
    ("username", "d_r_a_g_o_n_slayer88"),
    ("username", "dragonslayer_99"),  # changed number suffix
    ("username", "dragonslayer2024"),
    ("username", "dragonslayer"),
    ("username", "dragonslayr_88"),  # small typos
    ("username", "dargonslayer_88"),
    ("username", "dragonsslayer_88"),
    ("display_name", "Dragon Slayer 88"),
]
CHINESE = [
    ("display_name", "歐陽鋒"),  # Traditional
    ("display_name", "ouyangfeng"),  # pinyin
    ("display_name", "Ouyang Feng"),
    ("username", "ouyang_feng"),
    ("display_name", "欧 阳 锋"),  # separators
    ("display_name", "欧\u200b阳锋"),  # invisible
]


@pytest.mark.parametrize(("field", "value"), LATIN + CHINESE)
def test_disguised_names_give_at_least_review(check, banned, field, value):
    """A username or display name that is a disguised form of an active ban's name (look-alike letters,
    full-width forms, digits for letters, invisible characters, separators, changed number suffix, small
    typos, Traditional/Simplified Chinese, pinyin of a Chinese name, ...) gives at least `review` with
    reason `similar_to_banned_name` and a `score` from 0 to 100."""
    body = {"username": "harmless_visitor", field: value}
    result = check(**body)
    assert result["decision"] in ("review", "deny"), result
    names = [r for r in reasons_of(result, "similar_to_banned_name") if r["field"] == field]
    assert names, result
    reason = names[0]
    assert reason["ban_id"] == banned["id"]
    assert isinstance(reason["score"], int | float) and 0 <= reason["score"] <= 100
    assert reason["matched"] in ("dragonslayer_88", "欧阳锋")


def test_simplified_name_matches_a_traditional_ban(make_ban, check):
    """Traditional/Simplified Chinese works both ways: a ban on a Traditional name catches the Simplified."""
    ban = make_ban(names=["歐陽鋒"])
    result = check(username="harmless_visitor", display_name="欧阳锋")
    assert result["decision"] in ("review", "deny")
    assert reasons_of(result, "similar_to_banned_name")[0]["ban_id"] == ban["id"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("username", "sunflower_lover"), ("display_name", "李四"), ("display_name", "Moonwalker")],
)
def test_unrelated_names_are_allowed(check, banned, field, value):
    """(An innocent name is not `similar_to_banned_name`.)"""
    result = check(**{"username": "harmless_visitor", field: value})
    assert result["decision"] == "allow", result


def test_lifted_ban_no_longer_counts(api, check, banned):
    """Bans that are lifted ... no longer count."""
    assert check(phone=PHONE)["decision"] == "deny"
    assert api("POST", f"/v1/bans/{banned['id']}/lift", json={"reason": "appeal upheld"}).status_code == 200
    result = check(
        username="dragonslayer_88",
        display_name="欧阳锋",
        phone=PHONE,
        email=EMAIL,
        id_number=ID_NUMBER,
        device_id=DEVICE,
        ip="203.0.113.7",
    )
    assert result["decision"] == "allow", result


def test_expired_ban_no_longer_counts(api, check, make_ban):
    """Bans that are ... past `expires_at` no longer count; `GET /v1/bans/{id}` then says `expired`."""
    expires = datetime.now(UTC) + timedelta(seconds=4)
    ban = make_ban(
        identifiers={"device_id": ["short-lived-device"]}, names=["shortlived_name"], expires_at=iso(expires)
    )
    assert check(device_id="short-lived-device")["decision"] == "deny"
    assert api("GET", f"/v1/bans/{ban['id']}").get_json()["status"] == "active"
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.3)
    result = check(username="shortlived_name", device_id="short-lived-device")
    assert result["decision"] == "allow", result
    assert api("GET", f"/v1/bans/{ban['id']}").get_json()["status"] == "expired"


def test_reasons_never_contain_the_banned_persons_data(check, banned):
    """Reasons name the ban, never the banned person's data."""
    result = check(
        username="fresh_start_2024",
        email="zhangsan+x@gmail.com",
        phone="13800138000",
        id_number="11010519491231002x",
        device_id="d5a93145ee",
        ip="198.51.100.9",
    )
    assert result["decision"] == "deny"
    text = json.dumps(result["reasons"], ensure_ascii=False).lower()
    for secret in (
        "zhang.san",
        "zhangsan",
        "gmail",
        "13800138000",
        "0013",
        "8000",
        "11010519491231002x",
        "19491231",
        "d5a93145ee",
        "198.51.100",
        "203.0.113",
    ):
        assert secret not in text, (secret, text)
