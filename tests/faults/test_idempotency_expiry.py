"""Scenario 9: a day passes on paycore's clock; request_ids older than the TTL are forgotten.

paycore remembers a request_id for ``idempotency_ttl_s`` (24 h, the least it
accepts) and then forgets it, as Stripe forgets idempotency keys after 24 h: the
same request sent again later is a new request (README "Idempotency"). A client
that retries for longer than a day must use a new request_id anyway; a retry
within the day, the only kind a client makes, is always answered from the record.

paycore runs on a clock the test moves (tests/faults/clocked.py): clients make
payments, the clock moves 23 h 59 min (every request replays byte for byte),
then two minutes more, and every request is sent again: each CreatePayment is a
new payment, each other request runs again against the payment as it now is
(a refund again where the captured amount leaves room, a capture of a captured
payment refused), and the books still hold.
"""

from __future__ import annotations

import time

import pytest

from paycore.v1 import payment_service_pb2 as svc
from tests.support.answers import rpc_name

from .conftest import Scenario
from .load import Journal

TTL_S = 24 * 3600
"""paycore's idempotency_ttl_s (the default, and the least it accepts)."""
REPLAY_S = 300
"""Real time the replay before the TTL may take."""


@pytest.fixture
def moved_clock() -> bool:
    return True


def _created(journal: Journal) -> dict[str, str]:
    """Payment id made by each CreatePayment request_id that got one."""
    made = {}
    for request_id, request in journal.requests.items():
        answers = [a for a in journal.answered(request_id) if a.ok]
        if rpc_name(request) == "CreatePayment" and answers:
            made[request_id] = answers[0].response(svc.CreatePaymentResponse).payment.id
    return made


async def test_a_request_id_older_than_the_ttl_is_forgotten_and_runs_as_a_new_request(
    scenario: Scenario,
) -> None:
    profile, stack = scenario.profile, scenario.stack
    began = time.monotonic()
    load = scenario.load()
    await load.until_journeys(profile.journeys * profile.rounds)
    first = await load.stop()
    ended = time.monotonic()
    # The oldest request is REPLAY_S younger than the TTL (the replay takes less).
    stack.advance_clock(TTL_S - (ended - began) - REPLAY_S)

    remembered = await scenario.books(first, "a minute before the TTL: replayed")

    assert remembered.unanswered == 0  # every replay was the first answer, byte for byte
    first_payments = _created(first)
    # Now even the newest request is a minute older than the TTL.
    stack.advance_clock((ended - began) + REPLAY_S + 60)
    later = Journal()
    answered = [r for rid, r in first.requests.items() if first.answered(rid)]
    await later.send_all(scenario.channel, scenario.metadata, answered)
    again = _created(later)

    assert again.keys() == first_payments.keys(), "a CreatePayment was not answered"
    assert not set(again.values()) & set(first_payments.values()), "an old payment came back"
    # The old payments' records now name the new ones: no CreatePayment record
    # claims the old payments any more, and no other payment lacks one.
    books = await scenario.books(
        later, "a day later: every request again", forgotten=frozenset(first_payments.values())
    )
    assert books.unanswered == 0
    assert books.payments == 2 * len(first_payments)
