"""Where the back-check of new bans has got to: the last ``index_changes`` row it has judged."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.extensions import Model
from registry.timeutil import utcnow


class BackcheckProgress(Model):
    """One row per pass (``name`` "bans"): the cursor a resumed run starts after."""

    __tablename__ = "backcheck_progress"

    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    # The id of the last ``index_changes`` "create" row whose ban was back-checked and committed.
    last_event_id: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    bans_checked: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    reviews_opened: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)
