import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.identifiers.normalize import (
    FIELDS,
    MAILBOX_RULES,
    InvalidIdentifier,
    normalize,
    normalize_device_id,
    normalize_email,
    normalize_id_number,
    normalize_ip,
    normalize_ip_or_network,
    normalize_phone,
    normalize_uscc,
)

# phonenumbers loads its metadata lazily, so the first example of a run can be slow.
slow = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

FULL_WIDTH = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)})


def full_width(s: str) -> str:
    return s.translate(FULL_WIDTH)


# --- email -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("  Zhang.San+spam@GoogleMail.com ", "zhangsan@gmail.com"),
        ("ｚｈａｎｇ．ｓａｎ＠ｇｍａｉｌ．ｃｏｍ", "zhangsan@gmail.com"),
        ("x+y@Hotmail.com", "x@hotmail.com"),
        ("x+y@outlook.com", "x@outlook.com"),
        ("base-shopping@yahoo.com", "base@yahoo.com"),
        ("a+b@me.com", "a@icloud.com"),
        ("a+b@mac.com", "a@icloud.com"),
        ("a+b@pm.me", "a@proton.me"),
        ("a+b@protonmail.com", "a@proton.me"),
        ("a+b@fastmail.com", "a@fastmail.com"),
        ("123456@QQ.com", "123456@qq.com"),
        ("Wang.Wu+x@163.com", "wang.wu+x@163.com"),
        ("a+b@unknown.example", "a+b@unknown.example"),
        ("a.b@unknown.example.", "a.b@unknown.example"),
        ("u@Bücher.example", "u@xn--bcher-kva.example"),
        ("张三@例子.中国", "张三@xn--fsqu00a.xn--fiqs8s"),
    ],
)
def test_email_canonical_forms(raw: str, canonical: str) -> None:
    assert normalize_email(raw) == canonical


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("a@outlook.com", "a@hotmail.com"),
        ("a@163.com", "a@126.com"),
        ("a@126.com", "a@yeah.net"),
        ("name@qq.com", "name@foxmail.com"),
        ("a.b@outlook.com", "ab@outlook.com"),
        ("a.b@unknown.example", "ab@unknown.example"),
        ("a-b@gmail.com", "a@gmail.com"),
        ("a@fastmail.com", "a@fastmail.fm"),
    ],
)
def test_distinct_mailboxes_stay_distinct(a: str, b: str) -> None:
    assert normalize_email(a) != normalize_email(b)


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "no-at-sign", "@gmail.com", "a@", "a@b", "a@1.2.3.4", "a..b@x.com", ".a@x.com", "a b@x.com",
     "+tag@gmail.com", "a@-x.com", "a@x..com", "a@@x.com", "x" * 65 + "@x.com"],
)  # fmt: skip
def test_invalid_emails(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        normalize_email(raw)
    assert info.value.field == "email"


def test_every_provider_rule_is_keyed_by_an_ascii_lower_case_domain() -> None:
    for domain in MAILBOX_RULES:
        assert domain == domain.lower() and domain.isascii()
        assert normalize_email(f"someone@{domain}").endswith("@" + (MAILBOX_RULES[domain].domain or domain))


gmail_locals = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=20)


@st.composite
def gmail_variants(draw: st.DrawFn) -> tuple[str, str]:
    base = draw(gmail_locals)
    spelled = ""
    for i, ch in enumerate(base):
        spelled += ch.upper() if draw(st.booleans()) else ch
        if 0 < i + 1 < len(base) and draw(st.booleans()):
            spelled += "."
    tag = draw(
        st.one_of(st.just(""), st.text(alphabet=string.ascii_letters + "-_+", max_size=10).map("+{}".format))
    )
    domain = draw(st.sampled_from(["gmail.com", "GMail.com", "googlemail.com", "GOOGLEMAIL.COM"]))
    raw = f"{spelled}{tag}@{domain}"
    if draw(st.booleans()):
        raw = full_width(raw)
    return base, raw


@given(gmail_variants())
def test_gmail_dot_tag_case_and_domain_variants_are_one_mailbox(variant: tuple[str, str]) -> None:
    base, raw = variant
    assert normalize_email(raw) == f"{base}@gmail.com"


@given(gmail_locals, gmail_locals)
def test_different_gmail_mailboxes_stay_different(a: str, b: str) -> None:
    if a != b:
        assert normalize_email(f"{a}@gmail.com") != normalize_email(f"{b}@gmail.com")


local_chars = string.ascii_letters + string.digits + ".+-_'张三ÄßİＡ"
email_like = st.builds(
    "{}@{}".format,
    st.text(alphabet=local_chars, min_size=1, max_size=20),
    st.one_of(
        st.sampled_from(sorted(MAILBOX_RULES)), st.sampled_from(["Example.COM", "bücher.de", "例子.中国"])
    ),
)


@given(st.one_of(email_like, st.emails(), st.text(max_size=40)))
def test_email_normalisation_is_idempotent(raw: str) -> None:
    try:
        once = normalize_email(raw)
    except InvalidIdentifier:
        return
    assert normalize_email(once) == once


# --- phone -------------------------------------------------------------------------------------

cn_mobiles = st.builds(
    "{}{}".format,
    st.sampled_from(["130", "133", "135", "138", "139", "150", "153", "158", "180", "186", "188", "199"]),
    st.text(alphabet=string.digits, min_size=8, max_size=8),
)


def spaced(number: str, sep: str) -> str:
    return f"{number[:3]}{sep}{number[3:7]}{sep}{number[7:]}"


@slow
@given(
    cn_mobiles,
    st.sampled_from(["", "+86", "+86 ", "0086", "0086 ", "86", "(+86) "]),
    st.sampled_from(["", " ", "-", ".", " - "]),
    st.booleans(),
)
def test_phone_formatting_variants_normalise_equal(number: str, prefix: str, sep: str, wide: bool) -> None:
    raw = prefix + spaced(number, sep)
    if wide:
        raw = full_width(raw)
    assert normalize_phone(raw) == "+86" + number


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("+86 10 1234 5678", "+861012345678"),
        ("010-1234-5678", "+861012345678"),
        ("+1 (650) 253-0000", "+16502530000"),
        ("0044 20 7946 0958", "+442079460958"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_phone_canonical_forms(raw: str, canonical: str) -> None:
    assert normalize_phone(raw) == canonical


def test_phone_default_region() -> None:
    assert normalize_phone("(650) 253-0000", default_region="US") == "+16502530000"


INVALID_PHONES = ["", "12345", "1-800-FLOWERS", "tel:+8613800138000", "+86 138 0013 8000 ext 12",
                  "+86 1380013800", "+8613800138000+", "++8613800138000", "１２"]  # fmt: skip


@pytest.mark.parametrize("raw", INVALID_PHONES)
def test_invalid_phones(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        normalize_phone(raw)
    assert info.value.field == "phone"


@slow
@given(st.one_of(cn_mobiles, st.text(alphabet="+0123456789 -().", max_size=20), st.text(max_size=20)))
def test_phone_normalisation_is_idempotent(raw: str) -> None:
    try:
        once = normalize_phone(raw)
    except InvalidIdentifier:
        return
    assert normalize_phone(once) == once


# --- identity numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("11010519491231002x", "11010519491231002X"),
        (" 110105 19491231 002X ", "11010519491231002X"),
        ("１１０１０５１９４９１２３１００２ｘ", "11010519491231002X"),
        ("110105-19491231-002X", "11010519491231002X"),
        # First-generation 15-digit card of the same person.
        ("110105491231002", "11010519491231002X"),
        ("440524800101001", "440524198001010013"),
    ],
)
def test_id_number_canonical_forms(raw: str, canonical: str) -> None:
    assert normalize_id_number(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    [
        "110105194912310021",
        "110105194902301234",
        "110105490230123",
        "1101051949123100",
        "11010519491231002Y",
        "",
    ],
)
def test_invalid_id_numbers(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        normalize_id_number(raw)
    assert info.value.field == "id_number"


@given(st.one_of(st.text(alphabet="0123456789Xx ", min_size=14, max_size=19), st.text(max_size=20)))
def test_id_number_normalisation_is_idempotent(raw: str) -> None:
    try:
        once = normalize_id_number(raw)
    except InvalidIdentifier:
        return
    assert normalize_id_number(once) == once
    assert len(once) == 18


def test_uscc() -> None:
    assert normalize_uscc(" 91350100m000100y43 ") == "91350100M000100Y43"
    with pytest.raises(InvalidIdentifier):
        normalize_uscc("91350100M000100Y44")


# --- device ids and IPs ----------------------------------------------------------------------------


def test_device_id() -> None:
    assert normalize_device_id("  D5A9 3145\u200b-ABCD\t") == "d5a93145-abcd"
    assert normalize_device_id("ＡＢＣ") == "abc"
    for raw in ["", " \u200b ", "x" * 257]:
        with pytest.raises(InvalidIdentifier):
            normalize_device_id(raw)


@given(st.text(max_size=300))
def test_device_id_normalisation_is_idempotent(raw: str) -> None:
    try:
        once = normalize_device_id(raw)
    except InvalidIdentifier:
        return
    assert normalize_device_id(once) == once


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        (" 203.0.113.7 ", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("２０３.０.１１３.７", "203.0.113.7"),
    ],
)
def test_ip_canonical_forms(raw: str, canonical: str) -> None:
    assert normalize_ip(raw) == canonical


@pytest.mark.parametrize(
    "raw", ["203.0.113", "203.0.113.256", "010.0.0.1", "fe80::1%eth0", "203.0.113.0/24", "x"]
)
def test_invalid_ips(raw: str) -> None:
    with pytest.raises(InvalidIdentifier):
        normalize_ip(raw)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("203.0.113.0/24", "203.0.113.0/24"),
        ("203.0.113.7/24", "203.0.113.0/24"),  # host bits cleared
        ("203.0.113.7/32", "203.0.113.7"),
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8::1/48", "2001:db8::/48"),
        ("::ffff:203.0.113.0/120", "203.0.113.0/24"),
    ],
)
def test_ip_or_network_canonical_forms(raw: str, canonical: str) -> None:
    assert normalize_ip_or_network(raw) == canonical


@pytest.mark.parametrize("raw", ["0.0.0.0/0", "10.0.0.0/7", "::/0", "203.0.113.0/33", "203.0.113.0/x"])
def test_invalid_networks(raw: str) -> None:
    with pytest.raises(InvalidIdentifier):
        normalize_ip_or_network(raw)


# --- dispatch and hostile input ----------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)


@slow
@given(st.sampled_from(FIELDS), st.one_of(json_values, st.text(), st.binary()))
def test_only_invalid_identifier_escapes(field: str, value: object) -> None:
    try:
        result = normalize(field, value)
    except InvalidIdentifier as exc:
        assert exc.field == field
        return
    assert isinstance(result, str) and result
    assert normalize(field, result) == result


def test_unknown_field() -> None:
    with pytest.raises(InvalidIdentifier):
        normalize("password", "x")


@pytest.mark.parametrize(
    ("field", "raw"),
    [
        ("email", "zhang.san.secret@bad_domain"),
        ("email", "zhang..san@example.com"),
        ("phone", "+86 138 0013 800"),
        ("id_number", "110105194912310021"),
        ("device_id", "secret-device-" + "x" * 300),
        ("ip", "203.0.113.999"),
        ("email", "x" * 2000),
    ],
)
def test_messages_do_not_repeat_the_value(field: str, raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        normalize(field, raw)
    message = str(info.value)
    assert raw not in message and raw.strip() not in message
    assert "secret" not in message and "zhang" not in message and "0013" not in message
