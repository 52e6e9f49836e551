"""Schema migrations: numbered SQL files in core/storage/migrations, applied in order.

Safe to run from several processes at once (start-up of every worker, the
``paycore migrate`` command): an advisory lock serializes them, and each file
is applied in its own transaction together with its row in schema_migrations,
so a crash leaves either all of a file or none of it.
"""

from __future__ import annotations

import logging
from importlib import resources

import asyncpg

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same in every paycore process.
_ADVISORY_LOCK_KEY = 0x70617963  # "payc"


def migration_files() -> list[tuple[str, str]]:
    """(name, sql) of every migration, ordered by name."""
    folder = resources.files("core.storage") / "migrations"
    files = sorted((entry.name, entry) for entry in folder.iterdir() if entry.name.endswith(".sql"))
    return [(name, entry.read_text()) for name, entry in files]


async def migrate(dsn: str) -> list[str]:
    """Apply pending migrations to the database at ``dsn``; return the names applied."""
    connection = await asyncpg.connect(dsn)
    try:
        return await migrate_connection(connection)
    finally:
        await connection.close()


async def migrate_connection(connection: asyncpg.Connection) -> list[str]:
    """Apply pending migrations over an open connection."""
    applied: list[str] = []
    await connection.execute("SELECT pg_advisory_lock($1)", _ADVISORY_LOCK_KEY)
    try:
        await connection.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                name text PRIMARY KEY,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        done = {row["name"] for row in await connection.fetch("SELECT name FROM schema_migrations")}
        for name, sql in migration_files():
            if name in done:
                continue
            async with connection.transaction():
                await connection.execute(sql)
                await connection.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
            log.info("applied migration %s", name)
            applied.append(name)
    finally:
        await connection.execute("SELECT pg_advisory_unlock($1)", _ADVISORY_LOCK_KEY)
    return applied
