"""The router: decides a payment's route, bounds each channel call, classifies its ending.

It also tracks each channel's health (the breakers of router/health.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from core.domain.attempt import Attempt, AttemptOutcome, ChannelOperation, ChannelResult
from core.domain.commands import CardInput
from core.domain.payment import Failure
from router.channel import AmbiguousAnswer, Channel, ChannelNotProcessed
from router.config import RoutingTable
from router.health import BreakerSettings, ChannelHealth
from router.routing import RouteRequest, RoutingContext, RoutingDecision, Strategy, decide

log = logging.getLogger(__name__)

_NO_ANSWER = frozenset({"channel_unavailable", "channel_timeout", "channel_error"})
"""Failure codes the dispatcher gives when the channel did not answer at all."""


class Router:
    """The router: the channels in priority order, each merchant's routing chain, channel health.

    Health lives in this process's memory (one view per worker): it steers
    routing and opens circuits, it never decides whether money moved. Calls
    whose answer a channel's test mode simulates (its ``test_amounts``) are
    not counted: they are no evidence of the channel's health.
    """

    def __init__(
        self,
        channels: Sequence[Channel],
        timeout_s: float,
        *,
        table: RoutingTable | None = None,
        breaker: BreakerSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not channels:
            raise ValueError("the router needs at least one channel")
        self._channels = {channel.name: channel for channel in channels}
        self._table = table or RoutingTable()
        self._timeout_s = timeout_s
        self._clock = clock
        self._health = {name: ChannelHealth(breaker) for name in self._channels}
        self._merchant_chains: Mapping[str, tuple[Strategy, ...]] = {}

    async def close(self) -> None:
        """Close the channels that hold connections (HTTP adapters)."""
        for channel in self._channels.values():
            close = getattr(channel, "close", None)
            if close is not None:
                await close()

    @property
    def channel_names(self) -> tuple[str, ...]:
        """The channels this router has adapters for, in priority order."""
        return tuple(self._channels)

    def channel(self, name: str) -> Channel:
        """The channel called ``name`` (KeyError for an unknown one)."""
        return self._channels[name]

    def health(self, name: str) -> ChannelHealth:
        """The channel's health tracker (for inspection and tests)."""
        return self._health[name]

    def breaker_states(self) -> dict[str, str]:
        """Each channel's circuit breaker state now (``BreakerState`` values), by channel."""
        now = self._clock()
        return {name: health.state(now).value for name, health in self._health.items()}

    def decide(self, request: RouteRequest) -> RoutingDecision:
        """Which channels may carry the payment, in order (empty: none can)."""
        now = self._clock()
        context = RoutingContext(
            profiles={name: channel.profile for name, channel in self._channels.items()},
            health={name: health.view(now) for name, health in self._health.items()},
        )
        return decide(request, self.chain_for(request.merchant_id), context)

    def chain_for(self, merchant_id: str) -> tuple[Strategy, ...]:
        """The merchant's chain: its own (set through the API), else the routing file's."""
        own = self._merchant_chains.get(merchant_id)
        return self._table.chain_for(merchant_id) if own is None else own

    def use_merchant_chains(self, chains: Mapping[str, tuple[Strategy, ...]]) -> None:
        """Replace every merchant's own chain (MerchantRoutingService loads them from storage).

        They take precedence over the routing file, which stays the default.
        """
        self._merchant_chains = dict(chains)

    async def execute(self, attempt: Attempt, card: CardInput | None = None) -> ChannelResult:
        """Make the call ``attempt`` describes and classify the ending.

        A timeout or any unexpected error means the provider may have acted:
        that is UNKNOWN, never FAILED, so nobody retries a call that might have
        moved money. Only ChannelNotProcessed (or an explicit "not processed"
        answer) proves nothing happened; only then may another channel be tried.
        """
        channel = self._channels[attempt.channel]

        async def call() -> ChannelResult:
            if attempt.operation is ChannelOperation.AUTHORIZE:
                return await channel.authorize(attempt, card)
            if attempt.operation is ChannelOperation.CAPTURE:
                return await channel.capture(attempt)
            if attempt.operation is ChannelOperation.VOID:
                return await channel.void(attempt)
            return await channel.refund(attempt)

        return await self._timed(attempt, call)

    async def query(self, attempt: Attempt) -> ChannelResult:
        """Ask the channel what became of ``attempt`` (a status query); never raises.

        Only an answer of the channel's status API says anything about the
        attempt: a query that could not be made (refused connection, timeout)
        is UNKNOWN, never "not processed", or a charged payment would be failed.
        """
        result = await self._timed(attempt, lambda: self._channels[attempt.channel].query(attempt))
        if result.failure is not None and result.failure.code in _NO_ANSWER:
            return ChannelResult(AttemptOutcome.UNKNOWN, failure=result.failure)
        return result

    async def _timed(
        self, attempt: Attempt, call: Callable[[], Awaitable[ChannelResult]]
    ) -> ChannelResult:
        if self._simulated(attempt):
            # A test trigger amount (999.03...): the channel plays the ending
            # the test asked for. Like a PSP's test mode, kept apart from live
            # traffic: it neither feeds the shared breaker (one merchant's
            # tests would close the channel to every merchant) nor takes a
            # half-open probe slot (its answer would prove nothing).
            return await self._classified(attempt, call)
        health = self._health[attempt.channel]
        started = self._clock()
        health.started(started)
        result = await self._classified(attempt, call)
        answered = result.outcome is not AttemptOutcome.UNKNOWN and not result.not_processed
        health.record(answered, self._clock() - started, self._clock())
        return result

    def _simulated(self, attempt: Attempt) -> bool:
        """Whether the channel simulates this call's answer (a test mode trigger amount)."""
        return attempt.operation is ChannelOperation.AUTHORIZE and self._channels[
            attempt.channel
        ].profile.simulates(attempt.amount.amount)

    async def _classified(
        self, attempt: Attempt, call: Callable[[], Awaitable[ChannelResult]]
    ) -> ChannelResult:
        try:
            async with asyncio.timeout(self._timeout_s):
                return await call()
        except ChannelNotProcessed as exc:
            return ChannelResult(
                AttemptOutcome.FAILED,
                failure=Failure("channel_unavailable", str(exc)),
                not_processed=True,
            )
        except TimeoutError:
            # The call is cancelled here, but the provider may have acted on
            # it: UNKNOWN, resolved later by a status query.
            log.info("channel %s timed out on %s", attempt.channel, attempt.id)
            return ChannelResult(
                AttemptOutcome.UNKNOWN, failure=Failure("channel_timeout", "No answer in time.")
            )
        except asyncio.CancelledError:
            raise
        except (AmbiguousAnswer, ConnectionError) as exc:
            # A provider's 5xx, a reset mid-answer: expected, no traceback to read.
            # INFO only: the caller logs the one WARNING of an unknown ending (the
            # executor names the payment; a status query's own schedule follows).
            log.info("channel %s: ambiguous answer on %s: %s", attempt.channel, attempt.id, exc)
            return ChannelResult(
                AttemptOutcome.UNKNOWN, failure=Failure("channel_error", "Ambiguous channel error.")
            )
        except Exception:
            # A bug in an adapter: the traceback is what someone needs to read.
            log.exception("channel %s failed unexpectedly on %s", attempt.channel, attempt.id)
            return ChannelResult(
                AttemptOutcome.UNKNOWN, failure=Failure("channel_error", "Ambiguous channel error.")
            )
