"""Per-request work of a create: fingerprints, request_id characters, risk's transaction."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import fields
from datetime import date

import pytest
from google.type import money_pb2

from core.api.requests.fingerprint import request_fingerprint
from core.api.requests.payments import create_payment
from core.domain.errors import ValidationError
from core.domain.money import Money
from core.domain.payment import RiskContext
from core.service.payments.authorize import risk_transaction
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc

KEY = b"k" * 32
TODAY = date(2026, 1, 1)


def _request(request_id: str = "req-1", **fields: object) -> svc.CreatePaymentRequest:
    return svc.CreatePaymentRequest(
        request_id=request_id,
        amount=money_pb2.Money(currency_code="USD", units=10),
        payment_method=pb.PaymentMethodData(
            card=pb.CardData(number="4242424242424242", exp_month=12, exp_year=2030, cvc="123")
        ),
        **fields,  # type: ignore[arg-type]
    )


def _fingerprint_of_a_copy(request: svc.CreatePaymentRequest) -> bytes:
    """The fingerprint as stored records were made: a copy without its request_id."""
    copy = svc.CreatePaymentRequest()
    copy.CopyFrom(request)
    copy.ClearField("request_id")
    return hmac.new(KEY, copy.SerializeToString(deterministic=True), hashlib.sha256).digest()


def test_fingerprint_is_unchanged_for_records_already_stored() -> None:
    request = _request(metadata={"b": "2", "a": "1"}, description="shoes")
    assert request_fingerprint(request, KEY) == _fingerprint_of_a_copy(request)


def test_fingerprint_leaves_the_request_as_it_was() -> None:
    request = _request("req-42")
    before = request.SerializeToString()
    request_fingerprint(request, KEY)
    assert request.request_id == "req-42"
    assert request.SerializeToString() == before


def test_fingerprint_ignores_the_request_id_only() -> None:
    fingerprint = request_fingerprint(_request("a"), KEY)
    assert request_fingerprint(_request("b"), KEY) == fingerprint
    assert request_fingerprint(_request("a", description="x"), KEY) != fingerprint


@pytest.mark.parametrize("request_id", ["a space", "tab\there", "caf\u00e9", "nul\x00", "\x7f"])
def test_request_id_outside_visible_ascii_is_refused(request_id: str) -> None:
    with pytest.raises(ValidationError) as raised:
        create_payment("m_1", _request(request_id), TODAY)
    assert [violation.field for violation in raised.value.violations] == ["request_id"]


def test_request_id_may_use_every_visible_ascii_character() -> None:
    every = "".join(chr(code) for code in range(ord("!"), ord("~") + 1))
    assert create_payment("m_1", _request(every), TODAY).amount.amount == 1000


def test_risk_transaction_carries_every_customer_signal() -> None:
    signals = {field.name: f"value of {field.name}" for field in fields(RiskContext)}
    transaction = risk_transaction(
        "m_1", Money(1000, "USD"), None, "cus_1", RiskContext(**signals), "card"
    )
    assert {name: getattr(transaction, name) for name in signals} == signals
