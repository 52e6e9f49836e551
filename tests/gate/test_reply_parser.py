"""Redis replies are parsed by hiredis (C), not redis-py's pure-Python parser (issue 18)."""

from __future__ import annotations

from redis._parsers import _AsyncHiredisParser
from redis.asyncio import Redis

from core.app import connect_redis
from core.config import Settings


async def test_paycores_redis_connections_parse_replies_with_hiredis(redis_url: str) -> None:
    client = connect_redis(Settings(redis_url=redis_url))
    assert isinstance(client, Redis)
    try:
        assert await client.ping()
        connection = await client.connection_pool.get_connection()
        try:
            parser = connection._parser
        finally:
            await client.connection_pool.release(connection)
    finally:
        await client.aclose()

    assert isinstance(parser, _AsyncHiredisParser)
