"""Platform administration: merchants and API keys (create, list, revoke, rotate, bootstrap).

Mutations run through the RequestExecutor like payments (idempotent by
request_id, scoped to the platform instead of a merchant) and append an
audit record in the same transaction. A key's secret is generated inside the
plan and returned to the caller once, beside the stored reply: the stored
reply (replayed on retries) never contains it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from core.auth.authenticator import Authenticator
from core.auth.keys import ApiKey, IssuedKey, Merchant, generate_key
from core.auth.policy import Role
from core.domain.audit import Actor, AuditFilter, AuditRecord, StoredAudit
from core.domain.errors import IllegalTransitionError, NotFoundError, PaycoreError, Reason
from core.ports.repository import PaymentTransaction, RequestKey
from core.service.execution import Encoder, Plan, Reply, RequestExecutor, RequestIdentity

PLATFORM_SCOPE = "*platform"
"""The request_id scope (and rate-limit bucket) of platform RPCs; '*' is never in a merchant id."""

MAX_ROTATION_OVERLAP = timedelta(days=7)


class KeyChanges(Protocol):
    """Where a key's revocation or rotation is announced to every process (Redis pub/sub)."""

    async def publish(self, prefix: str) -> None:
        """Have every process drop ``prefix`` from its cache (never raises)."""
        ...


class AccessDirectory(Protocol):
    """Reads of merchants and keys (core.storage.access.PostgresAccessStore)."""

    async def get_merchant(self, merchant_id: str) -> Merchant | None:
        """One merchant, or None."""
        ...

    async def list_merchants(self, after_id: str, limit: int) -> list[Merchant]:
        """Merchants ordered by id after ``after_id``."""
        ...

    async def get_key(self, prefix: str) -> ApiKey | None:
        """One key, or None."""
        ...

    async def list_keys(self, merchant_id: str | None) -> list[ApiKey]:
        """A merchant's keys (None: the platform's)."""
        ...

    async def list_audit(
        self, where: AuditFilter, before_id: int | None, limit: int
    ) -> list[StoredAudit]:
        """Audit events matching ``where``, newest first, older than ``before_id``."""
        ...


@dataclass(frozen=True, slots=True)
class NewMerchant:
    """CreateMerchant, validated."""

    merchant_id: str
    display_name: str
    raw_card_data_allowed: bool


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """CreateApiKey, validated."""

    merchant_id: str | None
    role: Role
    description: str


@dataclass(frozen=True, slots=True)
class Rotation:
    """RotateApiKey's result: the new key and the old one with its expiry."""

    new: ApiKey
    previous: ApiKey


class AccessService:
    """Merchants and API keys, for superadmin callers."""

    def __init__(
        self,
        *,
        executor: RequestExecutor,
        directory: AccessDirectory,
        authenticator: Authenticator,
        key_changes: KeyChanges,
    ) -> None:
        self._executor = executor
        self._directory = directory
        self._authenticator = authenticator
        self._key_changes = key_changes

    async def create_merchant(
        self,
        actor: Actor,
        command: NewMerchant,
        request: RequestIdentity,
        encoder: Encoder[Merchant],
    ) -> Reply:
        """Create a merchant; ALREADY_EXISTS when its id is taken."""

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Merchant]:
            merchant = Merchant(
                command.merchant_id, command.display_name, at, command.raw_card_data_allowed
            )
            if not await tx.merchants.insert(merchant):
                raise PaycoreError(Reason.MERCHANT_ALREADY_EXISTS, merchant_id=merchant.id)
            await tx.audit.record(
                AuditRecord(
                    actor,
                    "merchant.create",
                    "merchant",
                    merchant.id,
                    merchant.id,
                    at,
                    before=None,
                    after=merchant.audit_view(),
                )
            )
            return Plan(merchant.id, result=merchant)

        key = RequestKey(PLATFORM_SCOPE, "CreateMerchant", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)

    async def get_merchant(self, merchant_id: str) -> Merchant:
        """One merchant; NOT_FOUND when unknown."""
        merchant = await self._directory.get_merchant(merchant_id)
        if merchant is None:
            raise NotFoundError(Reason.MERCHANT_NOT_FOUND, merchant_id=merchant_id)
        return merchant

    async def list_merchants(self, after_id: str, limit: int) -> list[Merchant]:
        """Up to ``limit`` merchants after ``after_id``, ordered by id."""
        return await self._directory.list_merchants(after_id, limit)

    async def create_api_key(
        self,
        actor: Actor,
        command: NewApiKey,
        request: RequestIdentity,
        encoder: Encoder[ApiKey],
    ) -> tuple[Reply, IssuedKey | None]:
        """Create a key; the IssuedKey (with the secret) only when this very call created it."""
        if command.merchant_id is not None:
            await self.get_merchant(command.merchant_id)  # NOT_FOUND before anything is claimed
        issued = generate_key()

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[ApiKey]:
            api_key = ApiKey(
                issued.prefix, command.merchant_id, command.role, command.description, at
            )
            await tx.keys.insert(api_key, issued.secret_hash)
            executed.append(True)
            await tx.audit.record(
                AuditRecord(
                    actor,
                    "api_key.create",
                    "api_key",
                    api_key.prefix,
                    command.merchant_id,
                    at,
                    before=None,
                    after=api_key.audit_view(),
                )
            )
            return Plan(api_key.prefix, result=api_key)

        executed: list[bool] = []
        key = RequestKey(PLATFORM_SCOPE, "CreateApiKey", request.request_id)
        reply = await self._executor.execute(key, request, encoder, plan)
        return reply, issued if executed and reply.ok else None

    async def list_api_keys(self, merchant_id: str | None) -> list[ApiKey]:
        """A merchant's keys, or the platform's (None); NOT_FOUND for an unknown merchant."""
        if merchant_id is not None:
            await self.get_merchant(merchant_id)
        return await self._directory.list_keys(merchant_id)

    async def list_audit(
        self, where: AuditFilter, before_id: int | None, limit: int
    ) -> list[StoredAudit]:
        """Audit events, newest first (the trail is append-only: pages never shift)."""
        return await self._directory.list_audit(where, before_id, limit)

    async def revoke_api_key(
        self, actor: Actor, prefix: str, request: RequestIdentity, encoder: Encoder[ApiKey]
    ) -> Reply:
        """Revoke a key now (a revoked key stays revoked; revoking again changes nothing)."""

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[ApiKey]:
            current = await _locked_key(tx, prefix)
            revoked = current.revoked(at)
            if revoked != current:
                await tx.keys.save(revoked)
                await tx.audit.record(
                    AuditRecord(
                        actor,
                        "api_key.revoke",
                        "api_key",
                        prefix,
                        current.merchant_id,
                        at,
                        before=current.audit_view(),
                        after=revoked.audit_view(),
                    )
                )
            return Plan(prefix, result=revoked)

        key = RequestKey(PLATFORM_SCOPE, "RevokeApiKey", request.request_id)
        try:
            return await self._executor.execute(key, request, encoder, plan)
        finally:
            await self._announce(prefix)

    async def rotate_api_key(
        self,
        actor: Actor,
        prefix: str,
        overlap: timedelta,
        request: RequestIdentity,
        encoder: Encoder[Rotation],
    ) -> tuple[Reply, IssuedKey | None]:
        """Replace a key by a new one; the old one works for ``overlap`` more."""
        issued = generate_key()

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Rotation]:
            current = await _locked_key(tx, prefix)
            if current.revoked_at is not None:
                raise IllegalTransitionError(Reason.API_KEY_REVOKED, prefix=prefix)
            new = ApiKey(issued.prefix, current.merchant_id, current.role, current.description, at)
            previous = current.rotated(new.prefix, at + overlap)
            await tx.keys.insert(new, issued.secret_hash)
            executed.append(True)
            await tx.keys.save(previous)
            await tx.audit.record(
                AuditRecord(
                    actor,
                    "api_key.rotate",
                    "api_key",
                    prefix,
                    current.merchant_id,
                    at,
                    before=current.audit_view(),
                    after=previous.audit_view(),
                )
            )
            return Plan(new.prefix, result=Rotation(new, previous))

        executed: list[bool] = []
        key = RequestKey(PLATFORM_SCOPE, "RotateApiKey", request.request_id)
        try:
            reply = await self._executor.execute(key, request, encoder, plan)
        finally:
            await self._announce(prefix)
        return reply, issued if executed and reply.ok else None

    async def _announce(self, prefix: str) -> None:
        """Make a key change take effect in every process's cache.

        Only after the change committed (``execute`` returned, or failed with
        the outcome unknown): a process that dropped the key earlier could
        read it again, unchanged, and trust it for ``auth.key_cache_s``. Also
        when the request failed or was a replay: a needless drop costs one read.
        """
        self._authenticator.forget(prefix)  # this process: at once, even with Redis away
        await self._key_changes.publish(prefix)


async def _locked_key(tx: PaymentTransaction, prefix: str) -> ApiKey:
    current = await tx.keys.lock(prefix)
    if current is None:
        raise NotFoundError(Reason.API_KEY_NOT_FOUND, prefix=prefix)
    return current


def overlap_from_ms(milliseconds: int) -> timedelta:
    """A rotation overlap, bounded to 0..7 days (ValueError outside)."""
    overlap = timedelta(milliseconds=milliseconds)
    if not timedelta(0) <= overlap <= MAX_ROTATION_OVERLAP:
        raise ValueError("overlap must be between 0 and 7 days")
    return overlap
