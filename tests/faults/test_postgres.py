"""Scenario 3: PostgreSQL restarts mid-load; paycore's pool finds it again without a restart."""

from __future__ import annotations

import asyncio

import grpc

from core.domain import ids
from paycore.v1 import payment_service_pb2 as svc
from paycore.v1 import payment_service_pb2_grpc

from .conftest import Scenario


async def test_postgres_restart_mid_load_loses_and_doubles_nothing(scenario: Scenario) -> None:
    profile, stack = scenario.profile, scenario.stack
    load = scenario.load()
    for round_ in range(profile.rounds):
        await load.until_journeys(profile.journeys * (2 * round_ + 1))
        await asyncio.to_thread(stack.stop_postgres)
        # While it is down, a request is answered at once and precisely: UNAVAILABLE,
        # never a hang. (The load's own clients may not show it: a request past its
        # channel call waits the outage out instead, core/service/commit_retry.py.)
        assert await _read_while_down(scenario) == grpc.StatusCode.UNAVAILABLE
        await asyncio.sleep(1.0)
        await asyncio.to_thread(stack.start_postgres)
        await load.until_journeys(profile.journeys * (2 * round_ + 2))
    journal = await load.stop()
    await scenario.db.expire_connections()  # the checker's own pool lost its connections too

    books = await scenario.books(journal, "PostgreSQL restarted")

    assert stack.starts == 1, "paycore was not restarted"
    assert stack.paycore is not None and stack.paycore.poll() is None
    assert books.acknowledged >= profile.journeys


async def _read_while_down(scenario: Scenario) -> grpc.StatusCode:
    """GetPayment of a payment id while PostgreSQL is down: its status code."""
    stub = payment_service_pb2_grpc.PaymentServiceStub(scenario.channel)
    request = svc.GetPaymentRequest(payment_id=ids.new_id(ids.PAYMENT))
    try:
        await stub.GetPayment(request, metadata=scenario.metadata, timeout=10)
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK
