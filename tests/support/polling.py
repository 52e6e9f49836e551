"""Waiting for what happens off a request's path: ``eventually`` polls until a check holds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


async def eventually(check: Callable[[], Any], within_s: float = 10.0, what: str = "") -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy; fail after ``within_s``."""
    deadline = time.monotonic() + within_s
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within_s}s: {what or check}")
        await asyncio.sleep(0.02)
