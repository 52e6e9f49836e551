"""Sandbox dispute cards: the HTTP channel simulator disputes their captures by itself, and
decides them on the evidence (``winning_evidence`` wins)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from core.config import Settings
from paycore.v1 import dispute_pb2 as dpb
from paycore.v1 import dispute_service_pb2 as dsvc
from paycore.v1 import dispute_service_pb2_grpc
from router.channels.simulated import ACQUIRER_A, SimulatedAcquirer
from router.simulator.app import ChannelSimulator
from tests.routing.conftest import Served, serve_over_simulator
from tests.support.polling import eventually
from tests.support.requests import card, new_request_id, usd

SECRET = b"simulator-secret"
PRODUCT_NOT_RECEIVED = "4000000000002685"
FRAUDULENT = "4000000000002602"
INQUIRY = "4000000000001976"
D = dpb.Dispute


@dataclass
class Sandbox:
    """paycore over the HTTP simulator, and the merchant's DisputeService."""

    served: Served
    simulator: ChannelSimulator
    disputes: Any

    async def by_payment(self) -> dict[str, dpb.Dispute]:
        """The merchant's disputes by payment id."""
        request = dsvc.ListDisputesRequest()
        listed = await self.disputes.ListDisputes(request, metadata=self.served.api.metadata)
        return {d.payment_id: d for d in listed.disputes}

    async def delivered(self, count: int) -> None:
        """Wait until paycore acknowledged ``count`` dispute notifications."""
        await eventually(
            lambda: self.simulator.disputes_delivered == count, what=f"{count} notifications"
        )


@asynccontextmanager
async def sandbox(settings: Settings, tmp_path: Path) -> AsyncIterator[Sandbox]:
    """paycore whose acquirer_a is the simulator, disputing 0.05 s after a capture."""
    simulator = ChannelSimulator(SimulatedAcquirer(ACQUIRER_A), SECRET, dispute_after_s=0.05)
    async with (
        serve_over_simulator(settings, simulator, tmp_path / "routing.toml", SECRET) as served,
        grpc.aio.insecure_channel(served.target) as channel,
    ):
        yield Sandbox(served, simulator, dispute_service_pb2_grpc.DisputeServiceStub(channel))


async def test_a_sandbox_dispute_card_is_disputed_after_capture_by_the_simulator(
    settings: Settings, tmp_path: Path
) -> None:
    async with sandbox(settings, tmp_path) as box:
        api = box.served.api
        disputed = await api.create(amount=usd(30), payment_method=card(PRODUCT_NOT_RECEIVED))
        asked = await api.create(amount=usd(8), payment_method=card(INQUIRY))
        await api.create(amount=usd(9))

        await box.delivered(2)

        found = await box.by_payment()
        assert set(found) == {disputed.id, asked.id}  # the plain card is not disputed
        chargeback = found[disputed.id]
        assert (chargeback.kind, chargeback.reason, chargeback.amount) == (
            D.KIND_CHARGEBACK,
            "product_not_received",
            usd(30),
        )
        assert (found[asked.id].kind, found[asked.id].fee) == (D.KIND_INQUIRY, usd(0))


async def test_evidence_with_winning_evidence_wins_other_evidence_loses(
    settings: Settings, tmp_path: Path
) -> None:
    async with sandbox(settings, tmp_path) as box:
        api = box.served.api
        winner = await api.create(amount=usd(11), payment_method=card(FRAUDULENT))
        loser = await api.create(amount=usd(12), payment_method=card(FRAUDULENT))
        await box.delivered(2)
        opened = await box.by_payment()

        for payment, text in ((winner, "Signed receipt: winning_evidence"), (loser, "Fine.")):
            request = dsvc.SubmitEvidenceRequest(
                request_id=new_request_id(),
                dispute_id=opened[payment.id].id,
                evidence=dsvc.Evidence(uncategorized_text=text),
            )
            await box.disputes.SubmitEvidence(request, metadata=api.metadata)
        await box.delivered(4)

        decided = await box.by_payment()
        assert (decided[winner.id].state, decided[loser.id].state) == (D.STATE_WON, D.STATE_LOST)
