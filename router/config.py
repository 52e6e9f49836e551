"""Routing configuration: the strategy chain of each merchant, parsed from a TOML table.

Format (the README's "Channels and routing" section has a full example)::

    [default]                       # every merchant without its own table
    strategies = ["rules", "split", "cost", "health"]   # any subset, in this order or another

    [[default.rules]]               # used by "rules": the first match wins
    name = "eur-to-b"
    channels = ["acquirer_b", "acquirer_a"]
    currencies = ["EUR"]            # optional conditions: methods, currencies, bins,
    min_amount_minor = 1000         # countries, merchants, min/max_amount_minor
    max_amount_minor = 0            # 0: unbounded

    [default.split]                 # used by "split": relative weights
    acquirer_a = 70
    acquirer_b = 30

    [default.health]                # used by "health" (all optional)
    min_samples = 5
    min_success_rate = 0.9
    max_latency_ms = 0

    [merchants."m_123"]             # one merchant's own chain (same keys as default)
    strategies = ["cost"]

With no configuration, every merchant uses ``["health"]``: channels in their
configured priority order, skipping open circuits.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from router.routing import CostBased, HealthBased, Rule, Rules, Strategy, WeightedSplit

DEFAULT_CHAIN: tuple[Strategy, ...] = (HealthBased(),)


class RoutingConfigError(ValueError):
    """The routing configuration cannot be used (the message names the offending key)."""


@dataclass(frozen=True, slots=True)
class RoutingTable:
    """The strategy chain of every merchant."""

    default: tuple[Strategy, ...] = DEFAULT_CHAIN
    merchants: Mapping[str, tuple[Strategy, ...]] = field(default_factory=dict)

    def chain_for(self, merchant_id: str) -> tuple[Strategy, ...]:
        """The merchant's own chain, or the default one."""
        return self.merchants.get(merchant_id, self.default)


def parse_routing(raw: Mapping[str, Any], channels: frozenset[str]) -> RoutingTable:
    """Build a RoutingTable from decoded TOML; every named channel must exist."""
    unknown = set(raw) - {"default", "merchants"}
    if unknown:
        raise RoutingConfigError(f"unknown routing keys: {sorted(unknown)}")
    default = _chain(raw["default"], "default", channels) if "default" in raw else DEFAULT_CHAIN
    merchants = {
        str(merchant): _chain(table, f"merchants.{merchant}", channels)
        for merchant, table in dict(raw.get("merchants", {})).items()
    }
    return RoutingTable(default=default, merchants=merchants)


def load_routing_file(path: str | None, channels: frozenset[str]) -> RoutingTable:
    """The routing table in the TOML file ``path`` (the default table when None)."""
    if not path:
        return RoutingTable()
    try:
        raw = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RoutingConfigError(f"routing file {path}: {exc}") from None
    return parse_routing(raw, channels)


def _chain(table: Any, where: str, channels: frozenset[str]) -> tuple[Strategy, ...]:
    if not isinstance(table, Mapping):
        raise RoutingConfigError(f"{where}: expected a table")
    names = table.get("strategies", ["health"])
    chain: list[Strategy] = []
    for name in names:
        if name == "rules":
            chain.append(Rules(tuple(_rule(r, f"{where}.rules", channels) for r in table["rules"])))
        elif name == "split":
            weights = {str(k): int(v) for k, v in dict(table.get("split", {})).items()}
            _known(weights, f"{where}.split", channels)
            if any(w < 0 for w in weights.values()) or not sum(weights.values()):
                raise RoutingConfigError(f"{where}.split: weights must be >= 0, not all 0")
            chain.append(WeightedSplit(weights))
        elif name == "cost":
            chain.append(CostBased())
        elif name == "health":
            health = dict(table.get("health", {}))
            chain.append(
                HealthBased(
                    min_samples=int(health.get("min_samples", 5)),
                    min_success_rate=float(health.get("min_success_rate", 0.9)),
                    max_latency_ms=float(health.get("max_latency_ms", 0.0)),
                )
            )
        else:
            raise RoutingConfigError(f"{where}.strategies: unknown strategy {name!r}")
    return tuple(chain)


def _rule(raw: Any, where: str, channels: frozenset[str]) -> Rule:
    if not isinstance(raw, Mapping) or not raw.get("channels"):
        raise RoutingConfigError(f"{where}: each rule needs a name and channels")
    known = {
        "name",
        "channels",
        "methods",
        "currencies",
        "min_amount_minor",
        "max_amount_minor",
        "bins",
        "countries",
        "merchants",
    }
    if set(raw) - known:
        raise RoutingConfigError(f"{where}: unknown keys {sorted(set(raw) - known)}")
    rule_channels = tuple(str(c) for c in raw["channels"])
    _known(rule_channels, where, channels)
    return Rule(
        name=str(raw.get("name", "")),
        channels=rule_channels,
        methods=frozenset(raw.get("methods", ())),
        currencies=frozenset(raw.get("currencies", ())),
        min_amount_minor=int(raw.get("min_amount_minor", 0)),
        max_amount_minor=int(raw.get("max_amount_minor", 0)),
        bins=tuple(str(b) for b in raw.get("bins", ())),
        countries=frozenset(raw.get("countries", ())),
        merchants=frozenset(raw.get("merchants", ())),
    )


def _known(names: Any, where: str, channels: frozenset[str]) -> None:
    missing = sorted(set(names) - channels)
    if missing:
        raise RoutingConfigError(f"{where}: unknown channels {missing}")
