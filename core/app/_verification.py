"""Verification codes: the step a stepped-up wallet payment waits in, its sender and sweep."""

from __future__ import annotations

import asyncio

import asyncpg

from core.config import Settings
from core.service.execution import RequestExecutor
from core.service.payments.code_sender import SandboxCodeSender
from core.service.payments.verification import CodeSettings, CodeVerification, code_key
from core.storage.ledger_store import PostgresLedgerStore
from core.storage.unit_of_work import PostgresPaymentRepository
from core.storage.verification_codes import PostgresVerificationCodes


def build_verification(
    settings: Settings,
    *,
    pool: asyncpg.Pool,
    executor: RequestExecutor,
    repository: PostgresPaymentRepository,
    ledger: PostgresLedgerStore,
) -> CodeVerification:
    """Codes sent by the sandbox's sender (kept in memory for tests; paycore has no gateway).

    Their digests are keyed by a key derived from ``card_fingerprint_key``, the
    server secret that keys card fingerprints: set in production, kept.
    """
    channels = settings.channels
    return CodeVerification(
        executor=executor,
        repository=repository,
        store=PostgresVerificationCodes(pool),
        ledger=ledger,
        sender=SandboxCodeSender(),
        key=code_key(settings.card_fingerprint_key),
        settings=CodeSettings(
            expiry_s=channels.verification_code_expiry_s,
            max_attempts=channels.verification_code_attempts,
            sweep_interval_s=channels.three_ds_sweep_interval_s,
        ),
    )


def start_verification_sweep(
    verification: CodeVerification, background: list[asyncio.Task[None]]
) -> None:
    """Cancel steps past their deadline, in ``background`` (cancelled at close)."""
    background.append(asyncio.create_task(verification.run(asyncio.Event())))
