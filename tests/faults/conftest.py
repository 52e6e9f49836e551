"""Fixtures of the fault-injection suite: a private stack per scenario, and the profile.

``PAYCORE_FAULTS_PROFILE=short`` (the default, what ``make test`` and CI run) keeps
each scenario to a few seconds of load and one fault; ``long`` (``make faults``)
runs more clients, more journeys and every fault several times.

Each scenario's books (tests/faults/books.py) are printed as one ``BOOKS`` line
(``pytest -s`` shows them; docs/RELIABILITY.md quotes the last run).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import grpc
import pytest

from tests.support.auth import Metadata, dsn_merchant_metadata
from tests.support.requests import new_merchant_id

from .books import Books, check_books
from .load import Journal, Load, LoadShape
from .stack import FaultStack


@dataclass(frozen=True)
class Profile:
    """How much each scenario does."""

    name: str
    clients: int
    journeys: int
    """Journeys finished before a fault, and again after recovery, per round."""
    rounds: int
    """How many times the fault is injected."""


PROFILES = {
    "short": Profile("short", clients=4, journeys=8, rounds=1),
    "long": Profile("long", clients=12, journeys=80, rounds=3),
}


@pytest.fixture(scope="session")
def profile() -> Profile:
    """The profile named by PAYCORE_FAULTS_PROFILE (default: short)."""
    name = os.environ.get("PAYCORE_FAULTS_PROFILE", "short")
    if name not in PROFILES:
        raise pytest.UsageError(f"PAYCORE_FAULTS_PROFILE={name!r}: use one of {sorted(PROFILES)}")
    return PROFILES[name]


@dataclass
class Scenario:
    """A scenario's stack, a merchant on it, and the way to its books."""

    stack: FaultStack
    profile: Profile
    db: asyncpg.Pool
    merchant_id: str
    metadata: Metadata
    channel: grpc.aio.Channel
    loads: list[Load] = field(default_factory=list)

    def load(self, **shape: Any) -> Load:
        """Start ``profile.clients`` clients (LoadShape fields may be overridden)."""
        settings = LoadShape(clients=self.profile.clients, **shape)
        started = Load(self.channel, self.metadata, settings, seed=len(self.loads)).start()
        self.loads.append(started)
        return started

    async def restart_paycore(self, **variables: str) -> None:
        """kill -9 paycore and start it again (in a thread: the clients keep running)."""
        self.stack.kill_paycore()
        await asyncio.to_thread(self.stack.run_paycore, **variables)

    async def books(
        self, journal: Journal, name: str, *, forgotten: frozenset[str] = frozenset()
    ) -> Books:
        """Replay every answered request, then check the books; prints the BOOKS line."""
        await journal.replay(self.channel, self.metadata)
        books = await check_books(self.db, self.merchant_id, journal, forgotten=forgotten)
        print(f"\nBOOKS {name} [{self.profile.name}]: {books.line()}")
        return books


@pytest.fixture
def simulator_args() -> tuple[str, ...] | None:
    """Flags of a channel simulator every payment is routed to (None: the in-process sandbox).

    A scenario module overrides this fixture to put a channel on the network.
    """
    return None


@pytest.fixture
def paycore_settings() -> dict[str, str]:
    """PAYCORE_* settings a scenario module adds to FAULT_TOLERANT (override the fixture)."""
    return {}


@pytest.fixture
def moved_clock() -> bool:
    """Whether paycore runs on a clock the scenario moves (``FaultStack.advance_clock``)."""
    return False


@pytest.fixture
def redis_cluster() -> bool:
    """Whether paycore uses a Redis Cluster with replicas (``FaultStack.cluster``)."""
    return False


@pytest.fixture
async def scenario(
    profile: Profile,
    simulator_args: tuple[str, ...] | None,
    paycore_settings: dict[str, str],
    moved_clock: bool,
    redis_cluster: bool,
) -> AsyncIterator[Scenario]:
    """A private PostgreSQL, Redis and ``paycore run``, and a merchant with an API key."""
    stack = await asyncio.to_thread(FaultStack.start, redis_cluster=redis_cluster)
    try:
        if moved_clock:
            stack.use_clock()
        settings = dict(paycore_settings)
        if simulator_args is not None:
            settings |= await asyncio.to_thread(stack.run_simulator, *simulator_args)
        await asyncio.to_thread(stack.run_paycore, **settings)
        merchant_id = new_merchant_id()
        metadata = await dsn_merchant_metadata(stack.postgres_dsn, merchant_id)
        db = await asyncpg.create_pool(stack.postgres_dsn, min_size=1, max_size=4)
        assert db is not None
        try:
            async with grpc.aio.insecure_channel(stack.address) as channel:
                yield Scenario(stack, profile, db, merchant_id, metadata, channel)
        finally:
            await db.close()
    finally:
        # Shown with a failure (pytest captures it otherwise): what paycore logged as errors.
        errors = [line for line in stack.output().splitlines() if "ERROR" in line]
        print(f"paycore logged {len(errors)} ERROR lines; last ones:", *errors[-20:], sep="\n")
        await asyncio.to_thread(stack.keep_log)
        await asyncio.to_thread(stack.stop)
