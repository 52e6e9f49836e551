"""A status query that settles an attempt first: the request that made it applies nothing twice.

A request keeps its attempt 'started' until its second transaction commits. If a
status query (or a notification) settles the attempt first (the request's commit
was held up beyond ``status_query.started_grace_s``), the channel's answer is in
the payment already: the request must not apply it again (that was a ValueError
from the lifecycle, answered INTERNAL). It answers ABORTED ``REQUEST_IN_PROGRESS``
with RetryInfo, and a retry gets the payment as the status query settled it.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import grpc

from core.config import Settings, StatusQuerySettings
from core.domain.attempt import Attempt, ChannelResult
from core.domain.commands import CardInput
from core.service.status_query import StatusQueryScheduler
from core.storage.status_queries import PostgresStatusQueryStore
from paycore.v1 import payment_pb2 as pb
from router.channels.simulated import ACQUIRER_A, SimulatedAcquirer
from tests.routing.conftest import renamed, serve
from tests.support.expect import expect_error, retry_delay_s
from tests.support.polling import eventually
from tests.support.requests import create_request


class HeldAnswers(SimulatedAcquirer):
    """An acquirer that charges at once and holds its answer until released."""

    def __init__(self, name: str) -> None:
        super().__init__(renamed(ACQUIRER_A, name))
        self.charged = asyncio.Event()
        self.release = asyncio.Event()

    async def authorize(self, attempt: Attempt, card: CardInput | None) -> ChannelResult:
        result = await super().authorize(attempt, card)
        self.charged.set()
        await self.release.wait()
        return result


async def test_an_answer_a_status_query_applied_first_is_not_applied_again(
    settings: Settings, tmp_path: Path
) -> None:
    acquirer = HeldAnswers(f"held_{uuid.uuid4().hex[:8]}")
    routing = tmp_path / "routing.toml"
    routing.write_text(
        f'[default]\nstrategies = ["rules"]\n[[default.rules]]\nname = "held"\n'
        f'channels = ["{acquirer.name}"]\n'
    )
    async with serve(settings, [acquirer], routing, {"channel_timeout_s": 60.0}) as served:
        request = create_request()
        call: asyncio.Future[Any] = asyncio.ensure_future(served.api.call("CreatePayment", request))
        await asyncio.wait_for(acquirer.charged.wait(), 30)
        # The attempt is 'started' and charged; the request still waits for the answer.
        late = StatusQueryScheduler(
            store=PostgresStatusQueryStore(served.services.pool),
            router=served.services.router,
            settings=StatusQuerySettings(schedule_s="0,0,0", started_grace_s=0.0),
        )
        assert await late.run_once() == 1
        acquirer.release.set()

        error = await expect_error(call, grpc.StatusCode.ABORTED, "REQUEST_IN_PROGRESS")
        assert retry_delay_s(error)

        async def settled_reply() -> Any:
            try:
                return await served.api.call("CreatePayment", request)
            except grpc.aio.AioRpcError as retry_error:
                assert retry_error.code() == grpc.StatusCode.ABORTED, retry_error
                return None

        retried = await eventually(settled_reply, within_s=30, what="the retry is resumed")

    payment = retried.payment
    assert payment.state == pb.Payment.STATE_CAPTURED
    assert acquirer.charges(payment.id) == 1
