"""Import every model so the metadata (and Alembic's autogenerate) sees the whole schema."""

from registry.accounts.models import Account
from registry.audit.models import AuditEntry, AuditHead, AuditSubjectKey
from registry.auth.models import ApiKey
from registry.backcheck.models import BackcheckProgress
from registry.bans.models import Ban, BanAccount, BanIdentifier, BanName
from registry.check.models import CheckRecord
from registry.console.models import StaffSession, StaffUser
from registry.credit.models import Violation
from registry.events.models import (
    OutboxCursor,
    OutboxEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
    WebhookSubscriptionVersion,
)
from registry.index_changes.models import IndexChange
from registry.reports.models import ReportCount
from registry.reviews.models import NameSuppression, Review
from registry.sweep.models import DormancyNotice, Lock, SweepRun
from registry.tiers.models import TierChange

__all__ = [
    "Account",
    "ApiKey",
    "AuditEntry",
    "AuditHead",
    "AuditSubjectKey",
    "BackcheckProgress",
    "Ban",
    "BanAccount",
    "BanIdentifier",
    "BanName",
    "CheckRecord",
    "DormancyNotice",
    "IndexChange",
    "Lock",
    "NameSuppression",
    "OutboxCursor",
    "OutboxEvent",
    "ReportCount",
    "Review",
    "StaffSession",
    "StaffUser",
    "SweepRun",
    "TierChange",
    "Violation",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSubscription",
    "WebhookSubscriptionVersion",
]
