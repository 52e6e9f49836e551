"""Safe failover and status queries, end to end over gRPC with real PostgreSQL.

Failover happens only when a channel certainly did not process the payment;
after a timeout or an ambiguous answer the payment stays PENDING and a status
query settles it, with exactly one charge at the channel.
"""

from __future__ import annotations

import asyncio
import dataclasses

from core.config import StatusQuerySettings
from core.service.status_query import StatusQueryScheduler
from core.storage.status_queries import PostgresStatusQueryStore
from paycore.v1 import payment_pb2 as pb
from router.channels.simulated import Behaviour
from tests.routing.conftest import Stack
from tests.support.requests import AMEX, VISA, card, money, usd

S = pb.Payment

CHARGED_THEN_SILENT = usd(999, 1)  # amount trigger 99901: processed, answer never comes
SILENT_NOTHING_DONE = usd(999, 2)  # 99902: never answers, processes nothing
RESET_AFTER_CHARGE = usd(999, 5)  # 99905: processed, then the connection resets


def outcomes(payment: pb.Payment) -> list[tuple[str, str, str]]:
    """(channel, operation, outcome) of every attempt, oldest first."""
    return [(a.channel, a.operation, a.outcome) for a in payment.attempts]


async def test_a_payment_is_carried_by_the_first_candidate_and_the_decision_is_shown(
    stack: Stack,
) -> None:
    payment = await stack.api.create(amount=usd(25))

    assert payment.state == S.STATE_CAPTURED
    assert payment.channel == stack.a.name
    assert list(payment.routing.candidates) == [stack.a.name, stack.b.name]
    assert "rule:rest" in payment.routing.steps
    assert outcomes(payment) == [(stack.a.name, "authorize", "succeeded")]
    assert await stack.api.get(payment.id) == payment


async def test_rules_send_eur_to_b_and_capabilities_send_amex_past_a(stack: Stack) -> None:
    eur = await stack.api.create(amount=money(30, currency="EUR"))
    amex = await stack.api.create(payment_method=card(AMEX))  # acquirer_a takes no amex

    assert (eur.channel, list(eur.routing.candidates)) == (
        stack.b.name,
        [stack.b.name, stack.a.name],
    )
    assert (amex.channel, list(amex.routing.candidates)) == (stack.b.name, [stack.b.name])


async def test_a_refused_connection_fails_over_to_the_next_channel(stack: Stack) -> None:
    stack.a.behaviour = Behaviour(refuse_rate=1.0)

    payment = await stack.api.create(amount=usd(40))

    assert payment.state == S.STATE_CAPTURED
    assert payment.channel == stack.b.name
    assert outcomes(payment) == [
        (stack.a.name, "authorize", "failed"),
        (stack.b.name, "authorize", "succeeded"),
    ]
    assert payment.attempts[0].failure_code == "channel_unavailable"
    assert payment.attempts[0].id != payment.attempts[1].id  # a new idempotency key per channel
    assert (stack.a.charges(payment.id), stack.b.charges(payment.id)) == (0, 1)


async def test_an_explicit_not_processed_answer_fails_over(stack: Stack) -> None:
    stack.a.behaviour = Behaviour(not_processed_rate=1.0)

    payment = await stack.api.create(amount=usd(41))

    assert (payment.state, payment.channel) == (S.STATE_CAPTURED, stack.b.name)
    assert payment.attempts[0].failure_code == "not_processed"
    assert (stack.a.charges(payment.id), stack.b.charges(payment.id)) == (0, 1)


async def test_when_every_channel_refuses_the_payment_fails_and_nothing_is_charged(
    stack: Stack,
) -> None:
    stack.a.behaviour = stack.b.behaviour = Behaviour(refuse_rate=1.0)

    payment = await stack.api.create(amount=usd(42))

    assert payment.state == S.STATE_FAILED
    assert [a.outcome for a in payment.attempts] == ["failed", "failed"]
    assert (stack.a.charges(payment.id), stack.b.charges(payment.id)) == (0, 0)


async def test_a_timeout_leaves_the_payment_pending_and_a_status_query_captures_it_once(
    stack: Stack,
) -> None:
    payment = await stack.api.create(amount=CHARGED_THEN_SILENT)

    # The channel charged the card but its answer never came: no failover.
    assert payment.state == S.STATE_PENDING
    assert outcomes(payment) == [(stack.a.name, "authorize", "unknown")]
    assert stack.b.ledger == {}

    assert await stack.services.status_queries.run_once() == 1

    settled = await stack.api.get(payment.id)
    assert settled.state == S.STATE_CAPTURED
    assert settled.amount_captured == CHARGED_THEN_SILENT
    assert outcomes(settled) == [(stack.a.name, "authorize", "succeeded")]
    assert (stack.a.charges(payment.id), stack.b.charges(payment.id)) == (1, 0)
    # Settled attempts are never queried again.
    assert await stack.services.status_queries.run_once() == 0


async def test_an_ambiguous_reset_is_settled_by_query_not_by_a_second_attempt(
    stack: Stack,
) -> None:
    payment = await stack.api.create(amount=RESET_AFTER_CHARGE, payment_method=card(VISA))

    assert payment.state == S.STATE_PENDING
    await stack.services.status_queries.run_once()

    assert (await stack.api.get(payment.id)).state == S.STATE_CAPTURED
    assert stack.a.charges(payment.id) == 1 and stack.b.ledger == {}


async def test_a_query_that_finds_nothing_fails_the_payment_without_a_charge(
    stack: Stack,
) -> None:
    payment = await stack.api.create(amount=SILENT_NOTHING_DONE)
    assert payment.state == S.STATE_PENDING

    await stack.services.status_queries.run_once()

    settled = await stack.api.get(payment.id)
    assert settled.state == S.STATE_FAILED
    assert settled.attempts[0].failure_code == "not_found"
    assert stack.a.charges(payment.id) == 0 and stack.b.ledger == {}


async def test_an_attempt_the_channel_cannot_explain_ends_in_manual_attention(
    stack: Stack,
) -> None:
    payment = await stack.api.create(amount=CHARGED_THEN_SILENT)
    # The channel's status API itself hangs from now on: every query ends unknown.
    stack.a.behaviour = dataclasses.replace(stack.a.behaviour, latency_s=60.0)

    rounds = 0
    while (await stack.services.status_queries.run_once()) and rounds < 10:
        rounds += 1

    assert rounds == 3  # the compressed schedule "0,0,0": three queries, then a person
    stuck = await stack.api.get(payment.id)
    assert stuck.state == S.STATE_PENDING
    assert stuck.attempts[0].outcome == "unknown" and stuck.attempts[0].needs_attention


async def test_a_captured_timeout_payment_is_refundable_after_settlement(stack: Stack) -> None:
    payment = await stack.api.create(amount=CHARGED_THEN_SILENT)
    await stack.services.status_queries.run_once()

    refunded = (await stack.api.refund(payment.id)).payment

    assert refunded.state == S.STATE_REFUNDED
    assert outcomes(refunded)[-1] == (stack.a.name, "refund", "succeeded")


async def test_two_workers_polling_at_once_query_each_attempt_once(stack: Stack) -> None:
    payments = [await stack.api.create(amount=CHARGED_THEN_SILENT) for _ in range(4)]
    services = stack.services
    second_worker = StatusQueryScheduler(
        store=PostgresStatusQueryStore(services.pool),
        router=services.router,
        settings=StatusQuerySettings(schedule_s="0,0,0", started_grace_s=0.0),
    )

    handled = await asyncio.gather(services.status_queries.run_once(), second_worker.run_once())

    assert sum(handled) == 4
    assert stack.a.queries == 4
    for payment in payments:
        assert (await stack.api.get(payment.id)).state == S.STATE_CAPTURED
        assert stack.a.charges(payment.id) == 1
