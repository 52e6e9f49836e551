"""Embedded PostgreSQL and Redis: persistent, idempotent, safe to restart after a crash."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
import redis

from core.config import Settings
from core.runtime.embedded import EmbeddedServices, start_embedded

from .processes import Spawn, wait_for

Start = Callable[..., EmbeddedServices]


@pytest.fixture
def start() -> Iterator[Start]:
    """start_embedded, with everything it started stopped at the end of the test."""
    started: list[EmbeddedServices] = []

    def start_services(data_dir: Path, **settings: str) -> EmbeddedServices:
        services = start_embedded(Settings(data_dir=data_dir, **settings))  # type: ignore[arg-type]
        started.append(services)
        return services

    yield start_services
    for services in started:
        services.stop()


def sql(dsn: str, query: str) -> list[asyncpg.Record]:
    """Rows of a SELECT; other statements (several allowed) are executed as a script."""

    async def execute() -> list[asyncpg.Record]:
        connection = await asyncpg.connect(dsn)
        try:
            if query.startswith("SELECT"):
                return list(await connection.fetch(query))
            await connection.execute(query)
            return []
        finally:
            await connection.close()

    return asyncio.run(execute())


def redis_answers(url: str) -> bool:
    client = redis.Redis.from_url(url)
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
    finally:
        client.close()


def server_pids(data_dir: Path) -> tuple[str, str]:
    """The pids of the PostgreSQL and Redis servers running in ``data_dir``."""
    postmaster = (data_dir / "postgres" / "postmaster.pid").read_text().splitlines()[0]
    return postmaster, (data_dir / "redis" / "redis.pid").read_text().strip()


def test_restart_on_the_same_data_dir_keeps_postgres_rows_and_redis_keys(
    data_dir: Path, start: Start
) -> None:
    first = start(data_dir)
    sql(first.postgres_dsn, "CREATE TABLE kept (id int); INSERT INTO kept VALUES (42)")
    redis.Redis.from_url(first.redis_url).set("kept", "yes")
    first.stop()
    assert not redis_answers(first.redis_url)
    assert not (data_dir / "postgres" / "postmaster.pid").exists()

    second = start(data_dir)

    assert [row["id"] for row in sql(second.postgres_dsn, "SELECT id FROM kept")] == [42]
    assert redis.Redis.from_url(second.redis_url).get("kept") == b"yes"


def test_a_second_user_adopts_running_services_and_only_the_last_stop_stops_them(
    data_dir: Path, start: Start
) -> None:
    first = start(data_dir)
    second = start(data_dir)
    assert (second.postgres_dsn, second.redis_url) == (first.postgres_dsn, first.redis_url)

    first.stop()
    assert redis_answers(second.redis_url)
    assert sql(second.postgres_dsn, "SELECT 1 AS one")[0]["one"] == 1

    second.stop()
    assert not redis_answers(second.redis_url)
    assert not (data_dir / "postgres" / "postmaster.pid").exists()


def test_services_of_a_killed_paycore_keep_their_data_and_are_adopted(
    data_dir: Path, start: Start, spawn: Spawn
) -> None:
    holder = spawn(
        "-c",
        "import sys, time; from pathlib import Path; from core.config import Settings;"
        "from core.runtime.embedded import start_embedded;"
        "s = start_embedded(Settings(data_dir=Path(sys.argv[1])));"
        "print(s.postgres_dsn, s.redis_url, flush=True); time.sleep(600)",
        str(data_dir),
    )
    try:
        wait_for(lambda: holder.output().startswith("postgresql://"), what="embedded services")
        dsn, url = holder.output().split()[:2]
        sql(dsn, "CREATE TABLE kept (id int); INSERT INTO kept VALUES (7)")
        redis.Redis.from_url(url).set("kept", "7")
        servers = server_pids(data_dir)
        holder.stop(signal.SIGKILL)  # no chance to stop anything
    finally:
        adopted = start(data_dir)  # also stops the orphans should the test fail

    assert (adopted.postgres_dsn, adopted.redis_url) == (dsn, url)
    assert server_pids(data_dir) == servers  # adopted, not restarted
    assert sql(dsn, "SELECT id FROM kept")[0]["id"] == 7
    assert redis.Redis.from_url(url).get("kept") == b"7"
    adopted.stop()
    assert not redis_answers(url)
    assert not (data_dir / "postgres" / "postmaster.pid").exists()


def test_stale_pid_files_naming_other_processes_do_not_block_a_start(
    data_dir: Path, start: Start
) -> None:
    start(data_dir).stop()
    # As after a reboot: the recorded pids now belong to unrelated processes.
    unrelated = os.getpid()
    postmaster_pid = data_dir / "postgres" / "postmaster.pid"
    postmaster_pid.write_text(f"{unrelated}\n{data_dir / 'postgres'}\n0\n5432\n\n\n\nready\n")
    (data_dir / "redis" / "redis.pid").write_text(f"{unrelated}\n")

    services = start(data_dir)

    assert sql(services.postgres_dsn, "SELECT 1 AS one")[0]["one"] == 1
    assert redis_answers(services.redis_url)


def test_a_data_dir_too_deep_for_a_unix_socket_still_works(data_dir: Path, start: Start) -> None:
    deep = data_dir / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)

    services = start(deep)

    assert sql(services.postgres_dsn, "SELECT 1 AS one")[0]["one"] == 1
    assert redis_answers(services.redis_url)


def test_external_postgres_with_embedded_redis_starts_only_redis(
    data_dir: Path, start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="core.runtime.embedded")
    external = "postgresql://paycore:s3cret@db.internal:5432/paycore"

    services = start(data_dir, postgres_dsn=external)

    assert services.postgres_dsn == external
    assert redis_answers(services.redis_url)
    assert not (data_dir / "postgres").exists()
    assert "external at postgresql://paycore:***@db.internal:5432/paycore" in caplog.text
    assert f"Redis: embedded in {data_dir / 'redis'}" in caplog.text
    assert "s3cret" not in caplog.text


def test_external_postgres_and_redis_start_nothing(data_dir: Path, start: Start) -> None:
    services = start(
        data_dir / "unused",
        postgres_dsn="postgresql://db/paycore",
        redis_url="redis://cache:6379/0",
    )

    assert (services.postgres_dsn, services.redis_url) == (
        "postgresql://db/paycore",
        "redis://cache:6379/0",
    )
    assert not (data_dir / "unused").exists()
