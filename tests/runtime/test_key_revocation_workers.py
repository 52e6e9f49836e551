"""A revoked key is refused by every worker of ``paycore run --workers 2`` (issue 16.5).

Each worker trusts a key it verified for a minute (``auth.key_cache_s=60``);
before the revocation broadcast, the worker that did not handle RevokeApiKey
went on accepting the revoked key for that long.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import grpc
import pytest

from core.auth.policy import Role
from paycore.v1 import access_service_pb2 as access_pb
from paycore.v1 import access_service_pb2_grpc, payment_service_pb2_grpc
from paycore.v1 import payment_service_pb2 as svc
from tests.support.auth import Metadata, merchant_metadata, platform_metadata
from tests.support.redis_server import RedisServerHandle, start_redis

from .processes import Background, Spawn, start_paycore, wait_for
from .test_run import serving_pids

pytestmark = pytest.mark.slow

DEADLINE_S = 10.0
CONNECTIONS = 32
"""At most this many connections to reach both workers (the kernel spreads them)."""


@pytest.fixture
def redis() -> Iterator[RedisServerHandle]:
    server = start_redis()
    yield server
    server.stop()


def _workers(server: Background) -> list[int]:
    pid = server.process.pid
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _connections_per_worker(workers: list[int], port: int) -> Counter[int]:
    """How many established connections to ``port`` each worker holds (from /proc)."""
    owners: dict[str, int] = {}
    for worker in workers:
        for fd in Path(f"/proc/{worker}/fd").iterdir():
            try:
                target = fd.readlink().name
            except OSError:
                continue  # closed meanwhile
            if target.startswith("socket:["):
                owners[target[len("socket:[") : -1]] = worker
    held: Counter[int] = Counter()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01" and fields[9] in owners:  # ESTABLISHED
                held[owners[fields[9]]] += 1
    return held


async def _keys(dsn: str, merchant_id: str) -> tuple[Metadata, Metadata]:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    try:
        return (
            await merchant_metadata(pool, merchant_id, Role.MERCHANT),
            await platform_metadata(pool),
        )
    finally:
        await pool.close()


def _list(channel: grpc.Channel, key: Metadata) -> None:
    payment_service_pb2_grpc.PaymentServiceStub(channel).ListPayments(
        svc.ListPaymentsRequest(), metadata=key, timeout=30
    )


def test_a_revoked_key_is_refused_by_every_worker_within_a_second_or_so(
    spawn: Spawn, data_dir: Path, postgres_dsn: str, redis: RedisServerHandle, merchant_id: str
) -> None:
    server, port = start_paycore(
        spawn,
        "--workers",
        "2",
        PAYCORE_POSTGRES_DSN=postgres_dsn,
        PAYCORE_REDIS_URL=redis.url,
        PAYCORE_AUTH__KEY_CACHE_S="60",
        PAYCORE_AUTH__LOCKOUT_FAILURES="1000000",
        data_dir=data_dir,
    )
    wait_for(lambda: len(serving_pids(server.output())) == 2, what="both workers to serve")
    key, platform = asyncio.run(_keys(postgres_dsn, merchant_id))
    workers = _workers(server)
    assert len(workers) == 2, server.output()
    channels: list[grpc.Channel] = []
    try:
        # One connection per channel (no shared subchannel), each verifying
        # the key on the worker it reached, until both workers trust it.
        while len(_connections_per_worker(workers, port)) < 2:
            assert len(channels) < CONNECTIONS, "every connection reached the same worker"
            channels.append(
                grpc.insecure_channel(
                    f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)]
                )
            )
            _list(channels[-1], key)

        access_service_pb2_grpc.AccessServiceStub(channels[0]).RevokeApiKey(
            access_pb.RevokeApiKeyRequest(
                request_id=str(uuid.uuid4()), prefix=key[0][1].removeprefix("Bearer ")[:16]
            ),
            metadata=platform,
            timeout=30,
        )

        still_accepting = set(range(len(channels)))
        deadline = time.monotonic() + DEADLINE_S
        while still_accepting and time.monotonic() < deadline:
            for index in sorted(still_accepting):
                try:
                    _list(channels[index], key)
                except grpc.RpcError as error:
                    assert error.code() == grpc.StatusCode.UNAUTHENTICATED, error.details()
                    still_accepting.discard(index)
            time.sleep(0.05)
        assert not still_accepting, f"{len(still_accepting)} connections still accept the key"
    finally:
        for channel in channels:
            channel.close()
        server.stop()
    assert "Traceback" not in server.output()
