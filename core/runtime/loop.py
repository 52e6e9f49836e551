"""Run a coroutine to completion on uvloop when asked and available, else on asyncio's loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T], use_uvloop: bool) -> T:
    """Run ``main`` in a new event loop (closed afterwards) and return its result."""
    with asyncio.Runner(loop_factory=_loop_factory(use_uvloop)) as runner:
        return runner.run(main)


def _loop_factory(use_uvloop: bool) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if not use_uvloop:
        log.info("event loop: asyncio (uvloop disabled)")
        return None
    try:
        import uvloop  # noqa: PLC0415 (optional: not built for every platform)
    except ImportError:
        log.info("event loop: asyncio (uvloop is not installed)")
        return None
    log.info("event loop: uvloop %s", getattr(uvloop, "__version__", "?"))
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory
