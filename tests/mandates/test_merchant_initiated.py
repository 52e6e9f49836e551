"""Merchant-initiated charges (CreatePayment with mandate_id and off_session) end to end.

Every refusal is its own reason, and a refused charge creates nothing.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from core.app import Services
from core.domain.attempt import ChannelOperation
from paycore.v1 import mandate_service_pb2 as ms
from paycore.v1 import payment_pb2 as pb
from tests.customers.conftest import CustomerApi
from tests.mandates.conftest import MandateApi, Saved, at, channel_calls, count, scope
from tests.support.api import Api
from tests.support.expect import FAILED_PRECONDITION, NOT_FOUND, expect_error, expect_invalid
from tests.support.requests import card, money, usd


def charge(mandate_id: str, **fields: Any) -> dict[str, Any]:
    """CreatePayment fields of a merchant-initiated charge (10.00 USD unless given)."""
    return {"mandate_id": mandate_id, "off_session": True, "payment_method": None, **fields}


async def test_a_charge_under_an_active_mandate_reaches_the_channel_as_merchant_initiated(
    api: Api, mandates: MandateApi, saved: Saved, services: Services
) -> None:
    mandate = await mandates.setup(saved.customer_id, saved.card_token)

    payment = await api.create(**charge(mandate.id))

    assert payment.state == pb.Payment.STATE_CAPTURED
    assert payment.customer_id == saved.customer_id  # from the mandate
    assert payment.payment_method.card.last4 == "4242"  # the mandate's token, no CVC
    [authorization] = channel_calls(services, payment.id)
    assert authorization.operation is ChannelOperation.AUTHORIZE
    assert authorization.merchant_initiated
    assert authorization.agreement_id == mandate.agreement_id


async def test_a_revoked_mandate_refuses_the_charge_and_nothing_is_created(
    api: Api, mandates: MandateApi, saved: Saved, db: asyncpg.Pool
) -> None:
    mandate = await mandates.setup(saved.customer_id, saved.card_token)
    await mandates.revoke(mandate.id)
    before = await count(db, "payments", api.merchant_id)

    await expect_error(api.create(**charge(mandate.id)), FAILED_PRECONDITION, "MANDATE_REVOKED")

    assert await count(db, "payments", api.merchant_id) == before
    assert await count(db, "mandate_charges", api.merchant_id) == 0


async def test_an_expired_mandate_refuses_the_charge(
    api: Api, mandates: MandateApi, saved: Saved
) -> None:
    expiry = datetime.now(UTC) + timedelta(seconds=1)
    mandate = await mandates.setup(
        saved.customer_id, saved.card_token, scope=scope(expire_time=at(expiry))
    )
    await asyncio.sleep(max(0.0, (expiry - datetime.now(UTC)).total_seconds()) + 0.05)

    await expect_error(api.create(**charge(mandate.id)), FAILED_PRECONDITION, "MANDATE_EXPIRED")
    [method] = (await mandates.methods(saved.customer_id)).payment_methods
    assert method.mandates[0].status == ms.Mandate.STATUS_EXPIRED


async def test_charges_outside_the_scope_are_refused_each_with_its_reason(
    api: Api, mandates: MandateApi, saved: Saved, customers: CustomerApi, db: asyncpg.Pool
) -> None:
    mandate = await mandates.setup(saved.customer_id, saved.card_token)  # up to 50.00 USD
    stranger = await customers.create(email="someone.else@example.com")
    before = await count(db, "payments", api.merchant_id)

    await expect_error(
        api.create(**charge(mandate.id, amount=usd(50, 1))),
        FAILED_PRECONDITION,
        "MANDATE_AMOUNT_EXCEEDED",
    )
    await expect_error(
        api.create(**charge(mandate.id, amount=money(10, currency="EUR"))),
        FAILED_PRECONDITION,
        "MANDATE_CURRENCY_MISMATCH",
    )
    await expect_error(
        api.create(**charge(mandate.id, customer_id=stranger.id)),
        FAILED_PRECONDITION,
        "MANDATE_CUSTOMER_MISMATCH",
    )
    assert await count(db, "payments", api.merchant_id) == before
    # Within the scope, the same mandate pays (the refusals used none of it).
    assert (await api.create(**charge(mandate.id, amount=usd(50)))).state == (
        pb.Payment.STATE_CAPTURED
    )


async def test_a_single_use_mandate_pays_once(
    api: Api, mandates: MandateApi, saved: Saved, db: asyncpg.Pool
) -> None:
    mandate = await mandates.setup(
        saved.customer_id, saved.card_token, scope=scope(usage=ms.MandateScope.USAGE_SINGLE_USE)
    )
    first = await api.create(**charge(mandate.id))

    error = await expect_error(
        api.create(**charge(mandate.id)), FAILED_PRECONDITION, "MANDATE_ALREADY_USED"
    )

    assert first.id in (error.details() or "")
    assert await count(db, "mandate_charges", api.merchant_id) == 1


async def test_a_monthly_mandate_pays_once_per_period(
    api: Api, mandates: MandateApi, saved: Saved
) -> None:
    monthly = scope(interval=ms.MandateScope.INTERVAL_MONTH, interval_count=1)
    mandate = await mandates.setup(saved.customer_id, saved.card_token, scope=monthly)
    await api.create(**charge(mandate.id))

    await expect_error(
        api.create(**charge(mandate.id)), FAILED_PRECONDITION, "MANDATE_FREQUENCY_EXCEEDED"
    )


async def test_another_merchants_or_an_unknown_mandate_is_not_found(
    api: Api, other_api: Api, mandates: MandateApi, saved: Saved, db: asyncpg.Pool
) -> None:
    mandate = await mandates.setup(saved.customer_id, saved.card_token)

    await expect_error(other_api.create(**charge(mandate.id)), NOT_FOUND, "MANDATE_NOT_FOUND")
    await expect_error(
        api.create(**charge("man_01JD0Z8W7X6V5T4S3R2Q1P0N9M")), NOT_FOUND, "MANDATE_NOT_FOUND"
    )
    assert await count(db, "payments", other_api.merchant_id) == 0


async def test_a_refused_charge_replays_its_refusal(
    api: Api, mandates: MandateApi, saved: Saved, db: asyncpg.Pool
) -> None:
    mandate = await mandates.setup(saved.customer_id, saved.card_token)
    await mandates.revoke(mandate.id)
    request: dict[str, Any] = charge(mandate.id, request_id="mit-replay-1")

    for _ in range(2):
        await expect_error(api.create(**request), FAILED_PRECONDITION, "MANDATE_REVOKED")
    assert await count(db, "mandate_charges", api.merchant_id) == 0


async def test_mandate_fields_go_together_and_exclude_a_payment_method(api: Api) -> None:
    await expect_invalid(api.create(off_session=True, payment_method=None), "mandate_id")
    await expect_invalid(
        api.create(mandate_id="man_01JD0Z8W7X6V5T4S3R2Q1P0N9M", payment_method=card()),
        "off_session",
        "payment_method",
    )
    await expect_invalid(api.create(**charge("pay_x")), "mandate_id")
