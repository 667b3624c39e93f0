"""What accounts have done by the layers above them, as hooks the app wiring fills (registry/hooks.py).

- ``lock_check_review`` / ``tie_check`` (reviews): an account created with a ``check_id`` ties that
  signup check's review; the review is locked before the audit head (registry/locking.py).
- ``live_name_policy`` (check): the name rules as the check index holds them (verified organisations'
  names protected), caught up with the ban log. Unfilled, accounts use the configured rules alone.
- ``file_name_review`` (check): a name held for review is filed as a check record with an open review;
  returns the check id.
"""

from __future__ import annotations

from typing import Any, Protocol

from registry.accounts.models import Account
from registry.hooks import Hook
from registry.name_rules import NamePolicy


class LockCheckReview(Protocol):
    def __call__(self, check_id: str) -> None: ...


class TieCheck(Protocol):
    def __call__(self, account: Account, check_id: str, *, actor: str) -> None: ...


class LiveNamePolicy(Protocol):
    def __call__(self) -> NamePolicy: ...


class FileNameReview(Protocol):
    def __call__(
        self, reasons: list[dict[str, Any]], *, username: str | None, display_name: str | None, actor: str
    ) -> str: ...


lock_check_review: Hook[LockCheckReview] = Hook("accounts.lock_check_review")
tie_check: Hook[TieCheck] = Hook("accounts.tie_check")
live_name_policy: Hook[LiveNamePolicy] = Hook("accounts.live_name_policy")
file_name_review: Hook[FileNameReview] = Hook("accounts.file_name_review")
