"""Transaction 1 of a request: claim its request_id, then run its plan (or do not).

The claim is PostgreSQL's unique request record, the guarantee of exactly once
(Redis' marker only makes repeats cheaper). A new request_id runs the service's
plan in the same transaction; a known one is replayed, refused as a reuse with
another fingerprint, resumed when its executor died, or told it is in progress.
``RequestExecutor`` (core/service/execution.py) calls this step; new payments'
first transactions may take the group-commit path instead
(core/service/group_commit.py).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from opentelemetry import trace

from core.domain.errors import PaycoreError, Reason
from core.ports import telemetry as instruments
from core.ports.repository import (
    ClaimStatus,
    PaymentRepository,
    PaymentTransaction,
    RequestKey,
)
from core.ports.telemetry import Instruments
from core.service.requests import Dispatch, Encoder, Plan, Reply, RequestIdentity, Resume

log = logging.getLogger(__name__)

T = TypeVar("T")

_RESUME_AFTER_S = 2.0
"""Age of an "in progress" request record after which a repeat checks whether it died."""


class RequestClaims:
    """Claims request_ids in PostgreSQL and plans the new ones, in one transaction each."""

    def __init__(
        self,
        *,
        repository: PaymentRepository,
        clock: Callable[[], datetime],
        telemetry: Instruments,
        request_lease_s: float,
        idempotency_ttl_s: int,
    ) -> None:
        """``request_lease_s``, ``idempotency_ttl_s``: see ``ExecutorSettings``."""
        self._repo = repository
        self._clock = clock
        self._telemetry = telemetry
        self._lease_s = request_lease_s
        self._ttl_s = idempotency_ttl_s

    async def claim_and_plan(
        self,
        key: RequestKey,
        request: RequestIdentity,
        encoder: Encoder[T],
        plan: Callable[[PaymentTransaction, datetime], Awaitable[Plan[T]]],
        resume: Resume[T] | None,
    ) -> tuple[str, Reply | Dispatch[T]]:
        """Transaction 1: claim the request_id and decide.

        Returns the payment's id (when known) and a Reply, or the channel call to make.
        """
        now = self._clock()
        async with self._repo.transaction() as tx:
            claim = await tx.requests.claim(
                key, request.fingerprint, now, self._lease_s, self._ttl_s
            )
            if claim.status is ClaimStatus.COMPLETED:
                self._telemetry.request_repeated("replay")
                return claim.resource_id, Reply(claim.reply_ok, claim.reply)
            if claim.status is ClaimStatus.MISMATCH:
                self._telemetry.request_repeated("conflict")
                raise PaycoreError(
                    Reason.IDEMPOTENCY_KEY_REUSED,
                    request_id=key.request_id,
                    operation=key.operation,
                )
            if claim.status is ClaimStatus.IN_PROGRESS:
                resumed = await self._resumed(
                    tx,
                    key,
                    claim.resource_id,
                    claim.created_at,
                    encoder=encoder,
                    resume=resume,
                    now=now,
                )
                if resumed is not None:
                    return claim.resource_id, resumed
                self._telemetry.request_repeated("in_progress")
                raise PaycoreError(Reason.REQUEST_IN_PROGRESS, request_id=key.request_id)
            try:
                planned = await plan(tx, now)
            except PaycoreError as error:
                if error.retryable:
                    # "Busy, try again" is not this request's outcome: roll
                    # the claim back with everything else so the retry runs.
                    raise
                # The request started executing, so its business error is its
                # reply (Stripe's rule): stored, and replayed on retry. A
                # savepoint is not needed: plan() raises before writing.
                trace.get_current_span().set_attribute(instruments.ERROR_REASON, error.reason.name)
                body = encoder.failure(error)
                await tx.requests.complete(key, False, body, "", now)
                return "", Reply(False, body)
            if planned.dispatch is None:
                assert planned.result is not None
                body = encoder.success(planned.result)
                await tx.requests.complete(key, True, body, planned.resource_id, now)
                return planned.resource_id, Reply(True, body)
            await tx.requests.set_resource(key, planned.resource_id)
            return planned.resource_id, planned.dispatch

    def may_have_died(self, claimed_at: datetime | None) -> bool:
        """Whether a request claimed at ``claimed_at`` may have lost its executor.

        Younger records are surely being executed: a burst of repeats of a
        request still in its first transaction would otherwise each hold a
        connection waiting on that request's row locks, and starve the pool
        the request itself needs to finish.
        """
        if claimed_at is None:
            return False
        return claimed_at.timestamp() <= self._clock().timestamp() - _RESUME_AFTER_S

    async def _resumed(
        self,
        tx: PaymentTransaction,
        key: RequestKey,
        resource_id: str,
        claimed_at: datetime | None,
        *,
        encoder: Encoder[T],
        resume: Resume[T] | None,
        now: datetime,
    ) -> Reply | None:
        """The reply of a request whose executor died, once its resource is settled.

        A live executor clears the resource's operation in flight and completes
        the request in one transaction (transaction 2), so "request in progress
        but resource settled" can only mean its executor is gone and a status
        query or a notification applied the channel's answer. ``resume`` reads
        the resource under its row lock, so it cannot race that resolution.
        """
        if resume is None or not resource_id or not self.may_have_died(claimed_at):
            return None
        value = await resume(tx, key.merchant_id, resource_id)
        if value is None:
            return None
        body = encoder.success(value)
        await tx.requests.complete(key, True, body, resource_id, now)
        self._telemetry.request_repeated("resumed")
        log.info("request %s resumed after its executor died: %s", key.request_id, resource_id)
        return Reply(True, body)
