"""Fixtures of the client tests: one scripted paycore server per session, fresh per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from paycore.client import AsyncPaycoreClient, PaycoreClient, RetryPolicy

from .either_client import EitherClient
from .scripted_paycore import ScriptedPaymentService, ServerThread

FAST_RETRY = RetryPolicy(max_attempts=4, initial_backoff=0.001, max_backoff=0.004)
"""Real retries, with waits too short to slow the suite."""

API_KEY = "pck_TESTKEY00000_" + "k" * 43
"""Any key: the scripted server records metadata, it does not authenticate."""


@pytest.fixture(scope="session")
def _scripted_server() -> Iterator[tuple[ScriptedPaymentService, str]]:
    servicer = ScriptedPaymentService()
    server = ServerThread(servicer)
    target = server.start()
    yield servicer, target
    server.stop()


@pytest.fixture
def paycore(_scripted_server: tuple[ScriptedPaymentService, str]) -> ScriptedPaymentService:
    """The scripted server, with no calls, scripts or payments left from other tests."""
    servicer, _ = _scripted_server
    servicer.reset()
    return servicer


@pytest.fixture
def target(_scripted_server: tuple[ScriptedPaymentService, str]) -> str:
    """Where the scripted server listens."""
    return _scripted_server[1]


@pytest.fixture(params=["sync", "async"])
async def client(
    request: pytest.FixtureRequest, paycore: ScriptedPaymentService, target: str
) -> AsyncIterator[EitherClient]:
    """Each test using this runs twice: with PaycoreClient and with AsyncPaycoreClient."""
    if request.param == "sync":
        with PaycoreClient(target, api_key=API_KEY, retry=FAST_RETRY) as sync_client:
            yield EitherClient(sync_client)
    else:
        async with AsyncPaycoreClient(target, api_key=API_KEY, retry=FAST_RETRY) as async_client:
            yield EitherClient(async_client)
