"""Audit records: who did what to which resource, with the state before and after (pure).

Every admin and superadmin action (approvals, key and role changes, rule and
blocklist changes, merchant settings) appends one ``AuditRecord`` in the same
database transaction as the change itself, so the audit trail can never claim
a change that did not commit, nor miss one that did. The table is append-only
(``0003_audit.sql`` refuses UPDATE and DELETE).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted: the API key (and its role) behind the call."""

    role: str
    """``merchant``, ``admin`` or ``superadmin`` (or ``system`` for paycore itself)."""
    key_id: str | None
    """The API key's id (its public prefix); None for the CLI or paycore itself."""
    merchant_id: str | None
    """The merchant the key belongs to; None for a platform (superadmin) key."""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One admin action, as the audit table stores it.

    ``before`` and ``after`` are JSON-ready snapshots of the resource (None
    when it did not exist before, or no longer exists after). They must never
    hold secrets: no API key, no card number, no webhook secret.
    """

    actor: Actor
    action: str
    """Dotted verb, e.g. ``api_key.revoke``, ``refund.approve``, ``blocklist.add``."""
    resource_type: str
    resource_id: str
    merchant_id: str | None
    """The merchant whose resource changed (None for platform-wide resources)."""
    at: datetime
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    """Anything else worth keeping (a reason given, a request_id)."""


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which audit events to list (empty strings match everything)."""

    merchant_id: str = ""
    resource_type: str = ""
    resource_id: str = ""
    action: str = ""


@dataclass(frozen=True, slots=True)
class StoredAudit:
    """An audit record with its position in the trail."""

    id: int
    record: AuditRecord
