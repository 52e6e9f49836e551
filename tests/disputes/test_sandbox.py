"""Sandbox dispute cards: the HTTP channel simulator disputes their captures by itself."""

from __future__ import annotations

from pathlib import Path

import grpc

from core.config import Settings
from paycore.v1 import dispute_pb2 as dpb
from paycore.v1 import dispute_service_pb2 as dsvc
from paycore.v1 import dispute_service_pb2_grpc
from router.channels.simulated import ACQUIRER_A, SimulatedAcquirer
from router.simulator.app import ChannelSimulator
from tests.routing.conftest import serve_over_simulator
from tests.support.polling import eventually
from tests.support.requests import card, usd

SECRET = b"simulator-secret"
PRODUCT_NOT_RECEIVED = "4000000000002685"
INQUIRY = "4000000000001976"
D = dpb.Dispute


async def test_a_sandbox_dispute_card_is_disputed_after_capture_by_the_simulator(
    settings: Settings, tmp_path: Path
) -> None:
    simulator = ChannelSimulator(SimulatedAcquirer(ACQUIRER_A), SECRET, dispute_after_s=0.1)
    async with (
        serve_over_simulator(settings, simulator, tmp_path / "routing.toml", SECRET) as served,
        grpc.aio.insecure_channel(served.target) as channel,
    ):
        disputes = dispute_service_pb2_grpc.DisputeServiceStub(channel)
        disputed = await served.api.create(
            amount=usd(30), payment_method=card(PRODUCT_NOT_RECEIVED)
        )
        asked = await served.api.create(amount=usd(8), payment_method=card(INQUIRY))
        await served.api.create(amount=usd(9))

        await eventually(
            lambda: simulator.disputes_delivered == 2, what="two disputes acknowledged"
        )
        listed = await disputes.ListDisputes(
            dsvc.ListDisputesRequest(), metadata=served.api.metadata
        )
        found = {d.payment_id: d for d in listed.disputes}
        assert set(found) == {disputed.id, asked.id}  # the plain card is not disputed
        chargeback = found[disputed.id]
        assert (chargeback.kind, chargeback.reason, chargeback.amount) == (
            D.KIND_CHARGEBACK,
            "product_not_received",
            usd(30),
        )
        assert (found[asked.id].kind, found[asked.id].fee) == (D.KIND_INQUIRY, usd(0))
