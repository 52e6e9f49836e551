"""The channel notifications ingress, over HTTP on its own port, with real PostgreSQL."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientSession

from core.domain.attempt import AttemptOutcome, ChannelResult
from core.domain.payment import Failure
from paycore.v1 import payment_pb2 as pb
from router.channels.acquirer_wire import notification_to_wire
from router.channels.http_acquirer import HttpAcquirer
from router.channels.simulated import SimulatedAcquirer
from router.signing import SIGNATURE_HEADER, sign
from router.simulator.app import ChannelSimulator, start_simulator
from tests.routing.conftest import CALLBACK_SECRET, Stack
from tests.support.polling import eventually
from tests.support.requests import usd

S = pb.Payment
NEVER_ANSWERED = usd(999, 2)  # amount trigger 99902: the channel never answers


@pytest.fixture
async def http_client() -> AsyncIterator[ClientSession]:
    async with ClientSession() as session:
        yield session


def notification(attempt_id: str, outcome: AttemptOutcome, event: str = "ev_1") -> bytes:
    failure = Failure("card_declined", "Declined.") if outcome is AttemptOutcome.DECLINED else None
    result = ChannelResult(outcome, reference=f"ref_{attempt_id}", failure=failure)
    return json.dumps(notification_to_wire(event, attempt_id, result)).encode()


async def post(
    client: ClientSession,
    stack: Stack,
    channel: str,
    body: bytes,
    *,
    secret: bytes = CALLBACK_SECRET,
    at: float | None = None,
) -> tuple[int, str]:
    headers = {SIGNATURE_HEADER: sign(secret, body, int(time.time() if at is None else at))}
    async with client.post(
        f"{stack.callbacks_url}/callbacks/{channel}", data=body, headers=headers
    ) as r:
        return r.status, await r.text()


async def pending_payment(stack: Stack) -> pb.Payment:
    payment = await stack.api.create(amount=NEVER_ANSWERED)
    assert payment.state == S.STATE_PENDING
    return payment


async def test_a_notification_settles_a_pending_payment(
    stack: Stack, http_client: ClientSession
) -> None:
    payment = await pending_payment(stack)
    attempt = payment.attempts[0].id

    answer = await post(
        http_client, stack, stack.a.name, notification(attempt, AttemptOutcome.SUCCEEDED)
    )

    assert answer == (200, "[accepted]")
    settled = await stack.api.get(payment.id)
    assert settled.state == S.STATE_CAPTURED
    assert settled.channel_reference == f"ref_{attempt}"
    assert settled.attempts[0].outcome == "succeeded"


async def test_the_same_notification_twice_changes_nothing(
    stack: Stack, http_client: ClientSession
) -> None:
    payment = await pending_payment(stack)
    body = notification(payment.attempts[0].id, AttemptOutcome.DECLINED)

    await post(http_client, stack, stack.a.name, body)
    first = await stack.api.get(payment.id)
    again = await post(http_client, stack, stack.a.name, body)

    assert again == (200, "[accepted]")  # acknowledged, so the channel stops resending
    assert first.state == S.STATE_DECLINED
    assert await stack.api.get(payment.id) == first


async def test_a_late_pending_or_contradicting_notification_cannot_overwrite_success(
    stack: Stack, http_client: ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    payment = await pending_payment(stack)
    attempt = payment.attempts[0].id
    await post(http_client, stack, stack.a.name, notification(attempt, AttemptOutcome.SUCCEEDED))
    settled = await stack.api.get(payment.id)

    late_pending = notification(attempt, AttemptOutcome.UNKNOWN, event="ev_0")
    contradiction = notification(attempt, AttemptOutcome.DECLINED, event="ev_2")
    with caplog.at_level(logging.ERROR, logger="core.callbacks.ingress"):
        assert (await post(http_client, stack, stack.a.name, late_pending))[0] == 200
        assert (await post(http_client, stack, stack.a.name, contradiction))[0] == 200

    assert await stack.api.get(payment.id) == settled
    assert any("left unchanged" in r.getMessage() for r in caplog.records)


async def test_a_pending_notification_keeps_the_payment_pending(
    stack: Stack, http_client: ClientSession
) -> None:
    payment = await pending_payment(stack)

    await post(
        http_client,
        stack,
        stack.a.name,
        notification(payment.attempts[0].id, AttemptOutcome.UNKNOWN),
    )

    assert (await stack.api.get(payment.id)).state == S.STATE_PENDING


@pytest.mark.parametrize("forgery", ["wrong secret", "stale", "missing"])
async def test_bad_or_stale_signatures_are_refused_with_401_and_logged(
    stack: Stack, http_client: ClientSession, caplog: pytest.LogCaptureFixture, forgery: str
) -> None:
    payment = await pending_payment(stack)
    body = notification(payment.attempts[0].id, AttemptOutcome.SUCCEEDED)
    url = f"{stack.callbacks_url}/callbacks/{stack.a.name}"

    with caplog.at_level(logging.WARNING, logger="core.callbacks.ingress"):
        if forgery == "missing":
            async with http_client.post(url, data=body) as answer:
                status = answer.status
        else:
            secret, at = (b"guess", None) if forgery == "wrong secret" else (CALLBACK_SECRET, 0.0)
            status, _ = await post(http_client, stack, stack.a.name, body, secret=secret, at=at)

    assert status == 401
    assert any("callback refused" in r.getMessage() for r in caplog.records)
    assert (await stack.api.get(payment.id)).state == S.STATE_PENDING


async def test_unknown_channels_and_attempts_are_404(
    stack: Stack, http_client: ClientSession
) -> None:
    body = notification("att_never_made", AttemptOutcome.SUCCEEDED)

    assert (await post(http_client, stack, "no_such_channel", body))[0] == 404
    assert (await post(http_client, stack, stack.a.name, body))[0] == 404


async def test_the_simulator_notifies_paycore_of_a_charge_whose_answer_was_lost(
    stack: Stack,
) -> None:
    # Channel a is replaced by the HTTP adapter in front of a simulator that
    # posts signed notifications to paycore's ingress.
    simulator = ChannelSimulator(
        SimulatedAcquirer(stack.a._spec, stack.a.behaviour),
        CALLBACK_SECRET,
        notify_url=f"{stack.callbacks_url}/callbacks/{stack.a.name}",
    )
    endpoint = await start_simulator(simulator)
    adapter = HttpAcquirer(stack.a.profile, f"http://127.0.0.1:{endpoint.port}", CALLBACK_SECRET)
    router = stack.services.router
    router._channels[stack.a.name] = adapter
    try:
        payment = await stack.api.create(amount=usd(999, 1))  # charged, answer never comes
        assert payment.state == S.STATE_PENDING

        async def settled() -> bool:
            return (await stack.api.get(payment.id)).state != S.STATE_PENDING

        await eventually(settled, within_s=10, what="the notification never settled the payment")

        assert (await stack.api.get(payment.id)).state == S.STATE_CAPTURED
        assert simulator.acquirer.charges(payment.id) == 1
        assert simulator.notifications_delivered == 1
    finally:
        await adapter.close()
        await endpoint.stop()


async def test_a_notification_racing_its_own_request_is_deferred_until_the_request_commits(
    stack: Stack, http_client: ClientSession
) -> None:
    payment = await pending_payment(stack)
    attempt = payment.attempts[0].id
    # As if the request were still waiting for the channel's HTTP answer.
    pool = stack.services.pool
    await pool.execute(
        "UPDATE channel_attempts SET outcome = 'started', create_time = now() WHERE id = $1",
        attempt,
    )
    body = notification(attempt, AttemptOutcome.SUCCEEDED)

    assert (await post(http_client, stack, stack.a.name, body))[0] == 503
    assert (await stack.api.get(payment.id)).state == S.STATE_PENDING

    # The request never came back (its process died): past the grace, it is settled.
    await pool.execute(
        "UPDATE channel_attempts SET create_time = now() - interval '1 hour' WHERE id = $1",
        attempt,
    )
    assert (await post(http_client, stack, stack.a.name, body))[0] == 200
    assert (await stack.api.get(payment.id)).state == S.STATE_CAPTURED
