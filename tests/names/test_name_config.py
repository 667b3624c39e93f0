"""Account-name rules configuration: operator files merged over the shipped defaults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from registry.name_rules import NamePolicy
from registry.name_rules.policy import DEFAULT_RULES_PATH


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "names.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_default_decisions() -> None:
    assert NamePolicy.from_defaults().decisions == {
        "impersonation": "deny",
        "prohibited_term": "deny",
        "contact_in_name": "review",
        "news_word": "review",
        "strict_review_word": "review",
    }


def test_shipped_impersonation_list_is_substantial() -> None:
    listed = NamePolicy.from_defaults().terms("impersonation")
    assert sum(len(terms) for terms in listed.values()) >= 50
    assert {"state_media", "state_organ", "judicial_organ", "military_organ", "party_organ"} <= set(listed)


def test_operator_file_overrides_decisions_and_adds_and_removes_terms(tmp_path: Path) -> None:
    policy = NamePolicy.from_file(
        write(
            tmp_path,
            {
                "decisions": {"news_word": "deny", "impersonation": "review"},
                "terms": {"prohibited_term": {"gambling": ["博彩", "赌场"]}},
                "remove": {"news_word": ["资讯"], "prohibited_term": ["官方认证"]},
            },
        )
    )
    assert policy.evaluate("科技新闻", field="display_name")[0].decision == "deny"
    assert policy.evaluate("新华社", field="display_name")[0].decision == "review"
    [finding] = policy.evaluate("澳门賭場", field="display_name")
    assert (finding.code, finding.rule, finding.term, finding.decision) == (
        "prohibited_term",
        "gambling",
        "赌场",
        "deny",
    )
    assert policy.evaluate("每日资讯", field="display_name") == []
    assert policy.evaluate("官方认证", field="display_name") == []
    # Everything the operator did not touch still comes from the defaults.
    assert policy.evaluate("人民日报", field="display_name") != []


def test_removing_a_term_by_another_spelling_removes_it(tmp_path: Path) -> None:
    policy = NamePolicy.from_file(write(tmp_path, {"remove": {"impersonation": ["新華社"]}}))
    assert policy.evaluate("新华社", field="display_name") == []


def test_a_rule_can_be_switched_off(tmp_path: Path) -> None:
    policy = NamePolicy.from_file(write(tmp_path, {"decisions": {"strict_review_word": "off"}}))
    assert policy.evaluate("中华美食", field="display_name") == []


def test_allow_list_suppresses_a_containing_phrase(tmp_path: Path) -> None:
    policy = NamePolicy.from_file(write(tmp_path, {"allow": {"impersonation": ["武警路"]}}))
    assert policy.evaluate("武警路小吃", field="display_name") == []
    assert policy.evaluate("武警官方", field="display_name") != []


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ([], "top level"),
        ({"decision": {}}, "'decision'"),
        ({"decisions": {"news_word": "block"}}, "decisions.news_word"),
        ({"decisions": {"spam": "deny"}}, "'spam'"),
        ({"decisions": ["deny"]}, "'decisions'"),
        ({"terms": {"prohibited_term": ["x"]}}, "terms.prohibited_term"),
        ({"terms": {"prohibited_term": {"x": "博彩"}}}, "terms.prohibited_term.x"),
        ({"terms": {"prohibited_term": {"x": [""]}}}, "terms.prohibited_term.x"),
        ({"terms": {"prohibited_term": {"x": ["★★"]}}}, "terms.prohibited_term.x"),
        ({"remove": {"news_word": "新闻"}}, "remove.news_word"),
        ({"allow": {"impersonation": [1]}}, "allow.impersonation"),
    ],
)
def test_malformed_file_raises_a_clear_error(tmp_path: Path, data: Any, key: str) -> None:
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        NamePolicy.from_file(write(tmp_path, data))


def test_invalid_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match="broken.json"):
        NamePolicy.from_file(path)


def test_shipped_file_is_a_valid_operator_file() -> None:
    data = json.loads(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    assert NamePolicy.from_mapping(data).decisions == NamePolicy.from_defaults().decisions
