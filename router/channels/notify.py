"""Delivering a simulated channel's notification: POST until paycore answers 2xx, as PSPs do."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiohttp import ClientError, ClientSession, ClientTimeout

from router.signing import SIGNATURE_HEADER

log = logging.getLogger(__name__)


async def post_until_accepted(
    url: str, body: bytes, signature: Callable[[bytes, int], str], tries: int = 20
) -> bool:
    """POST ``body`` (signed afresh on each try) until a 2xx; False after ``tries`` failures.

    Backs off from 50 ms to 2 s: a 503 (the attempt's request still running)
    or a paycore restart is waited out, as real notification services do.
    """
    delay = 0.05
    async with ClientSession(timeout=ClientTimeout(total=5)) as session:
        for _ in range(tries):
            headers = {
                SIGNATURE_HEADER: signature(body, int(time.time())),
                "Content-Type": "application/json",
            }
            try:
                async with session.post(url, data=body, headers=headers) as answer:
                    if 200 <= answer.status < 300:
                        return True
                    log.warning("notification to %s refused: HTTP %d", url, answer.status)
            except (ClientError, TimeoutError) as exc:
                log.warning("notification to %s not delivered: %s", url, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
    return False
