"""Merchant settings' use cases, run by the real request executor over in-memory adapters.

core/service/merchant_settings.py: an update replaces the fields it names, is audited with
the settings before and after in the same transaction, runs once per request_id, and
rolls back with its request_id's claim when it raises.
"""

from __future__ import annotations

import pytest

from core.domain.audit import Actor
from core.domain.merchant_settings import MerchantSettings, MerchantSettingsUpdate
from core.domain.money import Money
from core.service.execution import Encoder, RequestExecutor, RequestIdentity
from core.service.merchant_settings import MerchantSettingsService
from tests.support.memory import MemoryRequestGate
from tests.support.memory_repository import MemoryRepository
from tests.support.requests import new_request_id

MERCHANT = "m_settings"
ADMIN = Actor("admin", "key_admin", MERCHANT)

ENCODER: Encoder[MerchantSettings] = Encoder(
    success=lambda settings: repr(settings.refund_review_thresholds).encode(),
    failure=lambda error: error.reason.name.encode(),
)
"""Replies as the thresholds set (the API layer's protobuf encoding is not under test here)."""


@pytest.fixture
def settings_service(
    executor: RequestExecutor, repository: MemoryRepository, gate: MemoryRequestGate
) -> MerchantSettingsService:
    """The merchant settings service over the in-memory adapters."""
    return MerchantSettingsService(executor=executor, repository=repository, gate=gate)


def thresholds(*amounts: Money) -> MerchantSettingsUpdate:
    """An update replacing the refund review thresholds."""
    return MerchantSettingsUpdate(MERCHANT, refund_review_thresholds=amounts)


def request(update: MerchantSettingsUpdate, request_id: str | None = None) -> RequestIdentity:
    """An update's identity: its request_id, and a fingerprint of what it asks."""
    return RequestIdentity(request_id or new_request_id(), repr(update).encode())


async def test_a_merchant_has_the_defaults_until_an_admin_changes_them(
    settings_service: MerchantSettingsService,
) -> None:
    assert await settings_service.get_settings(MERCHANT) == MerchantSettings(MERCHANT)


async def test_an_update_is_stored_and_audited_with_before_and_after(
    settings_service: MerchantSettingsService, repository: MemoryRepository
) -> None:
    update = thresholds(Money(50_000, "USD"))

    reply = await settings_service.update_settings(update, ADMIN, request(update), ENCODER)

    assert reply.ok
    stored = await settings_service.get_settings(MERCHANT)
    assert stored.refund_review_threshold("USD") == Money(50_000, "USD")
    (audited,) = repository.state.audit
    assert (audited.actor, audited.action, audited.resource_id) == (
        ADMIN,
        "merchant_settings.update",
        MERCHANT,
    )
    assert (audited.before, audited.after) == (
        MerchantSettings(MERCHANT).snapshot(),
        stored.snapshot(),
    )


async def test_a_repeated_update_is_replayed_and_audited_once(
    settings_service: MerchantSettingsService, repository: MemoryRepository
) -> None:
    update = thresholds(Money(50_000, "USD"))
    identity = request(update)

    first = await settings_service.update_settings(update, ADMIN, identity, ENCODER)
    again = await settings_service.update_settings(update, ADMIN, identity, ENCODER)

    assert again == first
    assert len(repository.state.audit) == 1


async def test_an_update_that_raises_rolls_back_its_claim_and_frees_the_request_id(
    settings_service: MerchantSettingsService,
    repository: MemoryRepository,
    gate: MemoryRequestGate,
) -> None:
    request_id = new_request_id()
    broken = thresholds(Money(1, "USD"), Money(2, "USD"))  # two in one currency: apply raises

    with pytest.raises(ValueError, match="one refund review threshold per currency"):
        await settings_service.update_settings(broken, ADMIN, request(broken, request_id), ENCODER)

    assert (repository.state.merchant_settings, repository.state.audit) == ({}, [])
    assert repository.state.requests == {}
    assert gate.markers == {}  # released: the retry is not held up by the marker
    fixed = thresholds(Money(1, "USD"))
    reply = await settings_service.update_settings(
        fixed, ADMIN, request(fixed, request_id), ENCODER
    )
    assert reply.ok
