"""One writer's batches: what is ready in one turn of the event loop leaves together (issue 18).

Both group commits (core/service/group_commit.py: a new payment's first
transaction; core/service/answer_commit.py: a channel answer's) queue their
requests' items here and get one outcome per item back.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

I = TypeVar("I")  # noqa: E741 - an item
O = TypeVar("O")  # noqa: E741 - its outcome

MAX_BATCH = 128
"""Items per batch at most; more wait for the next one (the same loop turn)."""

MAX_IN_FLIGHT = 2
"""Batches under way at once; items arriving meanwhile wait and go together."""

_OWN_CONTEXT = contextvars.Context()
"""The flushes' context: not the request's that happened to schedule one (its span, its
pool checkouts), since the batch serves every request in it."""


class BatchFailedError(Exception):
    """The item's batch failed: not known to have committed (see ``Batcher.submit``)."""

    def __init__(self, cause: BaseException | None = None) -> None:
        super().__init__(cause)
        self.cause = cause
        """What ``commit`` raised (None: its task was cancelled)."""


class Batcher(Generic[I, O]):
    """Collects items and commits those ready in one loop turn with one ``commit`` call.

    The first item of a turn schedules the flush with ``call_soon``: it runs
    once the callbacks already ready have run, so when the process is idle an
    item waits for nothing. Under load, while ``MAX_IN_FLIGHT`` batches are
    under way, items queue and leave together as soon as one of them returns:
    the batch grows with the load (the ~1 ms window of issue 18 is the
    batch's own time). ``commit`` takes a pooled connection only for its
    batch, never across a request's awaits.
    """

    def __init__(
        self,
        commit: Callable[[list[I]], Awaitable[list[O]]],
        *,
        leaving: Callable[[list[I]], None] | None = None,
    ) -> None:
        """``commit``: an outcome per item, in order; ``leaving``: told of each batch leaving."""
        self._commit_items = commit
        self._leaving = leaving
        self._waiting: list[tuple[I, asyncio.Future[O]]] = []
        self._scheduled = False
        self._flushes: set[asyncio.Task[None]] = set()
        self.batches = 0
        """Batches sent (for benchmarks and tests)."""
        self.items = 0
        """Items sent in them."""

    async def submit(self, item: I) -> O:
        """Commit ``item`` with its batch and return its outcome.

        Raises BatchFailedError when ``commit`` raised (or its task was
        cancelled): the batch is then not known to have committed, as after
        a lost acknowledgement. Cancelling this await does not touch the
        batch: it commits or fails as a whole either way, and each caller says
        what resolves that for its requests.
        """
        future: asyncio.Future[O] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        self._schedule()
        return await future

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush, context=_OWN_CONTEXT)

    def _flush(self) -> None:
        self._scheduled = False
        if len(self._flushes) >= MAX_IN_FLIGHT:
            return  # the batch returning first flushes what waits (``_commit``)
        batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
        if self._leaving is not None:
            self._leaving([item for item, _ in batch])
        if self._waiting:
            self._schedule()
        if not batch:
            return
        task = asyncio.ensure_future(self._commit(batch))
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _commit(self, batch: list[tuple[I, asyncio.Future[O]]]) -> None:
        outcomes: list[O] | None = None
        failure: BaseException | None = None
        try:
            outcomes = await self._commit_items([item for item, _ in batch])
        except Exception as error:
            failure = error
            # Failed: rolled back, or (PostgreSQL gone after COMMIT) only its
            # acknowledgement lost; each caller's fallback copes with both.
            log.info("group commit of %d items failed: %r", len(batch), error)
        finally:
            # Also when this task is cancelled (the loop closing): every waiting
            # request learns that its batch is not known to have committed.
            self.batches += 1
            self.items += len(batch)
            this = asyncio.current_task()
            if this is not None:
                self._flushes.discard(this)
            if self._waiting:
                self._schedule()
            for index, (_, future) in enumerate(batch):
                if future.done():  # its request was cancelled (shutdown)
                    continue
                if outcomes is None:
                    future.set_exception(BatchFailedError(failure))
                else:
                    future.set_result(outcomes[index])
