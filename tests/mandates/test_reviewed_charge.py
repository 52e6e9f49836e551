"""A merchant-initiated charge held for risk review is sent as one once an admin approves it.

Its own server, with rules that hold every merchant-initiated charge for review.
"""

from __future__ import annotations

from pathlib import Path

from core.auth.policy import Role
from core.config import RiskSettings, Settings
from paycore.v1 import (
    card_vault_service_pb2_grpc,
    customer_service_pb2_grpc,
    mandate_service_pb2_grpc,
    payment_service_pb2_grpc,
    risk_service_pb2_grpc,
)
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import risk_service_pb2 as risk_svc
from tests.customers.conftest import CustomerApi
from tests.mandates.conftest import MandateApi, channel_calls
from tests.support.api import Api, VaultApi
from tests.support.auth import merchant_metadata
from tests.support.requests import build, new_merchant_id
from tests.support.serving import serve_paycore

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
"""


async def test_an_approved_merchant_initiated_charge_reaches_the_channel_flagged(
    settings: Settings, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    risk = RiskSettings(rules_file=str(rules), rules_poll_interval_s=0)
    async with serve_paycore(settings.replace(risk=risk)) as paycore:
        merchant = new_merchant_id()
        metadata = await merchant_metadata(paycore.services.pool, merchant)
        admin = await merchant_metadata(paycore.services.pool, merchant, Role.ADMIN)
        customers = CustomerApi(
            paycore.stub(customer_service_pb2_grpc.CustomerServiceStub), merchant, metadata
        )
        vault = VaultApi(
            paycore.stub(card_vault_service_pb2_grpc.CardVaultServiceStub), merchant, metadata
        )
        mandates = MandateApi(
            paycore.stub(mandate_service_pb2_grpc.MandateServiceStub), merchant, metadata
        )
        api = Api(paycore.stub(payment_service_pb2_grpc.PaymentServiceStub), merchant, metadata)
        customer = await customers.create(email="member@example.com")
        token = await vault.tokenize("4242424242424242")
        mandate = await mandates.setup(customer.id, token.id)  # customer-present: approved

        held = await api.create(mandate_id=mandate.id, off_session=True, payment_method=None)
        assert held.state == pb.Payment.STATE_REQUIRES_REVIEW
        assert channel_calls(paycore.services, held.id) == []
        approve = build(risk_svc.ApproveReviewRequest, payment_id=held.id, note="known member")
        risk_stub = paycore.stub(risk_service_pb2_grpc.RiskServiceStub)
        approved = (await risk_stub.ApproveReview(approve, metadata=admin)).payment

        assert approved.state == pb.Payment.STATE_CAPTURED
        [authorization] = channel_calls(paycore.services, held.id)
        assert authorization.merchant_initiated
        assert authorization.agreement_id == mandate.agreement_id
