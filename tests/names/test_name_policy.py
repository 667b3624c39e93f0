"""Account-name rules: what each rule catches, what ordinary names pass, and how fast."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.name_rules import NameFinding, NamePolicy, contact_fold


@pytest.fixture(scope="module")
def policy() -> NamePolicy:
    return NamePolicy.from_defaults()


def keys(findings: list[NameFinding]) -> set[tuple[str, str]]:
    return {(f.code, f.rule) for f in findings}


@pytest.mark.parametrize(
    ("name", "rule", "term"),
    [
        ("人民日报", "state_media", "人民日报"),
        ("人民 日报", "state_media", "人民日报"),
        ("人民\u200b日报", "state_media", "人民日报"),
        ("人民日報", "state_media", "人民日报"),
        ("新華社", "state_media", "新华社"),
        ("ＣＣＴＶ官方", "state_media", "CCTV"),
        ("cctv-13 新闻", "state_media", "CCTV"),
        ("央視官方", "state_media", "央视"),
        ("People's Daily", "state_media", "People's Daily"),
        ("Ｘｉｎｈｕａｎｅｔ", "state_media", "Xinhuanet"),
        ("公安部刑侦局", "state_organ", "公安部"),
        ("朝阳区派出所", "state_organ", "派出所"),
        ("最高人民法院", "judicial_organ", "最高人民法院"),
        ("中国人民解放军", "military_organ", "中国人民解放军"),
        ("共青团中央", "party_organ", "共青团中央"),
    ],
)
def test_impersonation_catches_disguised_organs_and_media(
    policy: NamePolicy, name: str, rule: str, term: str
) -> None:
    findings = [f for f in policy.evaluate(name, field="display_name") if f.code == "impersonation"]
    assert [(f.rule, f.term, f.decision) for f in findings] == [(rule, term, "deny")]


def test_finding_names_the_listed_term_not_the_input(policy: NamePolicy) -> None:
    [finding] = policy.evaluate("我是人民 日报的粉丝", field="display_name")
    assert finding == NameFinding(
        code="impersonation", field="display_name", rule="state_media", term="人民日报", decision="deny"
    )


def test_longer_match_swallows_news_and_strict_words_inside_it(policy: NamePolicy) -> None:
    assert keys(policy.evaluate("中央电视台", field="display_name")) == {("impersonation", "state_media")}


def test_platform_verified_names_are_protected_at_runtime() -> None:
    policy = NamePolicy.from_defaults()
    assert policy.evaluate("小米手机官方", field="display_name") == []
    policy.add_protected("小米手机")
    [finding] = policy.evaluate("小 米 手 機 官方", field="display_name")
    assert (finding.code, finding.rule, finding.term) == ("impersonation", "platform_verified", "小米手机")
    assert policy.remove_protected("小米手机") is True
    assert policy.remove_protected("小米手机") is False
    assert policy.evaluate("小米手机官方", field="display_name") == []


def test_add_protected_refuses_names_too_short_to_match_safely() -> None:
    with pytest.raises(ValueError, match="too short"):
        NamePolicy.from_defaults().add_protected("Ａ")


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("13800138000", "phone"),
        ("V 1 3 8 0 0 1 3 8 0 0 0", "phone"),
        ("１３８００１３８０００", "phone"),
        ("一三八零零一三八零零零", "phone"),
        ("壹叁捌零零壹叁捌零零零", "phone"),
        ("138-0013-8000", "phone"),
        ("+86 138 0013 8000", "phone"),
        ("138OO138OOO", "phone"),
        ("张三13800138000", "phone"),
        ("010-12345678", "phone"),
        ("www.example.com", "url"),
        ("https://t.cn/abc", "url"),
        ("看片去abc点com", "url"),
        ("ａｂｃ．ｃｏｍ", "url"),
        ("微信:lily_2020", "wechat"),
        ("vx: abc_123", "wechat"),
        ("qq:12345678", "qq"),
        ("扣扣 123456789", "qq"),
        ("加微信", "solicitation"),
        ("加 V", "solicitation"),
        ("+v", "solicitation"),
        ("薇信", "solicitation"),
        ("威信", "solicitation"),
        ("扣扣交友", "solicitation"),
        ("企鹅号", "solicitation"),
        ("私聊", "solicitation"),
        ("add me on WeChat", "solicitation"),
    ],
)
def test_contact_in_name(policy: NamePolicy, name: str, rule: str) -> None:
    findings = policy.evaluate(name, field="username")
    assert ("contact_in_name", rule) in keys(findings)
    assert all(f.decision == "review" for f in findings if f.code == "contact_in_name")


def test_contact_finding_does_not_echo_the_number(policy: NamePolicy) -> None:
    [finding] = policy.evaluate("13800138000", field="username")
    assert "138" not in finding.term


def test_contact_fold_joins_digits_and_reads_chinese_numerals() -> None:
    assert contact_fold("V 1 3 8 ０ 零-一") == "v 138001"


@pytest.mark.parametrize(
    "name", ["科技新闻", "本地快讯", "每日资讯", "城市晚报", "财经报道", "东方电视台", "新 聞 站"]
)
def test_news_words_need_a_licence(policy: NamePolicy, name: str) -> None:
    assert ("news_word", "news_word") in keys(policy.evaluate(name, field="display_name"))
    assert policy.evaluate(name, field="display_name", news_licensed=True) == []


@pytest.mark.parametrize(
    "name", ["中国好声音粉丝", "中華美食", "全国车友会", "国家地理爱好者", "中央厨房", "China Fans"]
)
def test_strict_review_words(policy: NamePolicy, name: str) -> None:
    [finding] = policy.evaluate(name, field="display_name")
    assert (finding.code, finding.decision) == ("strict_review_word", "review")


def test_prohibited_terms_deny_by_default(policy: NamePolicy) -> None:
    [finding] = policy.evaluate("官 方 认 证", field="display_name")
    assert (finding.code, finding.term, finding.decision) == ("prohibited_term", "官方认证", "deny")


@pytest.mark.parametrize(
    "name",
    [
        "王建国", "张国家", "王中华", "李中国", "欧阳中华", "刘新华", "陈卫国", "王一博", "张三",
        "lily1990", "wang_138", "zhangwei19900101", "tom_cat", "xinhua2008", "lvxin", "wxm1988",
        "eric.wang", "peter.ren", "电子商务部小王", "科技部落", "user_1690000000",
    ],
)  # fmt: skip
def test_ordinary_names_pass(policy: NamePolicy, name: str) -> None:
    field = "username" if name.isascii() else "display_name"
    assert policy.evaluate(name, field=field) == []


def test_strict_word_in_a_name_shaped_string_still_counts_outside_the_given_name(policy: NamePolicy) -> None:
    assert policy.evaluate("中国", field="display_name") != []
    assert policy.evaluate("国家队", field="display_name") != []


def test_at_most_one_finding_per_code_and_rule_in_a_fixed_order(policy: NamePolicy) -> None:
    findings = policy.evaluate("中国新闻 人民日报 新华社 加微信 13800138000 国家", field="display_name")
    assert len(keys(findings)) == len(findings)
    assert [f.code for f in findings] == [
        "impersonation",
        "contact_in_name",
        "contact_in_name",
        "news_word",
        "strict_review_word",
    ]
    assert findings == policy.evaluate(
        "中国新闻 人民日报 新华社 加微信 13800138000 国家", field="display_name"
    )


def test_field_is_checked_and_echoed(policy: NamePolicy) -> None:
    assert policy.evaluate("新华社", field="username")[0].field == "username"
    with pytest.raises(ValueError, match="field"):
        policy.evaluate("新华社", field="bio")


def test_empty_and_symbol_only_names_pass(policy: NamePolicy) -> None:
    assert policy.evaluate("", field="username") == []
    assert policy.evaluate("\u200b\u200b★", field="display_name") == []


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.sampled_from(["username", "display_name"]), st.booleans())
def test_evaluate_never_raises(name: str, field: str, licensed: bool) -> None:
    findings = NamePolicy.from_defaults().evaluate(name, field=field, news_licensed=licensed)
    assert all(f.decision in ("review", "deny") and f.field == field for f in findings)


def test_short_name_is_fast(policy: NamePolicy) -> None:
    names = ["张伟的小店", "lily1990", "人民日报", "V 1 3 8 0 0 1 3 8 0 0 0"] * 500
    for name in names[:4]:
        policy.evaluate(name, field="display_name")
    started = time.perf_counter()
    for name in names:
        policy.evaluate(name, field="display_name")
    per_name = (time.perf_counter() - started) / len(names)
    # The target is ~50 us; the bound is loose so a busy CI machine does not fail it.
    assert per_name < 500e-6


@pytest.mark.parametrize("name", ["a." * 2500, "1" * 5000, "中国" * 2500, "qq" * 2500])
def test_long_input_stays_linear(policy: NamePolicy, name: str) -> None:
    started = time.perf_counter()
    policy.evaluate(name, field="username")
    assert time.perf_counter() - started < 0.2


def test_add_protected_many_builds_once_and_reports_short_names():
    policy = NamePolicy.from_defaults()
    refused = policy.add_protected_many(["星河科技有限公司", "云上书店", "ab"])
    assert refused == ["ab"]
    codes = {(f.code, f.rule) for f in policy.evaluate("星河科技有限公司粉丝团", field="display_name")}
    assert ("impersonation", "platform_verified") in codes
    assert policy.evaluate("云上 书店", field="display_name")
