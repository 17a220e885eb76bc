"""The audit log: every coordinator action, and every refused attempt at one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from engine.models import AuditEntry


async def record_audit(
    session: AsyncSession,
    study_id: str | None,
    actor: str,
    action: str,
    allowed: bool,
    now: datetime,
    **detail: Any,
) -> None:
    session.add(AuditEntry(study_id=study_id, at=now, actor=actor, action=action,
                           allowed=allowed, detail=detail))
