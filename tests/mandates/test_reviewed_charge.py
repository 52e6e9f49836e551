"""Risk review and mandates: a held merchant-initiated charge, a held verification.

Their own server, with rules that hold for review every merchant-initiated
charge, and every verification of a Mastercard.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.auth.policy import Role
from core.config import Settings
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import risk_service_pb2 as risk_svc
from paycore.v1 import (
    risk_service_pb2_grpc,
)
from tests.mandates.conftest import MandateApi, channel_calls, served_merchant, with_risk_rules
from tests.support.api import Api, VaultApi
from tests.support.auth import Metadata, merchant_metadata
from tests.support.expect import FAILED_PRECONDITION, expect_error
from tests.support.requests import build
from tests.support.serving import Serving, serve_paycore

RULES = """
[thresholds]
review = 50
decline = 80

[[rule]]
id = "merchant_initiated_review"
description = "Every merchant-initiated charge waits for a person"
when = [["merchant_initiated", "==", true]]
score = 0
action = "review"

[[rule]]
id = "mastercard_review"
description = "Every Mastercard payment waits for a person"
when = [["card_brand", "==", "mastercard"]]
score = 0
action = "review"
"""


@dataclass(frozen=True)
class Reviewed:
    """The server with those rules, as one merchant (and its admin) sees it."""

    paycore: Serving
    admin: Metadata
    customer_id: str
    vault: VaultApi
    mandates: MandateApi
    api: Api


@pytest.fixture
async def reviewed(settings: Settings, tmp_path: Path) -> AsyncIterator[Reviewed]:
    async with serve_paycore(with_risk_rules(settings, tmp_path, RULES)) as paycore:
        merchant = await served_merchant(paycore)
        admin = await merchant_metadata(paycore.services.pool, merchant.merchant_id, Role.ADMIN)
        yield Reviewed(
            paycore,
            admin,
            merchant.customer_id,
            merchant.vault,
            merchant.mandates,
            merchant.api,
        )


async def test_an_approved_merchant_initiated_charge_reaches_the_channel_flagged(
    reviewed: Reviewed,
) -> None:
    token = await reviewed.vault.tokenize("4242424242424242")
    mandate = await reviewed.mandates.setup(reviewed.customer_id, token.id)  # approved

    held = await reviewed.api.create(mandate_id=mandate.id, off_session=True, payment_method=None)
    assert held.state == pb.Payment.STATE_REQUIRES_REVIEW
    services = reviewed.paycore.services
    assert channel_calls(services, held.id) == []
    approve = build(risk_svc.ApproveReviewRequest, payment_id=held.id, note="known member")
    risk_stub = reviewed.paycore.stub(risk_service_pb2_grpc.RiskServiceStub)
    approved = (await risk_stub.ApproveReview(approve, metadata=reviewed.admin)).payment

    assert approved.state == pb.Payment.STATE_CAPTURED
    [authorization] = channel_calls(services, held.id)
    assert authorization.merchant_initiated
    assert authorization.agreement_id == mandate.agreement_id


async def test_a_verification_risk_holds_refuses_the_setup_and_is_canceled(
    reviewed: Reviewed,
) -> None:
    token = await reviewed.vault.tokenize("5555555555554444")
    request = reviewed.mandates.setup_request(reviewed.customer_id, token.id)

    error = await expect_error(
        reviewed.mandates.call("SetupPaymentMethod", request),
        FAILED_PRECONDITION,
        "PAYMENT_METHOD_VERIFICATION_FAILED",
    )

    assert "review" in (error.details() or "")
    [verification] = (await reviewed.api.list(customer_id=reviewed.customer_id)).payments
    assert verification.state == pb.Payment.STATE_CANCELED  # no approval can send it now
    assert channel_calls(reviewed.paycore.services, verification.id) == []
    assert not (await reviewed.mandates.methods(reviewed.customer_id)).payment_methods


async def test_a_held_charge_whose_mandate_was_revoked_is_not_sent_on_approval(
    reviewed: Reviewed,
) -> None:
    token = await reviewed.vault.tokenize("4242424242424242")
    mandate = await reviewed.mandates.setup(reviewed.customer_id, token.id)
    held = await reviewed.api.create(mandate_id=mandate.id, off_session=True, payment_method=None)
    assert held.state == pb.Payment.STATE_REQUIRES_REVIEW
    await reviewed.mandates.revoke(mandate.id)  # the customer withdraws consent meanwhile

    approve = build(risk_svc.ApproveReviewRequest, payment_id=held.id, note="known member")
    risk_stub = reviewed.paycore.stub(risk_service_pb2_grpc.RiskServiceStub)
    await expect_error(
        risk_stub.ApproveReview(approve, metadata=reviewed.admin),
        FAILED_PRECONDITION,
        "MANDATE_REVOKED",
    )

    assert channel_calls(reviewed.paycore.services, held.id) == []
    still = await reviewed.api.get(held.id)
    assert still.state == pb.Payment.STATE_REQUIRES_REVIEW  # the admin may still reject it
