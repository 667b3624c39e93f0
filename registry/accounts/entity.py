"""Whether an organisation's registered entity name agrees with an account's display name (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz

from registry.matching.fold import canonical

ENTITY_NAME_MIN_SCORE = 80.0

# Legal-form words of an entity's registered name and the "official account" words of display
# names: neither says which organisation it is, and both would drag the similarity down.
_NAME_NOISE = re.compile(
    r"(股份有限公司|有限责任公司|有限公司|集团|公司|官方账号|官方帐号|官方|官微|"
    r"\bco\b|\bltd\b|\binc\b|\bllc\b|\bcorp(oration)?\b|\bcompany\b|\blimited\b|\bofficial\b)"
)


@dataclass(frozen=True)
class NameAgreement:
    """How well an entity's registered name agrees with an account's display name."""

    score: float
    agrees: bool


def _core(name: str) -> str:
    folded = canonical(_NAME_NOISE.sub(" ", name.lower()))
    return folded or canonical(name)


def entity_name_agreement(entity_name: str, display_name: str) -> NameAgreement:
    """Score containment of one name in the other after folding, ignoring legal-form words."""
    a, b = _core(entity_name), _core(display_name)
    if not a or not b:
        return NameAgreement(0.0, False)
    shorter, longer = sorted((a, b), key=len)
    score = 100.0 if shorter in longer else float(fuzz.partial_ratio(shorter, longer))
    return NameAgreement(round(score, 1), score >= ENTITY_NAME_MIN_SCORE)
