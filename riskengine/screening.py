"""One transaction's screening: its features and the engine's verdict on them (pure).

``screen`` is the scoring step paycore runs for every payment, withdrawal and dry run
(core/risk/screen.py gives it the velocity its store counted and the merchant's lists);
``static_lists`` are the blocklists of the configuration, applied to every merchant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from riskengine.engine import RiskEngine, Verdict
from riskengine.features import (
    FeatureSettings,
    FeatureValue,
    MerchantLists,
    Transaction,
    Velocity,
    compute_features,
)


class ScreeningConfig(Protocol):
    """The configured limits and blocklists screening reads (``core.config.RiskSettings``).

    A protocol, so the engine does not import the configuration it is wired by.
    """

    @property
    def max_amount_minor(self) -> int:
        """Hard limit per payment, in minor units."""
        ...

    @property
    def review_amount_minor(self) -> int:
        """Payments above this add to the risk score."""
        ...

    @property
    def blocked_card_fingerprints(self) -> Sequence[str]:
        """Card fingerprints blocked for every merchant."""
        ...

    @property
    def blocked_bins(self) -> Sequence[str]:
        """BIN prefixes blocked for every merchant."""
        ...

    @property
    def blocked_customer_ids(self) -> Sequence[str]:
        """Customer ids blocked for every merchant."""
        ...


@dataclass(frozen=True, slots=True)
class Screening:
    """The verdict and the features it was computed from (the dry run shows both)."""

    verdict: Verdict
    features: dict[str, FeatureValue]


def screen(
    engine: RiskEngine,
    settings: ScreeningConfig,
    transaction: Transaction,
    velocity: Velocity,
    lists: MerchantLists,
) -> Screening:
    """Features and verdict of one transaction, given its velocity and the merchant's lists."""
    features = compute_features(
        transaction,
        velocity,
        lists,
        FeatureSettings(
            max_amount_minor=settings.max_amount_minor,
            review_amount_minor=settings.review_amount_minor,
            bin_countries=engine.rules.bin_countries,
        ),
    )
    return Screening(engine.assess(features), features)


def static_lists(settings: ScreeningConfig) -> MerchantLists:
    """The blocklists of the configuration file, applied to every merchant."""
    blocked = {
        "card_fingerprint": frozenset(settings.blocked_card_fingerprints),
        "bin": frozenset(settings.blocked_bins),
        "customer": frozenset(settings.blocked_customer_ids),
    }
    return MerchantLists(blocked={k: v for k, v in blocked.items() if v})


def merge_lists(first: MerchantLists, second: MerchantLists) -> MerchantLists:
    """Every entry of both (the configured lists with a merchant's own)."""

    def union(
        a: dict[str, frozenset[str]], b: dict[str, frozenset[str]]
    ) -> dict[str, frozenset[str]]:
        return {k: a.get(k, frozenset()) | b.get(k, frozenset()) for k in a.keys() | b.keys()}

    return MerchantLists(
        blocked=union(dict(first.blocked), dict(second.blocked)),
        allowed=union(dict(first.allowed), dict(second.allowed)),
    )
