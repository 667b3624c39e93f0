"""change_tier and the rules catalogue, called directly inside the app on the real database."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from registry.accounts.models import Account
from registry.audit.models import AuditEntry
from registry.audit.service import opened_entries
from registry.domain_errors import InvalidField
from registry.extensions import db
from registry.rules import RulesCatalogue, check_rule
from registry.settings import ConfigError
from registry.tiers.models import TierChange
from registry.tiers.service import change_tier


def make_account(account_id: str = "u1", **kw) -> Account:
    account = Account(id=account_id, username=account_id, tier="standard", tier_pinned=False, **kw)
    db.session.add(account)
    db.session.flush()
    return account


def test_manual_change_writes_history_audit_and_pins(app):
    with app.app_context():
        account = make_account()
        change = change_tier(account, "watch", reason="spam", rule="R2.1", actor="staff")
        assert change is not None and change.from_tier == "standard" and change.to_tier == "watch"
        assert account.tier == "watch" and account.tier_pinned
        (entry,) = opened_entries(
            db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "tier.change")).all()
        )
        assert entry.subject == "account:u1" and entry.actor == "staff"
        assert entry.data == {
            "from": "standard",
            "to": "watch",
            "reason": "spam",
            "rule": "R2.1",
            "automatic": False,
        }


def test_automatic_change_leaves_pinned_accounts_alone(app):
    with app.app_context():
        account = make_account()
        assert change_tier(account, "watch", reason="credit 65", rule=None, actor="credit", automatic=True)
        assert account.tier == "watch" and not account.tier_pinned
        change_tier(account, "restricted", reason="by hand", rule="R1", actor="staff")
        assert (
            change_tier(account, "standard", reason="credit up", rule=None, actor="credit", automatic=True)
            is None
        )
        assert account.tier == "restricted"
        n = db.session.scalar(
            sa.select(sa.func.count()).select_from(TierChange).where(TierChange.account_id == "u1")
        )
        assert n == 2


def test_unchanged_tier_is_a_no_op(app):
    with app.app_context():
        account = make_account()
        assert change_tier(account, "standard", reason="x", rule=None, actor="credit", automatic=True) is None
        assert not account.tier_pinned
        assert db.session.scalar(sa.select(sa.func.count()).select_from(TierChange)) == 0


def test_unknown_tier_is_422_naming_tier(app):
    with app.test_request_context(), pytest.raises(InvalidField) as info:
        change_tier(make_account(), "vip", reason="x", rule=None, actor="s")
    assert info.value.status == 422
    assert info.value.field == "tier"


CATALOGUE = {
    "rules": [
        {"code": "R2.1", "title": "Spam", "actions": ["tier", "ban"]},
        {"code": "R9", "title": "Bans only", "actions": ["ban"]},
    ]
}


@pytest.fixture
def rules_file(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(CATALOGUE))
    return str(path)


def test_check_rule_with_catalogue(app_factory, rules_file):
    app = app_factory(rules_file=rules_file)
    with app.test_request_context():
        check_rule("R2.1", "tier")
        for code, action in (("R7", "tier"), ("R9", "tier"), (None, "tier")):
            with pytest.raises(InvalidField) as info:
                check_rule(code, action, field="rule_code")
            assert info.value.status == 422
            assert info.value.field == "rule_code"


def test_check_rule_without_catalogue_allows_anything(app):
    with app.test_request_context():
        check_rule("anything", "tier")
        check_rule(None, "ban")


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ({"rules": "x"}, "top level"),
        ({"rules": [{"code": "", "actions": []}]}, "rules[0].code"),
        (
            {"rules": [{"code": "R1", "actions": ["fly"]}]},
            "rules[0] ('R1').actions has unknown action(s) fly",
        ),
        (
            {"rules": [{"code": "R1", "actions": []}, {"code": "R1", "actions": []}]},
            "rules[1] ('R1'): the code appears twice",
        ),
        ({"rules": [{"code": "R1", "actions": [], "colour": 1}]}, "unknown key(s) colour"),
    ],
)
def test_bad_catalogue_names_the_entry(doc, needle):
    with pytest.raises(ConfigError) as info:
        RulesCatalogue.from_mapping(doc)
    assert needle in str(info.value)


def test_bad_catalogue_file_stops_the_app(app_factory, tmp_path):
    path = tmp_path / "rules.json"
    path.write_text('{"rules": [{"code": "R1", "actions": ["tier", "zap"]}]}')
    with pytest.raises(ConfigError, match="zap"):
        app_factory(rules_file=str(path))
