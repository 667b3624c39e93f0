"""Account-name rules: impersonation, contact details, news words, strict-review words, prohibited terms."""

from registry.name_rules.policy import CODES, FIELDS, NameFinding, NamePolicy, contact_fold, mask_contacts

__all__ = ["CODES", "FIELDS", "NameFinding", "NamePolicy", "contact_fold", "mask_contacts"]
