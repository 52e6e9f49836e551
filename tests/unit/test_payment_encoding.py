"""A payment's API encoding is byte for byte the one of d76f7a3 (issue 18's faster reads).

``payment_replies.json`` holds, for each payment of ``payment_samples``, the
GetPaymentResponse d76f7a3's converter made (and a ListPaymentsResponse of
them all): the faster conversion must not change a single byte of a reply.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from google.protobuf import timestamp_pb2

from core.api.payment_handlers import PaymentHandlers
from core.auth.caller import Caller
from core.domain.payment import Payment
from core.wire import convert
from paycore.v1 import payment_service_pb2 as svc
from tests.unit.payment_samples import samples

GOLDEN: dict[str, str] = json.loads((Path(__file__).parent / "payment_replies.json").read_text())
SAMPLES = samples()


def get_reply(payment: Payment) -> bytes:
    response = svc.GetPaymentResponse(payment=convert.payment_to_proto(payment))
    return response.SerializeToString(deterministic=True)


def test_every_sample_has_its_golden_reply() -> None:
    assert set(GOLDEN) == {*SAMPLES, "__list__"}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_a_payment_encodes_to_the_same_bytes_as_before(name: str) -> None:
    assert get_reply(SAMPLES[name]).hex() == GOLDEN[name]


def test_a_page_of_payments_encodes_to_the_same_bytes_as_before() -> None:
    response = svc.ListPaymentsResponse(
        payments=[convert.payment_to_proto(p) for p in SAMPLES.values()], next_page_token="tok"
    )
    assert response.SerializeToString(deterministic=True).hex() == GOLDEN["__list__"]


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 3, 14, 15, 9, 26, 535897, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 3, 14, 15, 9, 26, 1),  # naive: UTC
        datetime(2026, 3, 14, 15, 9, 26, 7, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2026, 3, 14, 1, 2, 3, tzinfo=timezone(-timedelta(hours=11))),
    ],
)
def test_a_timestamp_has_the_fields_from_datetime_gives(value: datetime) -> None:
    expected = timestamp_pb2.Timestamp()
    expected.FromDatetime(value)
    assert convert.timestamp(value) == expected


class ReadsOnly:
    """The two reads of PaymentService: ``found`` (get), every sample (list)."""

    def __init__(self, found: Payment | None = None) -> None:
        self.found = found

    async def get_payment(self, merchant_id: str, payment_id: str) -> Payment:
        assert self.found is not None
        return self.found

    async def list_payments(self, query: object) -> tuple[list[Payment], bool]:
        return list(SAMPLES.values()), True


def handlers(found: Payment | None = None) -> PaymentHandlers:
    return PaymentHandlers(ReadsOnly(found), b"secret")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(SAMPLES))
async def test_get_payment_answers_the_golden_bytes(name: str) -> None:
    request = svc.GetPaymentRequest(payment_id="pay_" + "0" * 26)

    reply = await handlers(SAMPLES[name]).get_payment(Caller("m_1"), request)

    assert reply.ok
    assert reply.body.hex() == GOLDEN[name]


async def test_list_payments_answers_what_its_response_message_serializes_to() -> None:
    reply = await handlers().list_payments(Caller("m_1"), svc.ListPaymentsRequest(page_size=50))

    assert reply.ok
    answered = svc.ListPaymentsResponse.FromString(reply.body)
    assert answered.next_page_token  # more follow: both fields are set
    expected = svc.ListPaymentsResponse(
        payments=[convert.payment_to_proto(p) for p in SAMPLES.values()],
        next_page_token=answered.next_page_token,
    )
    assert reply.body == expected.SerializeToString(deterministic=True)
    assert [p.id for p in answered.payments] == [p.id for p in SAMPLES.values()]
