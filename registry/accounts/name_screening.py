"""Account-name rules (账号名称) applied when an account is created or renamed.

The rules themselves live in ``registry.name_rules`` (pure logic). This module picks the app's policy, turns
``deny`` findings into a 422 naming the field, and hands ``review`` findings to staff as a stored
check with an open review, the same queue ``POST /v1/check`` feeds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from registry.accounts import hooks
from registry.accounts.models import ENTITY_ACCOUNT_TYPES
from registry.app_state import app_object
from registry.domain_errors import Invalid
from registry.matching.fold import canonical
from registry.name_rules import FIELDS, NameFinding, NamePolicy
from registry.name_rules.policy import PLATFORM_VERIFIED
from registry.reports.models import note as note_count
from registry.settings import app_settings

log = logging.getLogger(__name__)

POLICY_KEY = "registry.name_policy"


def name_policy() -> NamePolicy:
    """Return the app's name policy: the check index's (verified names protected) when it is wired."""
    if hooks.live_name_policy.registered:
        return hooks.live_name_policy.call()

    def make(_app: object) -> NamePolicy:
        path = app_settings().name_rules_file
        return NamePolicy.from_file(path) if path else NamePolicy.from_defaults()

    return app_object(POLICY_KEY, NamePolicy, make)


def finding_doc(finding: NameFinding) -> dict[str, str]:
    """Describe a finding as a check reason."""
    return {
        "code": finding.code,
        "field": finding.field,
        "rule": finding.rule,
        "term": finding.term,
        "decision": finding.decision,
    }


def evaluate_names(
    names: Mapping[str, str | None],
    *,
    news_licensed: bool,
    account_type: str = "personal",
    own_names: tuple[str | None, ...] = (),
) -> list[NameFinding]:
    """Evaluate the given name fields; abort 422 naming the field on a ``deny``; return the rest.

    An organisation or public account may carry an organ's or a medium's listed name, or the name of
    one of the platform's verified entities, because it is verified only with an entity whose
    registered name agrees (an organisation often holds an organisation and a public account of one
    name): such findings go to review instead of being refused. A personal account is refused.
    ``own_names`` are the account's current names: a verified organisation renaming itself is not
    refused for its own name.
    """
    policy = name_policy()
    own = {canonical(n) for n in own_names if n}
    findings: list[NameFinding] = []
    for field in FIELDS:
        value = names.get(field)
        if not value:
            continue
        for finding in policy.evaluate(value, field=field, news_licensed=news_licensed):
            if finding.rule == PLATFORM_VERIFIED and canonical(finding.term) in own:
                continue
            if (
                finding.code == "impersonation"
                and finding.decision == "deny"
                and account_type in ENTITY_ACCOUNT_TYPES
            ):
                finding = replace(finding, decision="review")
            findings.append(finding)
    denied: dict[str, list[str]] = {}
    for f in findings:
        if f.decision == "deny":
            denied.setdefault(f.field, []).append(
                f"Refused by the name rules: {f.code} ({f.rule}) on {f.term!r}."
            )
    if denied:
        # The 422 rolls the transaction back: the yearly report counts refusals in memory instead.
        note_count("name_rule", sorted({f"deny:{f.rule}" for f in findings if f.decision == "deny"}))
        raise Invalid("The name breaks the account-name rules.", {"json": denied})
    return findings


def record_name_review(
    findings: list[NameFinding], *, username: str | None, display_name: str | None, actor: str
) -> str | None:
    """Open a review for ``review`` findings (the caller commits); return the check id, if any."""
    reasons: list[dict[str, Any]] = [finding_doc(f) for f in findings if f.decision == "review"]
    if not reasons:
        return None
    note_count("name_rule", sorted({f"review:{r['rule']}" for r in reasons}))
    return hooks.file_name_review.call(reasons, username=username, display_name=display_name, actor=actor)
