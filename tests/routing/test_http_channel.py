"""The HTTP acquirer adapter against the channel simulator, over real sockets."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.config import Settings
from core.domain.attempt import AttemptOutcome, ChannelOperation
from core.domain.commands import CardInput
from core.telemetry.http import HttpEndpoint
from paycore.v1 import payment_pb2 as pb
from router import Router
from router.channels.http_acquirer import HttpAcquirer
from router.channels.simulated import ACQUIRER_A, Behaviour, SimulatedAcquirer
from router.simulator.app import ChannelSimulator, HttpFaults, start_simulator
from tests.routing.conftest import serve_over_simulator
from tests.routing.test_channels import VISA, authorize
from tests.support.polling import eventually
from tests.support.requests import usd

S = pb.Payment

SECRET = b"simulator-secret"


@dataclass
class Http:
    """A simulator on a real port and a router holding the HTTP adapter for it."""

    simulator: ChannelSimulator
    endpoint: HttpEndpoint
    adapter: HttpAcquirer
    router: Router

    @property
    def ledger(self) -> set[str]:
        return set(self.simulator.acquirer.ledger)


@pytest.fixture
async def http() -> AsyncIterator[Http]:
    simulator = ChannelSimulator(SimulatedAcquirer(ACQUIRER_A, Behaviour(hang_s=1.5)), SECRET)
    endpoint = await start_simulator(simulator)
    adapter = HttpAcquirer(ACQUIRER_A.profile, f"http://127.0.0.1:{endpoint.port}", SECRET)
    try:
        yield Http(simulator, endpoint, adapter, Router([adapter], timeout_s=0.5))
    finally:
        await adapter.close()
        await endpoint.stop()


async def test_a_payment_goes_through_authorize_capture_and_refund_over_http(http: Http) -> None:
    authorized = await http.router.execute(authorize("acquirer_a", attempt_id="att_auth"), VISA)
    assert authorized.outcome is AttemptOutcome.SUCCEEDED
    capture = await http.router.execute(
        dataclasses.replace(
            authorize("acquirer_a", attempt_id="att_cap"),
            operation=ChannelOperation.CAPTURE,
            channel_reference=authorized.reference,
        )
    )

    assert capture.outcome is AttemptOutcome.SUCCEEDED
    assert capture.reference == authorized.reference
    assert http.ledger == {"att_auth", "att_cap"}


async def test_a_declined_card_is_declined_over_http(http: Http) -> None:
    declined = CardInput("4000000000000002", 12, VISA.exp_year, "123")

    result = await http.router.execute(authorize("acquirer_a"), declined)

    assert result.outcome is AttemptOutcome.DECLINED
    assert result.failure is not None and result.failure.code == "card_declined"


async def test_a_request_with_a_bad_signature_is_refused_before_processing(http: Http) -> None:
    impostor = HttpAcquirer(ACQUIRER_A.profile, f"http://127.0.0.1:{http.endpoint.port}", b"x")
    try:
        result = await Router([impostor], timeout_s=1.0).execute(authorize("acquirer_a"), VISA)
    finally:
        await impostor.close()

    assert (result.outcome, result.not_processed) == (AttemptOutcome.FAILED, True)
    assert result.failure is not None and result.failure.code == "channel_auth_failed"
    assert http.ledger == set()


async def test_a_refused_connection_is_certainly_not_processed() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    adapter = HttpAcquirer(ACQUIRER_A.profile, f"http://127.0.0.1:{port}", SECRET)
    try:
        result = await Router([adapter], timeout_s=1.0).execute(authorize("acquirer_a"), VISA)
    finally:
        await adapter.close()

    assert (result.outcome, result.not_processed) == (AttemptOutcome.FAILED, True)
    assert result.failure is not None and result.failure.code == "channel_unavailable"


@pytest.mark.parametrize(
    ("amount", "processed"),
    [(99_901, True), (99_902, False), (99_905, True)],
    ids=["hang-after-charge", "hang-before-anything", "reset-after-charge"],
)
async def test_silence_and_resets_are_unknown_and_the_status_query_tells_the_truth(
    http: Http, amount: int, processed: bool
) -> None:
    attempt = authorize("acquirer_a", amount=amount)

    result = await http.router.execute(attempt, VISA)
    answer = await http.router.query(attempt)

    assert (result.outcome, result.not_processed) == (AttemptOutcome.UNKNOWN, False)
    if processed:
        assert answer.outcome is AttemptOutcome.SUCCEEDED
    else:
        assert (answer.outcome, answer.failure and answer.failure.code) == (
            AttemptOutcome.FAILED,
            "not_found",
        )


async def test_a_5xx_after_processing_is_unknown_not_failed(http: Http) -> None:
    http.simulator._faults = HttpFaults(error_5xx_rate=1.0)

    result = await http.router.execute(authorize("acquirer_a"), VISA)

    assert result.outcome is AttemptOutcome.UNKNOWN
    assert http.ledger == {"att_1"}


async def test_a_status_query_that_cannot_reach_the_channel_stays_unknown(http: Http) -> None:
    await http.router.execute(authorize("acquirer_a"), VISA)
    await http.endpoint.stop()

    answer = await http.router.query(authorize("acquirer_a"))

    assert answer.outcome is AttemptOutcome.UNKNOWN  # never "not processed": it was charged


async def test_paycore_configured_with_a_simulator_url_pays_over_http(
    settings: Settings, tmp_path: Path
) -> None:
    simulator = ChannelSimulator(SimulatedAcquirer(ACQUIRER_A), SECRET)
    async with serve_over_simulator(
        settings, simulator, tmp_path / "routing.toml", SECRET
    ) as served:
        payment = await served.api.create(amount=usd(12))

        assert (payment.state, payment.channel) == (S.STATE_CAPTURED, "acquirer_a")
        assert {e.payment_id for e in simulator.acquirer.ledger.values()} == {payment.id}
        # The simulator's notification of the same charge is acknowledged and changes nothing.
        await eventually(
            lambda: simulator.notifications_delivered >= 1,
            within_s=10,
            what="notification never acknowledged",
        )
        assert await served.api.get(payment.id) == payment
