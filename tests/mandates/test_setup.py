"""SetupPaymentMethod, RevokeMandate, ListPaymentMethods end to end (real PostgreSQL and Redis)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import pytest

from core.app import Services
from core.domain.attempt import ChannelOperation
from core.domain.mandates import Mandate
from core.storage.mandates import PostgresMandates
from paycore.v1 import mandate_service_pb2 as ms
from paycore.v1 import payment_pb2 as pb
from tests.mandates.conftest import MandateApi, Saved, at, channel_calls, count, scope
from tests.support.api import Api, VaultApi
from tests.support.expect import (
    FAILED_PRECONDITION,
    INVALID_ARGUMENT,
    NOT_FOUND,
    error_info,
    expect_error,
    expect_invalid,
)
from tests.support.polling import eventually
from tests.support.requests import cents, usd

UNKNOWN_CUSTOMER = "cus_01JD0Z8W7X6V5T4S3R2Q1P0N9M"


async def test_setup_verifies_the_card_at_the_channel_and_records_an_active_mandate(
    mandates: MandateApi, saved: Saved, api: Api, services: Services
) -> None:
    mandate = await mandates.setup(saved.customer_id, saved.card_token)

    assert mandate.id.startswith("man_")
    assert (mandate.customer_id, mandate.card_token) == (saved.customer_id, saved.card_token)
    assert mandate.status == ms.Mandate.STATUS_ACTIVE
    assert mandate.agreement_id and mandate.channel
    verification = await api.get(mandate.verification_payment_id)
    # Verified by one minor unit, authorized and then voided.
    assert verification.state == pb.Payment.STATE_CANCELED
    assert cents(verification.amount) == 1
    assert verification.customer_id == saved.customer_id
    assert verification.channel_reference == mandate.agreement_id
    calls = channel_calls(services, verification.id)
    assert [c.operation for c in calls] == [ChannelOperation.AUTHORIZE, ChannelOperation.VOID]


async def test_a_replayed_setup_verifies_once_and_answers_the_same_mandate(
    mandates: MandateApi, saved: Saved, services: Services, db: asyncpg.Pool
) -> None:
    request = mandates.setup_request(saved.customer_id, saved.card_token)

    first = (await mandates.call("SetupPaymentMethod", request)).mandate
    again = (await mandates.call("SetupPaymentMethod", request)).mandate

    assert again == first
    assert len(channel_calls(services, first.verification_payment_id)) == 2  # authorize, void
    assert await count(db, "payments", mandates.merchant_id) == 1
    assert await count(db, "mandates", mandates.merchant_id) == 1


async def test_a_declined_verification_records_no_mandate_and_replays_its_refusal(
    mandates: MandateApi, saved: Saved, vault: VaultApi, db: asyncpg.Pool
) -> None:
    declined = await vault.tokenize("4000000000000002")
    request = mandates.setup_request(saved.customer_id, declined.id)

    for _ in range(2):
        await expect_error(
            mandates.call("SetupPaymentMethod", request),
            FAILED_PRECONDITION,
            "PAYMENT_METHOD_VERIFICATION_FAILED",
        )

    assert await count(db, "mandates", mandates.merchant_id) == 0
    assert await count(db, "payments", mandates.merchant_id) == 1  # the declined verification


async def test_setup_for_an_unknown_customer_or_token_is_not_found_and_changes_nothing(
    mandates: MandateApi, saved: Saved, db: asyncpg.Pool
) -> None:
    await expect_error(
        mandates.setup(UNKNOWN_CUSTOMER, saved.card_token), NOT_FOUND, "CUSTOMER_NOT_FOUND"
    )
    await expect_error(
        mandates.setup(saved.customer_id, "tok_01JD0Z8W7X6V5T4S3R2Q1P0N9M"),
        NOT_FOUND,
        "CARD_TOKEN_NOT_FOUND",
    )
    assert await count(db, "payments", mandates.merchant_id) == 0


async def test_bad_setup_requests_name_every_bad_field(mandates: MandateApi, saved: Saved) -> None:
    past = at(datetime.now(UTC) - timedelta(days=1))
    await expect_invalid(
        mandates.setup("", "", request_id=""),
        "request_id",
        "customer_id",
        "card_token",
    )
    await expect_invalid(
        mandates.setup(
            saved.customer_id,
            saved.card_token,
            scope=ms.MandateScope(interval_count=3, expire_time=past),
        ),
        "scope.usage",
        "scope.max_amount",
        "scope.interval_count",
        "scope.expire_time",
    )
    await expect_invalid(mandates.setup(saved.customer_id, saved.card_token, scope=None), "scope")


async def test_revoking_is_idempotent_and_shows_the_mandate_revoked(
    mandates: MandateApi, saved: Saved
) -> None:
    mandate = await mandates.setup(saved.customer_id, saved.card_token)

    revoked = await mandates.revoke(mandate.id)
    again = await mandates.revoke(mandate.id)

    assert revoked.status == again.status == ms.Mandate.STATUS_REVOKED
    assert revoked.revoke_time == again.revoke_time


async def test_another_merchants_mandate_cannot_be_revoked(
    mandates: MandateApi, other_mandates: MandateApi, saved: Saved
) -> None:
    mandate = await mandates.setup(saved.customer_id, saved.card_token)

    await expect_error(other_mandates.revoke(mandate.id), NOT_FOUND, "MANDATE_NOT_FOUND")
    await expect_invalid(mandates.revoke("pay_1"), "mandate_id")


async def test_payment_methods_list_each_card_with_its_mandates_page_by_page(
    mandates: MandateApi, saved: Saved, vault: VaultApi
) -> None:
    second_card = await vault.tokenize("5555555555554444")
    monthly = scope(interval=ms.MandateScope.INTERVAL_MONTH, interval_count=1, max_amount=usd(9))
    one = await mandates.setup(saved.customer_id, saved.card_token)
    two = await mandates.setup(saved.customer_id, saved.card_token, scope=monthly)
    three = await mandates.setup(saved.customer_id, second_card.id)

    first = await mandates.methods(saved.customer_id, page_size=1)
    rest = await mandates.methods(saved.customer_id, page_token=first.next_page_token)

    methods = [*first.payment_methods, *rest.payment_methods]
    assert first.next_page_token and not rest.next_page_token
    by_token = {m.card_token: [x.id for x in m.mandates] for m in methods}
    assert by_token == {saved.card_token: [one.id, two.id], second_card.id: [three.id]}
    listed = next(m for m in methods if m.card_token == saved.card_token)
    assert listed.card.last4 == "4242"
    assert listed.mandates[1].scope == two.scope
    await expect_error(
        mandates.methods(UNKNOWN_CUSTOMER, page_token=first.next_page_token),
        INVALID_ARGUMENT,
        "INVALID_PAGE_TOKEN",
    )


async def test_concurrent_repeats_of_one_setup_verify_the_card_once(
    mandates: MandateApi, saved: Saved, services: Services, db: asyncpg.Pool
) -> None:
    request = mandates.setup_request(saved.customer_id, saved.card_token)

    outcomes = await asyncio.gather(
        *(mandates.call("SetupPaymentMethod", request) for _ in range(4)),
        return_exceptions=True,
    )

    answered = [o.mandate for o in outcomes if not isinstance(o, BaseException)]
    busy = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(answered) + len(busy) == len(outcomes)
    assert all(error_info(e).reason == "REQUEST_IN_PROGRESS" for e in busy)

    async def replayed() -> ms.SetupPaymentMethodResponse | None:
        try:
            response: ms.SetupPaymentMethodResponse = await mandates.call(
                "SetupPaymentMethod", request
            )
        except grpc.aio.AioRpcError as error:
            if error_info(error).reason != "REQUEST_IN_PROGRESS":
                raise
            return None
        return response

    final = await eventually(replayed, what="the setup's replay")
    assert all(m == final.mandate for m in answered)
    assert len(channel_calls(services, final.mandate.verification_payment_id)) == 2
    assert await count(db, "payments", mandates.merchant_id) == 1
    assert await count(db, "mandates", mandates.merchant_id) == 1


async def test_a_setup_cut_short_after_its_verification_resumes_without_verifying_again(
    mandates: MandateApi,
    saved: Saved,
    services: Services,
    db: asyncpg.Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The mandate's write fails once (as if the process died there): the
    # verification and its void are committed, the mandate is not.
    save = PostgresMandates.save
    failures: list[str] = []

    async def failing_once(self: PostgresMandates, mandate: Mandate) -> None:
        if not failures:
            failures.append(mandate.id)
            raise ConnectionResetError("cut short")
        await save(self, mandate)

    monkeypatch.setattr(PostgresMandates, "save", failing_once)
    request = mandates.setup_request(saved.customer_id, saved.card_token)
    with pytest.raises(grpc.aio.AioRpcError):
        await mandates.call("SetupPaymentMethod", request)
    assert await count(db, "mandates", mandates.merchant_id) == 0

    mandate = (await mandates.call("SetupPaymentMethod", request)).mandate

    assert failures and mandate.id != failures[0]  # recorded by the retry
    assert len(channel_calls(services, mandate.verification_payment_id)) == 2
    assert await count(db, "payments", mandates.merchant_id) == 1
    assert await count(db, "mandates", mandates.merchant_id) == 1
