"""Bank transfers in the routing tests: the bank's key, payments by transfer, what they left.

The ``bank_stack`` fixture (conftest.py) serves paycore over one bank channel;
these helpers pay through it, wait for the bank, read the ledger and events,
and post notifications signed with the bank's key.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import asyncpg
from aiohttp import ClientSession
from cryptography.hazmat.primitives.asymmetric import rsa
from google.type import money_pb2

from core.domain.attempt import ChannelResult
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from router.channels.acquirer_wire import notification_to_wire
from router.signing import SIGNATURE_HEADER, sign_rsa
from tests.support.api import Api
from tests.support.polling import eventually
from tests.support.requests import build, money

if TYPE_CHECKING:
    from .conftest import BankStack

BANK_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
S = pb.Payment


def eur(cents: int) -> money_pb2.Money:
    """Euros from cents, as google.type.Money."""
    return money(cents // 100, (cents % 100) * 10_000_000, "EUR")


def transfer(payer_name: str = "Grace Hopper", payer_email: str = "") -> pb.PaymentMethodData:
    """A bank-transfer payment method."""
    return pb.PaymentMethodData(
        bank_transfer=pb.BankTransferData(payer_name=payer_name, payer_email=payer_email)
    )


async def pay_by_transfer(api: Api, cents: int, **fields: object) -> pb.Payment:
    """CreatePayment by bank transfer in EUR; the first reply."""
    request = build(
        svc.CreatePaymentRequest, amount=eur(cents), payment_method=transfer(), **fields
    )
    return (await api.call("CreatePayment", request)).payment


async def settled(api: Api, payment_id: str) -> pb.Payment:
    """The payment once it left PENDING (polls GetPayment with a deadline)."""

    async def left_pending() -> pb.Payment | None:
        payment = await api.get(payment_id)
        return None if payment.state == S.STATE_PENDING else payment

    settled: pb.Payment = await eventually(
        left_pending, within_s=10, what="the bank's notification never settled the payment"
    )
    return settled


async def balances(pool: asyncpg.Pool, merchant_id: str) -> dict[str, int]:
    """Posted ledger balance (sum of entries) of each of the merchant's accounts."""
    rows = await pool.fetch(
        "SELECT account_id, sum(amount)::bigint AS total FROM ledger_entries"
        " WHERE merchant_id = $1 GROUP BY account_id",
        merchant_id,
    )
    return {row["account_id"]: row["total"] for row in rows if row["total"]}


async def event_types(pool: asyncpg.Pool, merchant_id: str, payment_id: str) -> list[str]:
    """The types of the events announced about ``payment_id``, in order."""
    rows = await pool.fetch(
        "SELECT type FROM events WHERE merchant_id = $1 AND resource_id = $2 ORDER BY sequence",
        merchant_id,
        payment_id,
    )
    return [row["type"] for row in rows]


async def notify(stack: BankStack, attempt_id: str, result: ChannelResult, event: str) -> int:
    """Post a notification signed with the bank's key; the ingress's status code."""
    body = json.dumps(notification_to_wire(event, attempt_id, result)).encode()
    header = sign_rsa(BANK_KEY, body, int(time.time()))
    async with (
        ClientSession() as client,
        client.post(stack.notify_url, data=body, headers={SIGNATURE_HEADER: header}) as answer,
    ):
        return answer.status
