"""Scenario 1: paycore is killed with SIGKILL mid-load, started again; clients retry."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from tests.support.answers import answer_of
from tests.support.polling import eventually
from tests.support.requests import create_request

from .conftest import Scenario


async def test_kill_9_mid_load_loses_and_doubles_nothing(scenario: Scenario) -> None:
    profile = scenario.profile
    load = scenario.load()
    for round_ in range(profile.rounds):
        await load.until_journeys(profile.journeys * (2 * round_ + 1))
        await scenario.restart_paycore()
        await load.until_journeys(profile.journeys * (2 * round_ + 2))
    journal = await load.stop()

    books = await scenario.books(journal, "kill -9")

    assert scenario.stack.starts == profile.rounds + 1
    assert books.acknowledged >= profile.journeys
    # The clients saw the server gone (retried), and got through after the restart.
    assert journal.codes["UNAVAILABLE"] > 0


@pytest.fixture
def simulator_args(request: pytest.FixtureRequest) -> tuple[str, ...] | None:
    # Only the in-flight test needs a slow channel; the load test uses the sandbox.
    return ("--latency-s", "3") if "in_flight" in request.node.name else None


@pytest.fixture
def paycore_settings(request: pytest.FixtureRequest) -> dict[str, str]:
    # The shortest grace paycore accepts (above the channel timeout plus the commit
    # retries, core/config/_rules.py): the status query asks soon after the crash.
    in_flight = {
        "PAYCORE_CHANNEL_TIMEOUT_S": "4",
        "PAYCORE_STATUS_QUERY__STARTED_GRACE_S": "21",
        "PAYCORE_STATUS_QUERY__SCHEDULE_S": "1,1,1",
        "PAYCORE_STATUS_QUERY__POLL_INTERVAL_S": "0.5",
    }
    return in_flight if "in_flight" in request.node.name else {}


async def test_a_retry_of_a_request_in_flight_at_the_crash_gets_the_settled_payment(
    scenario: Scenario,
) -> None:
    request = create_request()
    first = asyncio.ensure_future(
        answer_of(scenario.channel, scenario.metadata, request, deadline_s=30)
    )
    # Killed once the attempt is committed, while paycore waits for the
    # simulator's answer (3 s): paycore never hears back. Whether the call had
    # reached the simulator (captured) or not yet (the query finds nothing:
    # failed, nothing charged) is up to the machine's timing; either way the
    # retry must get the payment as the status query settled it.
    await eventually(
        lambda: scenario.db.fetchval(
            "SELECT 1 FROM channel_attempts WHERE merchant_id = $1", scenario.merchant_id
        ),
        within_s=20,
        what="the attempt is committed",
    )
    await asyncio.sleep(1.0)  # most often, the call is at the simulator by now
    await scenario.restart_paycore()
    assert (await first).code == grpc.StatusCode.UNAVAILABLE
    settled = await eventually(
        lambda: scenario.db.fetchval(
            "SELECT state FROM payments WHERE merchant_id = $1 AND state <> 'pending'",
            scenario.merchant_id,
        ),
        within_s=60,
        what="a status query settles the payment",
    )
    assert settled in {"captured", "failed"}

    retry = await answer_of(scenario.channel, scenario.metadata, request, deadline_s=10)

    assert retry.ok, retry
    expected = pb.Payment.STATE_CAPTURED if settled == "captured" else pb.Payment.STATE_FAILED
    assert retry.response(svc.CreatePaymentResponse).payment.state == expected
    # Replayed from then on, byte for byte.
    again = await answer_of(scenario.channel, scenario.metadata, request, deadline_s=10)
    assert again == retry
