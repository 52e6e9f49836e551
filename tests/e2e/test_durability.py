"""What a reply reports is committed in PostgreSQL, and no full card number is stored anywhere."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from tests.support.api import Api
from tests.support.requests import (
    card,
    create_request,
    manual_capture,
    manual_confirmation,
    usd,
    wire,
)

PAN = "4000056655665556"  # a Visa number with no sandbox behaviour: authorized


async def _row(db: Any, api: Api, payment_id: str) -> Any:
    return await db.fetchrow(
        "SELECT * FROM payments WHERE merchant_id = $1 AND id = $2", api.merchant_id, payment_id
    )


async def test_created_payment_is_committed_before_the_reply(api: Api, db: Any) -> None:
    payment = await api.create(amount=usd(12, 34), customer_id="cus_1", metadata={"k": "v"})

    row = await _row(db, api, payment.id)

    assert row["state"] == "captured"
    assert (row["currency"], row["amount"], row["amount_captured"], row["amount_refunded"]) == (
        "USD",
        1234,
        1234,
        0,
    )
    assert (row["customer_id"], json.loads(row["metadata"])) == ("cus_1", {"k": "v"})
    assert row["channel"] == payment.channel
    assert row["channel_reference"] == payment.channel_reference
    assert row["operation_in_flight"] == ""


async def test_every_state_change_is_committed(api: Api, db: Any) -> None:
    payment = await api.create(**manual_capture(amount=usd(50)))
    assert (await _row(db, api, payment.id))["state"] == "authorized"

    await api.capture(payment.id, usd(40))
    row = await _row(db, api, payment.id)
    assert (row["state"], row["amount_captured"]) == ("captured", 4000)

    refund = (await api.refund(payment.id, usd(15))).refund
    row = await _row(db, api, payment.id)
    assert (row["state"], row["amount_refunded"]) == ("partially_refunded", 1500)
    refund_row = await db.fetchrow(
        "SELECT payment_id, amount, currency, state FROM refunds"
        " WHERE merchant_id = $1 AND id = $2",
        api.merchant_id,
        refund.id,
    )
    assert tuple(refund_row) == (payment.id, 1500, "USD", "succeeded")


async def test_declined_payment_is_committed_with_its_failure(api: Api, db: Any) -> None:
    payment = await api.create(payment_method=card("4000000000009995"))

    row = await _row(db, api, payment.id)

    assert row["state"] == "declined"
    assert json.loads(row["failure"])["code"] == "insufficient_funds"


async def test_each_channel_call_is_recorded_with_its_outcome(api: Api, db: Any) -> None:
    payment = await api.create(**manual_capture())
    await api.capture(payment.id)
    await api.refund(payment.id, usd(1))

    attempts = await db.fetch(
        "SELECT operation, outcome FROM channel_attempts WHERE merchant_id = $1 AND payment_id = $2"
        " ORDER BY create_time",
        api.merchant_id,
        payment.id,
    )

    assert [tuple(a) for a in attempts] == [
        ("authorize", "succeeded"),
        ("capture", "succeeded"),
        ("refund", "succeeded"),
    ]


async def test_reply_is_stored_with_the_request_id(api: Api, db: Any) -> None:
    request = create_request()
    response = await api.call("CreatePayment", request)

    stored = await db.fetchrow(
        "SELECT state, reply_ok, reply, resource_id FROM idempotency_keys"
        " WHERE merchant_id = $1 AND operation = 'CreatePayment' AND request_id = $2",
        api.merchant_id,
        request.request_id,
    )

    assert (stored["state"], stored["reply_ok"], stored["resource_id"]) == (
        "completed",
        True,
        response.payment.id,
    )
    assert bytes(stored["reply"]) == wire(response)


async def test_full_card_number_is_stored_nowhere(api: Api, db: Any) -> None:
    created = await api.create(**manual_confirmation(payment_method=card(PAN)))
    await api.confirm(created.id, PAN)
    await api.refund(created.id, usd(1))

    for table in ("payments", "refunds", "channel_attempts", "idempotency_keys"):
        rows = await db.fetch(
            f"SELECT t::text AS text FROM {table} t WHERE merchant_id = $1", api.merchant_id
        )
        assert rows
        for row in rows:
            assert PAN not in row["text"], table
            assert PAN.encode().hex() not in row["text"], table


def _recover_pan(fingerprint: bytes, payment: pb.Payment) -> str | None:
    """What anyone with the database can do: find the PAN whose request hashes to the fingerprint.

    Everything in the request but the middle six digits is in the payments row; the
    Luhn check digit fixes one of them, leaving 100,000 candidates.
    """
    shown = payment.payment_method.card
    placeholder = shown.bin + "000000" + shown.last4
    template = svc.CreatePaymentRequest(
        amount=payment.amount,
        payment_method=pb.PaymentMethodData(
            card=pb.CardData(number=placeholder, exp_month=shown.exp_month, exp_year=shown.exp_year)
        ),
    ).SerializeToString(deterministic=True)
    prefix, suffix = template.split(placeholder.encode())
    for head in range(100_000):
        without_last = f"{shown.bin}{head:05d}0{shown.last4}"
        # The sixth middle digit is not doubled by Luhn: it is what makes the sum end in 0.
        number = f"{shown.bin}{head:05d}{-_luhn_sum(without_last) % 10}{shown.last4}"
        if hashlib.sha256(prefix + number.encode() + suffix).digest() == fingerprint:
            return number
    return None


def _luhn_sum(number: str) -> int:
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char) * (2 if position % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total


async def test_stored_request_fingerprint_does_not_reveal_the_card_number(
    api: Api, db: Any
) -> None:
    request = create_request(payment_method=card(PAN, cvc="", holder_name=""))
    payment = (await api.call("CreatePayment", request)).payment
    fingerprint = await db.fetchval(
        "SELECT fingerprint FROM idempotency_keys"
        " WHERE merchant_id = $1 AND operation = 'CreatePayment' AND request_id = $2",
        api.merchant_id,
        request.request_id,
    )

    assert _recover_pan(bytes(fingerprint), payment) is None
