"""What the clients send and return, against a real gRPC server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import grpc
import pytest

from paycore.client import (
    AsyncPaycoreClient,
    PaycoreClient,
    card,
    money,
    qr_wallet,
    redirect_wallet,
)
from paycore.v1 import payment_service_pb2 as pb
from paycore.v1.payment_pb2 import CAPTURE_METHOD_MANUAL, Payment, Refund

from .conftest import API_KEY
from .either_client import EitherClient
from .scripted_paycore import ScriptedPaymentService

VISA = card("4242424242424242", 12, 2030, cvc="123", holder_name="Ada Lovelace")


async def test_every_call_carries_the_api_key(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    await client.get_payment("pay_1")
    await client.capture_payment("pay_1")

    assert [call.metadata["authorization"] for call in paycore.calls] == [
        f"Bearer {API_KEY}",
        f"Bearer {API_KEY}",
    ]
    assert all("x-paycore-merchant-id" not in call.metadata for call in paycore.calls)


async def test_a_platform_key_names_the_merchant_it_acts_for(
    paycore: ScriptedPaymentService, target: str
) -> None:
    with PaycoreClient(target, api_key=API_KEY, merchant_id="acme") as client:
        client.get_payment("pay_1")

    assert paycore.calls[0].metadata["x-paycore-merchant-id"] == "acme"


@pytest.mark.parametrize("merchant_id", ["", "a" * 65, "acme corp", "acme/1"])
def test_a_malformed_merchant_id_is_refused_before_any_call(merchant_id: str) -> None:
    with pytest.raises(ValueError, match="merchant_id"):
        PaycoreClient("127.0.0.1:1", api_key=API_KEY, merchant_id=merchant_id)


@pytest.mark.parametrize("api_key", ["", "two words", "k" * 201])
def test_a_malformed_api_key_is_refused_before_any_call(api_key: str) -> None:
    with pytest.raises(ValueError, match="api_key"):
        PaycoreClient("127.0.0.1:1", api_key=api_key)


async def test_create_payment_sends_every_field_and_returns_the_payment(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    payment = await client.create_payment(
        amount=money(1050, "USD"),
        payment_method=VISA,
        capture_method=CAPTURE_METHOD_MANUAL,
        customer_id="cus_7",
        description="order 7",
        metadata={"order": "7"},
    )

    assert isinstance(payment, Payment)
    assert payment.id == "pay_created"
    [sent] = paycore.requests("CreatePayment")
    assert sent.amount == money(1050, "USD")
    assert sent.payment_method.card.number == "4242424242424242"
    assert sent.payment_method.card.holder_name == "Ada Lovelace"
    assert sent.capture_method == CAPTURE_METHOD_MANUAL
    assert (sent.customer_id, sent.description, dict(sent.metadata)) == (
        "cus_7",
        "order 7",
        {"order": "7"},
    )


async def test_a_return_url_is_sent_on_create_and_confirm(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    await client.create_payment(
        amount=money(1050, "USD"), payment_method=VISA, return_url="https://shop.test/back"
    )
    await client.confirm_payment("pay_1", payment_method=VISA, return_url="https://shop.test/c")

    [created] = paycore.requests("CreatePayment")
    [confirmed] = paycore.requests("ConfirmPayment")
    assert created.return_url == "https://shop.test/back"
    assert confirmed.return_url == "https://shop.test/c"


async def test_a_redirect_or_qr_wallet_is_sent_as_the_payment_method(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    await client.create_payment(
        amount=money(1050, "USD"),
        payment_method=redirect_wallet("sandbox_pay"),
        return_url="https://shop.test/back",
    )

    await client.create_payment(amount=money(1050, "USD"), payment_method=qr_wallet("qr_pay"))

    redirected, scanned = paycore.requests("CreatePayment")
    assert redirected.payment_method.WhichOneof("kind") == "redirect_wallet"
    assert redirected.payment_method.redirect_wallet.provider == "sandbox_pay"
    assert scanned.payment_method.WhichOneof("kind") == "qr_wallet"
    assert scanned.payment_method.qr_wallet.provider == "qr_pay"


async def test_a_generated_request_id_is_a_uuid4(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    await client.create_payment(amount=money(100, "EUR"), payment_method=VISA)

    [sent] = paycore.requests("CreatePayment")
    assert uuid.UUID(sent.request_id).version == 4


async def test_each_call_gets_its_own_generated_request_id(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    await client.capture_payment("pay_1")
    await client.capture_payment("pay_1")

    first, second = paycore.requests("CapturePayment")
    assert first.request_id != second.request_id


async def test_the_callers_request_id_is_sent_unchanged(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    await client.confirm_payment("pay_1", payment_method=VISA, request_id="confirm-pay_1")
    await client.capture_payment("pay_1", request_id="capture-pay_1")
    await client.cancel_payment("pay_1", reason="fraud", request_id="cancel-pay_1")
    await client.refund_payment("pay_1", request_id="refund-pay_1")
    await client.update_payment("pay_1", description="x", request_id="update-pay_1")

    sent_ids = [call.request.request_id for call in paycore.calls]
    assert sent_ids == [
        "confirm-pay_1",
        "capture-pay_1",
        "cancel-pay_1",
        "refund-pay_1",
        "update-pay_1",
    ]


async def test_partial_capture_and_refund_send_their_amounts(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    captured = await client.capture_payment("pay_1", amount=money(700, "USD"))
    refunded = await client.refund_payment("pay_1", amount=money(200, "USD"), reason="damaged")

    assert captured.state == Payment.STATE_CAPTURED
    assert isinstance(refunded, pb.RefundPaymentResponse)
    assert refunded.refund.amount == money(200, "USD")
    assert refunded.payment.id == "pay_1"
    [capture] = paycore.requests("CapturePayment")
    [refund] = paycore.requests("RefundPayment")
    assert capture.amount == money(700, "USD")
    assert (refund.amount, refund.reason) == (money(200, "USD"), "damaged")


async def test_capture_without_amount_leaves_it_unset(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    await client.capture_payment("pay_1")

    [sent] = paycore.requests("CapturePayment")
    assert not sent.HasField("amount")


async def test_update_masks_exactly_the_fields_given(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    await client.update_payment("pay_1", description="")
    await client.update_payment("pay_1", amount=money(5, "JPY"), metadata={})

    clear_description, new_amount = paycore.requests("UpdatePayment")
    assert list(clear_description.update_mask.paths) == ["description"]
    assert list(new_amount.update_mask.paths) == ["amount", "metadata"]
    assert new_amount.amount == money(5, "JPY")


async def test_update_with_nothing_to_change_is_refused(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    with pytest.raises(ValueError, match="at least one"):
        await client.update_payment("pay_1")

    assert paycore.calls == []


async def test_list_payments_sends_filters_and_returns_the_page(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    paycore.payments.extend(Payment(id=f"pay_{n}") for n in range(3))
    since = datetime(2026, 1, 1, tzinfo=UTC)

    page = await client.list_payments(
        page_size=2,
        states=[Payment.STATE_CAPTURED, Payment.STATE_REFUNDED],
        customer_id="cus_7",
        create_time_start=since,
    )

    assert isinstance(page, pb.ListPaymentsResponse)
    assert [p.id for p in page.payments] == ["pay_0", "pay_1"]
    assert page.next_page_token == "2"
    [sent] = paycore.requests("ListPayments")
    assert list(sent.states) == [Payment.STATE_CAPTURED, Payment.STATE_REFUNDED]
    assert sent.customer_id == "cus_7"
    assert sent.create_time_start.ToDatetime(tzinfo=UTC) == since
    assert not sent.HasField("create_time_end")


async def test_list_payments_refuses_a_naive_datetime(client: EitherClient) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await client.list_payments(create_time_end=datetime(2026, 1, 1))


async def test_iter_payments_follows_page_tokens_with_the_same_filters(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    paycore.payments.extend(Payment(id=f"pay_{n}") for n in range(5))

    payments = await client.all_payments(page_size=2, customer_id="cus_7")

    assert [p.id for p in payments] == [f"pay_{n}" for n in range(5)]
    pages = paycore.requests("ListPayments")
    assert [page.page_token for page in pages] == ["", "2", "4"]
    assert {(page.customer_id, page.page_size) for page in pages} == {("cus_7", 2)}


async def test_iter_payments_over_nothing_makes_one_call(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    assert await client.all_payments() == []
    assert len(paycore.requests("ListPayments")) == 1


def test_the_sync_client_does_not_close_a_channel_it_was_given(
    paycore: ScriptedPaymentService, target: str
) -> None:
    with grpc.insecure_channel(target) as channel:
        with PaycoreClient(target, api_key=API_KEY, channel=channel) as client:
            client.get_payment("pay_1")
        with PaycoreClient(target, api_key=API_KEY, channel=channel) as client:
            assert client.get_payment("pay_2").id == "pay_2"


def test_the_sync_client_closes_its_own_channel(target: str) -> None:
    with PaycoreClient(target, api_key=API_KEY) as client:
        pass

    with pytest.raises(ValueError, match="closed channel"):
        client.get_payment("pay_1")


async def test_the_async_client_does_not_close_a_channel_it_was_given(
    paycore: ScriptedPaymentService, target: str
) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        async with AsyncPaycoreClient(target, api_key=API_KEY, channel=channel) as client:
            await client.get_payment("pay_1")
        async with AsyncPaycoreClient(target, api_key=API_KEY, channel=channel) as client:
            assert (await client.get_payment("pay_2")).id == "pay_2"


# --- refund review --------------------------------------------------------------------------


async def test_refund_review_calls_send_their_requests(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    approved = await client.approve_refund("re_1", request_id="approve-1")
    rejected = await client.reject_refund("re_2", reason="duplicate")

    assert approved.refund.state == Refund.STATE_SUCCEEDED
    assert (rejected.refund.state, rejected.refund.rejection_reason) == (
        Refund.STATE_REJECTED,
        "duplicate",
    )
    [approve] = paycore.requests("ApproveRefund")
    [reject] = paycore.requests("RejectRefund")
    assert (approve.refund_id, approve.request_id) == ("re_1", "approve-1")
    assert (reject.refund_id, reject.reason) == ("re_2", "duplicate")
    assert reject.request_id  # generated once per call


async def test_list_refunds_sends_the_review_queue_filter(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    page = await client.list_refunds(
        page_size=5, states=[Refund.STATE_PENDING_REVIEW], payment_id="pay_1"
    )

    assert [r.id for r in page.refunds] == ["re_1"]
    [sent] = paycore.requests("ListRefunds")
    assert (sent.page_size, list(sent.states), sent.payment_id) == (
        5,
        [Refund.STATE_PENDING_REVIEW],
        "pay_1",
    )


async def test_update_merchant_settings_masks_exactly_the_settings_given(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    settings = await client.update_merchant_settings(refund_review_thresholds=[money(5000, "USD")])
    cleared = await client.update_merchant_settings(refund_review_thresholds=[])
    current = await client.get_merchant_settings()

    assert list(settings.refund_review_thresholds) == [money(5000, "USD")]
    assert list(cleared.refund_review_thresholds) == []
    assert list(current.refund_review_thresholds) == []
    first, second = paycore.requests("UpdateMerchantSettings")
    assert (
        list(first.update_mask.paths)
        == list(second.update_mask.paths)
        == ["refund_review_thresholds"]
    )
    assert first.request_id and first.request_id != second.request_id


def test_update_merchant_settings_needs_a_setting() -> None:
    with PaycoreClient("127.0.0.1:1", api_key=API_KEY) as client, pytest.raises(ValueError):
        client.update_merchant_settings()


async def test_verify_payment_code_sends_the_code_under_a_request_id(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    paid = await client.verify_payment_code("pay_1", "042137", request_id="verify-pay_1")
    await client.verify_payment_code("pay_1", "042137")

    assert paid.state == Payment.STATE_CAPTURED
    first, second = paycore.requests("VerifyPaymentCode")
    assert (first.payment_id, first.code, first.request_id) == ("pay_1", "042137", "verify-pay_1")
    assert uuid.UUID(second.request_id).version == 4  # a new code is a new request
