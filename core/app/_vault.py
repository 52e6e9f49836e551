"""The card vault, and the keyring that seals card data (and webhook signing secrets)."""

from __future__ import annotations

from core.config import Settings
from core.redis.request_gate import RedisRequestGate
from core.service.card_vault import CardVault
from core.service.execution import RequestExecutor
from core.storage.unit_of_work import PostgresPaymentRepository
from core.telemetry import Telemetry
from core.vault.keyring import Keyring


def vault_keyring(settings: Settings) -> Keyring:
    """The vault's keys, from ``vault_keys`` with ``vault_active_key_id`` sealing new data."""
    return Keyring.from_config(settings.vault_keys, settings.vault_active_key_id or "")


def build_vault(
    settings: Settings,
    *,
    executor: RequestExecutor,
    repository: PostgresPaymentRepository,
    gate: RedisRequestGate,
    keyring: Keyring,
    telemetry: Telemetry,
) -> CardVault:
    """The card vault service (tokenize, reveal, rotate) over the payments repository."""
    return CardVault(
        executor=executor,
        repository=repository,
        gate=gate,
        keyring=keyring,
        fingerprint_key=settings.card_fingerprint_key,
        telemetry=telemetry,
    )
