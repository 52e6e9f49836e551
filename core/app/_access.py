"""Access: API key authentication, key administration, and the broadcast of key changes."""

from __future__ import annotations

import asyncpg

from core.auth.authenticator import Authenticator, LockoutPolicy
from core.config import Settings
from core.redis.auth_throttle import RedisGuessThrottle
from core.redis.key_revocations import RedisKeyRevocations
from core.redis.request_gate import RedisRequestGate
from core.service.access import AccessService
from core.service.execution import RequestExecutor
from core.storage.access import PostgresAccessStore


def build_access(
    settings: Settings, pool: asyncpg.Pool, gate: RedisRequestGate, executor: RequestExecutor
) -> tuple[Authenticator, AccessService, RedisKeyRevocations]:
    """API key authentication, key administration, and the broadcast of key changes.

    The caller runs ``key_changes.listen(authenticator)`` for the process's lifetime.
    """
    directory = PostgresAccessStore(pool)
    auth = settings.auth
    authenticator = Authenticator(
        directory,
        RedisGuessThrottle(gate.client, gate.availability),
        policy=LockoutPolicy(auth.lockout_failures, auth.lockout_window_s, auth.lockout_s),
        cache_s=auth.key_cache_s,
    )
    key_changes = RedisKeyRevocations(
        gate.client, gate.availability, retry_interval_s=settings.redis_retry_interval_s
    )
    access = AccessService(
        executor=executor, directory=directory, authenticator=authenticator, key_changes=key_changes
    )
    return authenticator, access, key_changes
