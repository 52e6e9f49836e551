"""Circuit breakers: test traffic stays apart from live, and an open breaker binds every chain.

Like a PSP's test mode, the simulated acquirers' trigger amounts (999.03...)
are answers a test asked for, not news of a channel's health: they never
count in the breaker that every merchant's payments share. A channel that
really stops answering is taken out of every merchant's routing, whatever
strategies the merchant's own chain names.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import grpc

from core.config import Settings
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2_grpc
from router.channels.simulated import (
    ACQUIRER_A,
    ACQUIRER_B,
    Behaviour,
    SimulatedAcquirer,
)
from router.health import BreakerSettings, BreakerState
from tests.routing.conftest import CALLBACK_SECRET, Stack, renamed, serve
from tests.support.api import Api
from tests.support.auth import merchant_metadata
from tests.support.requests import card, new_merchant_id, usd

S = pb.Payment
REFUSED = usd(999, 3)  # amount trigger 99903: the channel refuses the connection
BUSY = usd(999, 4)  # 99904: the channel answers "not processed"
OPENS_AFTER = BreakerSettings().consecutive_failures_to_open


async def test_one_merchants_test_trigger_amounts_never_close_a_channel_to_another_merchant(
    stack: Stack,
) -> None:
    tests = [await stack.api.create(amount=amount) for amount in [REFUSED, BUSY] * OPENS_AFTER]

    async with grpc.aio.insecure_channel(stack.target) as channel:
        other_id = new_merchant_id()
        other = Api(
            payment_service_pb2_grpc.PaymentServiceStub(channel),
            other_id,
            await merchant_metadata(stack.services.pool, other_id),
        )
        payment = await other.create(amount=usd(10))

    assert (payment.state, payment.channel) == (S.STATE_CAPTURED, stack.a.name)
    assert list(payment.routing.candidates) == [stack.a.name, stack.b.name]
    router = stack.services.router
    assert router.health(stack.a.name).state(0) is BreakerState.CLOSED
    assert router.health(stack.b.name).state(0) is BreakerState.CLOSED
    # The tester got the same simulated ending every time: refused on a, then on b.
    assert {p.state for p in tests} == {S.STATE_FAILED}
    assert {tuple(a.channel for a in p.attempts) for p in tests} == {(stack.a.name, stack.b.name)}


async def test_an_open_breaker_takes_a_dead_channel_out_of_a_chain_without_health(
    settings: Settings, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    dead = SimulatedAcquirer(
        renamed(ACQUIRER_A, f"a_{suffix}"),
        Behaviour(refuse_rate=1.0),
        callback_secret=CALLBACK_SECRET,
    )
    alive = SimulatedAcquirer(renamed(ACQUIRER_B, f"b_{suffix}"), callback_secret=CALLBACK_SECRET)
    routing = tmp_path / "routing.toml"
    routing.write_text('[default]\nstrategies = ["cost"]\n')  # a is cheaper: always first
    async with serve(settings, [dead, alive], routing) as served:
        for _ in range(OPENS_AFTER):
            failed_over = await served.api.create(amount=usd(20), payment_method=card())
            assert [a.channel for a in failed_over.attempts] == [dead.name, alive.name]

        payment = await served.api.create(amount=usd(20), payment_method=card())

    assert (payment.state, payment.channel) == (S.STATE_CAPTURED, alive.name)
    assert [a.channel for a in payment.attempts] == [alive.name]
    assert list(payment.routing.candidates) == [alive.name]
    assert f"open:{dead.name}" in payment.routing.steps
