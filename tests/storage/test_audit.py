"""The audit trail: written inside the change's transaction, and append-only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from core.app import Services
from core.domain.audit import Actor, AuditRecord


def _record(merchant_id: str) -> AuditRecord:
    return AuditRecord(
        actor=Actor(role="admin", key_id="key_test", merchant_id=merchant_id),
        action="refund.approve",
        resource_type="refund",
        resource_id=f"re_{uuid.uuid4().hex}",
        merchant_id=merchant_id,
        at=datetime.now(UTC),
        before={"state": "PENDING_REVIEW"},
        after={"state": "SUCCEEDED"},
        details={"note": "checked with the customer"},
    )


async def test_audit_record_commits_with_its_transaction(
    services: Services, merchant_id: str
) -> None:
    record = _record(merchant_id)
    async with services.repository.transaction() as tx:
        await tx.audit.record(record)
    row = await services.pool.fetchrow(
        "SELECT * FROM audit_events WHERE resource_id = $1", record.resource_id
    )
    assert row is not None
    assert (row["actor_role"], row["actor_key_id"], row["action"]) == (
        "admin",
        "key_test",
        "refund.approve",
    )
    # The pool decodes jsonb: objects come back as dicts, not as JSON strings.
    assert row["before"] == {"state": "PENDING_REVIEW"}
    assert row["after"] == {"state": "SUCCEEDED"}
    assert row["details"] == {"note": "checked with the customer"}


async def test_audit_record_rolls_back_with_a_failed_change(
    services: Services, merchant_id: str
) -> None:
    record = _record(merchant_id)
    with pytest.raises(RuntimeError):
        async with services.repository.transaction() as tx:
            await tx.audit.record(record)
            raise RuntimeError("the change failed after auditing")
    count = await services.pool.fetchval(
        "SELECT count(*) FROM audit_events WHERE resource_id = $1", record.resource_id
    )
    assert count == 0


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET action = 'forged' WHERE resource_id = $1",
        "DELETE FROM audit_events WHERE resource_id = $1",
    ],
)
async def test_audit_events_cannot_be_rewritten(
    services: Services, merchant_id: str, statement: str
) -> None:
    record = _record(merchant_id)
    async with services.repository.transaction() as tx:
        await tx.audit.record(record)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await services.pool.execute(statement, record.resource_id)
    action = await services.pool.fetchval(
        "SELECT action FROM audit_events WHERE resource_id = $1", record.resource_id
    )
    assert action == "refund.approve"


async def test_audit_events_cannot_be_truncated(services: Services) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await services.pool.execute("TRUNCATE audit_events")
