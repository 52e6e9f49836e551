"""A mandate's frequency and single use count the charges that used it: a declined one
does not (a declined renewal retried by dunning must not exhaust the mandate).

Card 4000000000000341 is authorized by acquirer_a and declined (``do_not_honor``)
by acquirer_b (docs/ROUTING.md). A server of its own with the two acquirers, in
that order: the verification (0.01) goes to acquirer_a; a charge over
acquirer_a's 50,000.00 limit can only go to acquirer_b, where the issuer
declines it. Its risk rules let such an amount through (the shipped ones hold it
for review).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.config import Settings
from paycore.v1 import mandate_service_pb2 as ms
from paycore.v1 import payment_pb2 as pb
from router.channels.simulated import ACQUIRER_A, ACQUIRER_B, SimulatedAcquirer
from tests.mandates.conftest import ServedMerchant, scope, served_merchant, with_risk_rules
from tests.mandates.test_merchant_initiated import charge
from tests.routing.conftest import renamed
from tests.support.expect import FAILED_PRECONDITION, expect_error
from tests.support.requests import usd
from tests.support.serving import serve_paycore

DECLINED_BY_ACQUIRER_B = "4000000000000341"

RULES = """
[thresholds]
review = 50
decline = 80

[[rule]]
id = "over_limit"
description = "Above the per-payment limit"
when = [["over_amount_limit", "==", true]]
score = 100
action = "block"
"""


@pytest.fixture
async def merchant(settings: Settings, tmp_path: Path) -> AsyncIterator[ServedMerchant]:
    """A merchant of a server with both acquirers and rules that hold no large amount."""
    suffix = uuid.uuid4().hex[:8]
    acquirers = [
        SimulatedAcquirer(renamed(spec, f"{spec.profile.name}_{suffix}"))
        for spec in (ACQUIRER_A, ACQUIRER_B)
    ]
    served = with_risk_rules(settings, tmp_path, RULES)
    async with serve_paycore(served, channels=acquirers) as paycore:
        yield await served_merchant(paycore)


async def mandate_of(merchant: ServedMerchant, **scope_fields: Any) -> ms.Mandate:
    """A mandate of the merchant's customer for the card acquirer_b declines."""
    token = await merchant.vault.tokenize(DECLINED_BY_ACQUIRER_B)
    terms = scope(max_amount=usd(60_000), **scope_fields)
    return await merchant.mandates.setup(merchant.customer_id, token.id, scope=terms)


async def test_a_declined_charge_does_not_use_up_a_monthly_mandate(
    merchant: ServedMerchant,
) -> None:
    api = merchant.api
    mandate = await mandate_of(merchant, interval=ms.MandateScope.INTERVAL_MONTH)

    declined = await api.create(**charge(mandate.id, amount=usd(55_000)))
    paid = await api.create(**charge(mandate.id))  # the month's one charge: still allowed

    assert (declined.state, declined.failure.code) == (pb.Payment.STATE_DECLINED, "do_not_honor")
    assert paid.state == pb.Payment.STATE_CAPTURED
    # The charge that went through used the month up.
    await expect_error(
        api.create(**charge(mandate.id)), FAILED_PRECONDITION, "MANDATE_FREQUENCY_EXCEEDED"
    )


async def test_a_declined_charge_does_not_use_up_a_single_use_mandate(
    merchant: ServedMerchant,
) -> None:
    api = merchant.api
    mandate = await mandate_of(merchant, usage=ms.MandateScope.USAGE_SINGLE_USE)

    declined = await api.create(**charge(mandate.id, amount=usd(55_000)))
    paid = await api.create(**charge(mandate.id))

    assert (declined.state, declined.failure.code) == (pb.Payment.STATE_DECLINED, "do_not_honor")
    assert paid.state == pb.Payment.STATE_CAPTURED
    error = await expect_error(
        api.create(**charge(mandate.id)), FAILED_PRECONDITION, "MANDATE_ALREADY_USED"
    )
    assert paid.id in (error.details() or "")
