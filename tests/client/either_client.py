"""One awaitable face for PaycoreClient and AsyncPaycoreClient, so one test covers both."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from paycore.client import AsyncPaycoreClient, PaycoreClient
from paycore.v1.payment_pb2 import Payment


class EitherClient:
    """Calls either client's methods with ``await``; a blocking call just blocks.

    Blocking the test's event loop is harmless here: the scripted server runs
    on a loop of its own.
    """

    def __init__(self, client: PaycoreClient | AsyncPaycoreClient) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self.client, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result

        return call

    async def all_payments(self, **filters: Any) -> list[Payment]:
        """Everything ``iter_payments`` yields."""
        if isinstance(self.client, AsyncPaycoreClient):
            return [payment async for payment in self.client.iter_payments(**filters)]
        return list(self.client.iter_payments(**filters))
