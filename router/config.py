"""Routing configuration: the strategy chain of each merchant, parsed from a TOML table.

Format (docs/ROUTING.md, "Routing configuration", has a full example)::

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

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.domain.digits import is_ascii_digits
from router.routing import CostBased, HealthBased, Rule, Rules, Strategy, WeightedSplit

DEFAULT_CHAIN: tuple[Strategy, ...] = (HealthBased(),)


class RoutingConfigError(ValueError):
    """The routing configuration cannot be used.

    ``field`` is the dotted path of the offending key (``merchants.m_1.rules[0].channels``),
    ``problem`` what is wrong with it; the message is both.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


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
        raise RoutingConfigError("routing", f"unknown routing keys: {sorted(unknown)}")
    default = (
        parse_chain(raw["default"], "default", channels) if "default" in raw else DEFAULT_CHAIN
    )
    merchants = {
        str(merchant): parse_chain(table, f"merchants.{merchant}", channels)
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
        raise RoutingConfigError(f"routing file {path}", str(exc)) from None
    return parse_routing(raw, channels)


CHAIN_KEYS = frozenset({"strategies", "rules", "split", "health"})
"""The keys of one chain's table (``[default]``, ``[merchants."<id>"]``)."""
_RULE_KEYS = frozenset(
    {
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
)
_HEALTH_KEYS = frozenset({"min_samples", "min_success_rate", "max_latency_ms"})


def parse_chain(table: Any, where: str, channels: frozenset[str]) -> tuple[Strategy, ...]:
    """One merchant's (or the default) chain from its table; ``where`` prefixes error fields.

    The routing file's tables and MerchantRoutingService's stored chains both
    come through here, so both have exactly the same format and checks.
    """
    if not isinstance(table, Mapping):
        raise RoutingConfigError(where, "expected a table")
    unknown = set(table) - CHAIN_KEYS
    if unknown:
        raise RoutingConfigError(where, f"unknown keys {sorted(unknown)}")
    names = _strings(table.get("strategies", ["health"]), f"{where}.strategies")
    chain: list[Strategy] = []
    for name in names:
        if name == "rules":
            raw_rules = table.get("rules")
            if not isinstance(raw_rules, list) or not raw_rules:
                raise RoutingConfigError(f"{where}.rules", 'the "rules" strategy needs rules')
            chain.append(
                Rules(
                    tuple(
                        _rule(r, f"{where}.rules[{i}]", channels) for i, r in enumerate(raw_rules)
                    )
                )
            )
        elif name == "split":
            chain.append(
                WeightedSplit(_weights(table.get("split", {}), f"{where}.split", channels))
            )
        elif name == "cost":
            chain.append(CostBased())
        elif name == "health":
            chain.append(_health(table.get("health", {}), f"{where}.health"))
        else:
            raise RoutingConfigError(f"{where}.strategies", f"unknown strategy {name!r}")
    _check_unused_sections(table, names, where, channels)
    return tuple(chain)


def _check_unused_sections(
    table: Mapping[str, Any], names: list[str], where: str, channels: frozenset[str]
) -> None:
    """Sections the chain does not use are still stored, so they are checked all the same.

    A merchant may set rules before switching the "rules" strategy on; what is kept
    must be what the strategy would accept then (and what jsonb can hold).
    """
    if "rules" not in names and "rules" in table:
        raw_rules = table["rules"]
        if not isinstance(raw_rules, list):
            raise RoutingConfigError(f"{where}.rules", "expected a list of rules")
        for i, raw in enumerate(raw_rules):
            _rule(raw, f"{where}.rules[{i}]", channels)
    if "split" not in names and table.get("split"):
        _weights(table["split"], f"{where}.split", channels)
    if "health" not in names and "health" in table:
        _health(table["health"], f"{where}.health")


def _weights(raw: Any, where: str, channels: frozenset[str]) -> dict[str, int]:
    if not isinstance(raw, Mapping):
        raise RoutingConfigError(where, "expected a table of channel = weight")
    weights = {str(k): _integer(v, f"{where}.{k}") for k, v in raw.items()}
    _known(weights, where, channels)
    if any(w < 0 for w in weights.values()) or not sum(weights.values()):
        raise RoutingConfigError(where, "weights must be >= 0, not all 0")
    return weights


def _health(raw: Any, where: str) -> HealthBased:
    if not isinstance(raw, Mapping):
        raise RoutingConfigError(where, "expected a table")
    if set(raw) - _HEALTH_KEYS:
        raise RoutingConfigError(where, f"unknown keys {sorted(set(raw) - _HEALTH_KEYS)}")
    min_samples = _integer(raw.get("min_samples", 5), f"{where}.min_samples")
    rate = _number(raw.get("min_success_rate", 0.9), f"{where}.min_success_rate")
    latency = _number(raw.get("max_latency_ms", 0.0), f"{where}.max_latency_ms")
    if min_samples < 0:
        raise RoutingConfigError(f"{where}.min_samples", "must be >= 0")
    if not 0.0 <= rate <= 1.0:
        raise RoutingConfigError(f"{where}.min_success_rate", "must be 0 to 1")
    if latency < 0:
        raise RoutingConfigError(f"{where}.max_latency_ms", "must be >= 0 (0: no bound)")
    return HealthBased(min_samples=min_samples, min_success_rate=rate, max_latency_ms=latency)


def _rule(raw: Any, where: str, channels: frozenset[str]) -> Rule:
    if not isinstance(raw, Mapping):
        raise RoutingConfigError(where, "expected a table")
    if set(raw) - _RULE_KEYS:
        raise RoutingConfigError(where, f"unknown keys {sorted(set(raw) - _RULE_KEYS)}")
    rule_channels = tuple(_strings(raw.get("channels", []), f"{where}.channels"))
    if not rule_channels:
        raise RoutingConfigError(f"{where}.channels", "required: the channels the rule allows")
    _known(rule_channels, f"{where}.channels", channels)
    low = _integer(raw.get("min_amount_minor", 0), f"{where}.min_amount_minor")
    high = _integer(raw.get("max_amount_minor", 0), f"{where}.max_amount_minor")
    if low < 0 or high < 0:
        raise RoutingConfigError(f"{where}.min_amount_minor", "amounts must be >= 0")
    if high and low > high:
        raise RoutingConfigError(f"{where}.max_amount_minor", "must be >= min_amount_minor")
    bins = _strings(raw.get("bins", []), f"{where}.bins")
    if any(not is_ascii_digits(b, 1, 8) for b in bins):
        raise RoutingConfigError(
            f"{where}.bins", "each must be 1 to 8 ASCII digits 0-9 (a BIN prefix)"
        )
    countries = _strings(raw.get("countries", []), f"{where}.countries")
    if any(not (len(c) == 2 and c.isascii() and c.isalpha() and c.isupper()) for c in countries):
        raise RoutingConfigError(f"{where}.countries", "each must be ISO 3166 alpha-2, upper case")
    return Rule(
        name=_text(raw.get("name", ""), f"{where}.name"),
        channels=rule_channels,
        methods=frozenset(_strings(raw.get("methods", []), f"{where}.methods")),
        currencies=frozenset(_strings(raw.get("currencies", []), f"{where}.currencies")),
        min_amount_minor=low,
        max_amount_minor=high,
        bins=tuple(bins),
        countries=frozenset(countries),
        merchants=frozenset(_strings(raw.get("merchants", []), f"{where}.merchants")),
    )


def _strings(raw: Any, where: str) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise RoutingConfigError(where, "expected a list of strings")
    return [_text(item, where) for item in raw]


def _text(raw: Any, where: str) -> str:
    # A stored chain is jsonb, which cannot hold U+0000: refused here, with the
    # field named, rather than as a database error after the checks passed.
    if not isinstance(raw, str):
        raise RoutingConfigError(where, "expected a string")
    if "\x00" in raw:
        raise RoutingConfigError(where, "must not contain the NUL character (U+0000)")
    return raw


def _integer(raw: Any, where: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise RoutingConfigError(where, "expected an integer")
    return raw


def _number(raw: Any, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise RoutingConfigError(where, "expected a finite number")
    return float(raw)


def _known(names: Any, where: str, channels: frozenset[str]) -> None:
    missing = sorted(set(names) - channels)
    if missing:
        raise RoutingConfigError(where, f"unknown channels {missing}")
