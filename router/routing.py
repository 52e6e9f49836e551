"""The routing decision: which channels may carry a payment, in which order. Pure.

A merchant's routing is a chain of strategies. Each takes the candidate
channels left by the previous one and returns them filtered or reordered,
with a note saying what it did; the notes and the final order are the
``RoutingDecision`` recorded on the payment (and shown by GetPayment)::

    capabilities (always first: method, currency, brand, amount limit)
      -> open breakers   (always) a channel whose circuit is open is dropped,
                         whatever the merchant's chain: nobody sends to a dead channel
      -> rules           first matching rule names the allowed channels, in order
      -> weighted split  a stable share of payments goes first to each channel
      -> cost            cheapest channel for this amount first
      -> health          degraded channels (rolling success rate, latency) go
                         last; it only orders what the breakers left

The first candidate carries the payment; the others are failover targets,
used only when the one before *certainly* did not process the payment (see
router/router.py). Nothing here does I/O: health arrives as ``HealthView``
snapshots taken by the router.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RouteRequest:
    """What routing knows about a payment."""

    merchant_id: str
    method: str
    """"card" or "bank_transfer"."""
    currency: str
    amount_minor: int
    brand: str = ""
    bin: str = ""
    """First six digits of the card number ("" for other methods)."""
    country: str = ""
    """Issuing country of the card (ISO 3166 alpha-2), "" when unknown."""
    split_key: str = ""
    """Stable key (the payment id) so a weighted split sends a payment the same way every time."""


TEST_AMOUNT_MODULUS = 100_000
"""Test trigger amounts are matched on the amount's last five minor-unit digits."""


@dataclass(frozen=True, slots=True)
class ChannelProfile:
    """What a channel can carry and what it costs, as routing sees it.

    Empty sets mean "any". Fees are integers: ``fee_bps`` basis points of the
    amount (rounded up to a minor unit) plus ``fee_fixed_minor``.
    """

    name: str
    methods: frozenset[str] = frozenset({"card"})
    currencies: frozenset[str] = frozenset()
    brands: frozenset[str] = frozenset()
    max_amount_minor: int = 0
    """0: no limit."""
    fee_bps: int = 0
    fee_fixed_minor: int = 0
    test_amounts: frozenset[int] = frozenset()
    """The magic amounts of the channel's test mode, in minor units modulo
    ``TEST_AMOUNT_MODULUS`` (99903: any amount ending in 999.03), whose
    authorization answer the channel simulates instead of processing: how such
    a call ends is what the test asked for, so it says nothing of the channel's
    health. Empty for a live channel (which has no magic amounts)."""

    def simulates(self, amount_minor: int) -> bool:
        """Whether authorizing ``amount_minor`` gets a simulated (test trigger) answer."""
        return amount_minor % TEST_AMOUNT_MODULUS in self.test_amounts

    def supports(self, request: RouteRequest) -> bool:
        """Whether the channel can carry this payment at all."""
        return (
            request.method in self.methods
            and (not self.currencies or request.currency in self.currencies)
            and (request.method != "card" or not self.brands or request.brand in self.brands)
            and (not self.max_amount_minor or request.amount_minor <= self.max_amount_minor)
        )

    def cost_minor(self, amount_minor: int) -> int:
        """The channel's fee for ``amount_minor``, in minor units (percentage rounded up)."""
        return -(-amount_minor * self.fee_bps // 10_000) + self.fee_fixed_minor


@dataclass(frozen=True, slots=True)
class HealthView:
    """One channel's health at decision time (see router/health.py)."""

    available: bool = True
    """False while the channel's circuit breaker is open (or its half-open probe is out)."""
    success_rate: float = 1.0
    """Share of recent calls the channel answered (declines count as answers)."""
    latency_ms: float = 0.0
    samples: int = 0


_NEVER_CALLED = HealthView()
"""The health of a channel without calls (one shared value: it is frozen)."""


@dataclass(frozen=True, slots=True)
class RoutingContext:
    """Everything strategies may consult besides the payment."""

    profiles: Mapping[str, ChannelProfile]
    health: Mapping[str, HealthView] = field(default_factory=dict)

    def health_of(self, channel: str) -> HealthView:
        """The channel's health; a channel never called is assumed healthy."""
        return self.health.get(channel, _NEVER_CALLED)


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """The channels that may carry a payment, in order, and how the order came about."""

    candidates: tuple[str, ...]
    steps: tuple[str, ...]

    @property
    def channel(self) -> str | None:
        """The channel to try first (None: nothing can carry the payment)."""
        return self.candidates[0] if self.candidates else None


class Strategy(Protocol):
    """One link of a routing chain."""

    def apply(
        self, request: RouteRequest, candidates: tuple[str, ...], context: RoutingContext
    ) -> tuple[tuple[str, ...], str]:
        """The candidates filtered or reordered, and a short note of what was done."""
        ...


@dataclass(frozen=True, slots=True)
class Rule:
    """A routing rule: when every given condition matches, only ``channels`` may be used.

    An empty condition matches everything. ``bins`` are prefixes of the card number.
    """

    name: str
    channels: tuple[str, ...]
    methods: frozenset[str] = frozenset()
    currencies: frozenset[str] = frozenset()
    min_amount_minor: int = 0
    max_amount_minor: int = 0
    """0: no upper bound."""
    bins: tuple[str, ...] = ()
    countries: frozenset[str] = frozenset()
    merchants: frozenset[str] = frozenset()

    def matches(self, request: RouteRequest) -> bool:
        """Whether every condition of the rule holds for ``request``."""
        return (
            (not self.methods or request.method in self.methods)
            and (not self.currencies or request.currency in self.currencies)
            and request.amount_minor >= self.min_amount_minor
            and (not self.max_amount_minor or request.amount_minor <= self.max_amount_minor)
            and (not self.bins or request.bin.startswith(self.bins))
            and (not self.countries or request.country in self.countries)
            and (not self.merchants or request.merchant_id in self.merchants)
        )


@dataclass(frozen=True, slots=True)
class Rules:
    """The first matching rule restricts (and orders) the candidates; no match changes nothing."""

    rules: tuple[Rule, ...]

    def apply(
        self, request: RouteRequest, candidates: tuple[str, ...], context: RoutingContext
    ) -> tuple[tuple[str, ...], str]:
        """Keep the first matching rule's channels, in the rule's order."""
        for rule in self.rules:
            if rule.matches(request):
                return tuple(c for c in rule.channels if c in candidates), f"rule:{rule.name}"
        return candidates, "rules:no match"


@dataclass(frozen=True, slots=True)
class WeightedSplit:
    """Send a stable share of payments first to each channel (e.g. 70/30 A/B).

    The share is picked by hashing the payment's ``split_key``, so a payment
    (and a retry of it) always lands in the same bucket. Channels without a
    weight keep their place after the weighted ones.
    """

    weights: Mapping[str, int]

    def apply(
        self, request: RouteRequest, candidates: tuple[str, ...], context: RoutingContext
    ) -> tuple[tuple[str, ...], str]:
        """Move the channel whose bucket the payment falls in to the front."""
        weighted = [(c, self.weights[c]) for c in candidates if self.weights.get(c, 0) > 0]
        total = sum(w for _, w in weighted)
        if not total:
            return candidates, "split:no weighted channel"
        digest = hashlib.sha256(request.split_key.encode()).digest()
        point = int.from_bytes(digest[:8], "big") % total
        for channel, weight in weighted:
            if point < weight:
                rest = tuple(c for c in candidates if c != channel)
                return (channel, *rest), f"split:{channel}"
            point -= weight
        raise AssertionError("unreachable: point < total")


@dataclass(frozen=True, slots=True)
class CostBased:
    """Cheapest channel first for this amount (stable: ties keep their order)."""

    def apply(
        self, request: RouteRequest, candidates: tuple[str, ...], context: RoutingContext
    ) -> tuple[tuple[str, ...], str]:
        """Sort by the channel's fee for the payment's amount."""
        ordered = tuple(
            sorted(candidates, key=lambda c: context.profiles[c].cost_minor(request.amount_minor))
        )
        return ordered, "cost:" + ",".join(
            f"{c}={context.profiles[c].cost_minor(request.amount_minor)}" for c in ordered
        )


@dataclass(frozen=True, slots=True)
class HealthBased:
    """Move degraded channels behind healthy ones (open circuits are gone already: ``decide``).

    A channel is degraded when, over at least ``min_samples`` recent calls, its
    success rate is below ``min_success_rate`` or its mean latency above
    ``max_latency_ms`` (0: no latency bound). Healthy channels keep the order
    the previous strategies gave them; degraded ones follow, best first.
    """

    min_samples: int = 5
    min_success_rate: float = 0.9
    max_latency_ms: float = 0.0

    def _degraded(self, view: HealthView) -> bool:
        if view.samples < self.min_samples:
            return False
        slow = bool(self.max_latency_ms) and view.latency_ms > self.max_latency_ms
        return view.success_rate < self.min_success_rate or slow

    def apply(
        self, request: RouteRequest, candidates: tuple[str, ...], context: RoutingContext
    ) -> tuple[tuple[str, ...], str]:
        """Healthy channels first, in the order they came; degraded ones after, best first."""
        healthy = [c for c in candidates if not self._degraded(context.health_of(c))]
        degraded = sorted(
            (c for c in candidates if self._degraded(context.health_of(c))),
            key=lambda c: (-context.health_of(c).success_rate, context.health_of(c).latency_ms),
        )
        return (*healthy, *degraded), "health:" + (
            f"degraded={','.join(degraded)}" if degraded else "ok"
        )


def decide(
    request: RouteRequest, strategies: Sequence[Strategy], context: RoutingContext
) -> RoutingDecision:
    """Run the chain: capabilities and open breakers first, then each strategy in order.

    An open circuit removes its channel here, before any strategy, so no
    merchant's chain (one without ``health``, a rule naming the channel) can
    send to a channel the breaker has taken out.
    """
    capable = tuple(name for name, p in context.profiles.items() if p.supports(request))
    steps = ["capable:" + (",".join(capable) or "none")]
    candidates = tuple(c for c in capable if context.health_of(c).available)
    if candidates != capable:
        steps.append("open:" + ",".join(c for c in capable if c not in candidates))
    for strategy in strategies:
        if not candidates:
            break
        candidates, note = strategy.apply(request, candidates, context)
        steps.append(note)
    return RoutingDecision(candidates, tuple(steps))
