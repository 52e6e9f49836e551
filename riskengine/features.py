"""Features of one transaction: the named values the rules are written against (pure).

``compute_features`` turns a ``Transaction``, the velocity read from Redis
(``Velocity``, counted BEFORE this transaction) and the merchant's lists
(``MerchantLists``) into a flat ``dict`` of ints, strings and booleans. The
catalogue ``FEATURES`` names every feature and its type; the rules loader
refuses a rule that names anything else, so a typo in the rules file is a
load error, not a rule that silently never fires.

Velocity counts and sums INCLUDE the transaction being scored: the fifth
payment of a card within a minute sees ``card_count_1m == 5``. Sums are in
minor units of whatever currency each payment had (merchants mostly sell in
one currency; mixing currencies makes sums approximate, never wrong in kind).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from core.domain.issuers import issuer_country
from core.domain.money import Money
from core.domain.payment import CardSummary

FeatureValue = int | str | bool

ENTITIES = ("customer", "email", "ip", "device", "card")
"""What velocity is counted for; each is keyed by merchant in Redis."""
WINDOWS = ("1m", "1h", "24h")
"""Sliding windows of the velocity counters."""
WINDOW_MS = {"1m": 60_000, "1h": 3_600_000, "24h": 86_400_000}
DECLINE_ENTITIES = ("card", "device")
"""Entities whose recent declines are counted (card testing)."""
DECLINE_WINDOWS = ("1h", "24h")
LOST_DISPUTE_ENTITIES = ("card", "customer", "email")
"""Entities whose lost chargebacks are counted (``<entity>_lost_disputes``): a card, a
customer or an email that cost the merchant a dispute is likely to again."""
LOST_DISPUTE_DAYS = 365
"""How far back lost disputes count (chargebacks are decided months after the payment)."""
LIST_KINDS = ("card_fingerprint", "email", "ip", "device", "bin", "customer")
"""What a block or allow list entry can name."""


def _catalogue() -> dict[str, type]:
    types: dict[str, type] = {
        "amount": int,
        "currency": str,
        "method": str,
        "card_brand": str,
        "card_bin": str,
        "card_country": str,
        "ip_country": str,
        "country_mismatch": bool,
        "email_domain": str,
        "has_customer": bool,
        "has_email": bool,
        "has_ip": bool,
        "has_device": bool,
        "customer_first_seen": bool,
        "customer_tx_count": int,
        "customer_avg_amount": int,
        "amount_vs_customer_avg_pct": int,
        "over_amount_limit": bool,
        "over_review_amount": bool,
        "allowlisted": bool,
        "velocity_unavailable": bool,
        "merchant_initiated": bool,
    }
    for entity in ENTITIES:
        for window in WINDOWS:
            types[f"{entity}_count_{window}"] = int
            types[f"{entity}_sum_{window}"] = int
    for entity in DECLINE_ENTITIES:
        for window in DECLINE_WINDOWS:
            types[f"{entity}_declines_{window}"] = int
    for entity in LOST_DISPUTE_ENTITIES:
        types[f"{entity}_lost_disputes"] = int
    for kind in LIST_KINDS:
        types[f"blocked_{kind}"] = bool
    return types


FEATURES: Mapping[str, type] = MappingProxyType(_catalogue())
"""Every feature a rule may name, with its type (int, str or bool)."""

# Feature names spelled once, not formatted again for every transaction scored.
_VELOCITY_NAMES = tuple(
    (entity, tuple((f"{entity}_count_{w}", f"{entity}_sum_{w}") for w in WINDOWS))
    for entity in ENTITIES
)
_DECLINE_NAMES = tuple(f"{e}_declines_{w}" for e in DECLINE_ENTITIES for w in DECLINE_WINDOWS)
_LOST_DISPUTE_NAMES = tuple(f"{e}_lost_disputes" for e in LOST_DISPUTE_ENTITIES)
_BLOCKED_NAMES = tuple((kind, f"blocked_{kind}") for kind in LIST_KINDS)
_NOTHING_BLOCKED = MappingProxyType({name: False for _, name in _BLOCKED_NAMES})


@dataclass(frozen=True, slots=True)
class Transaction:
    """What the risk engine sees of a payment (or of a dry-run request)."""

    merchant_id: str
    amount: Money
    card: CardSummary | None
    customer_id: str = ""
    customer_email: str = ""
    ip_address: str = ""
    ip_country: str = ""
    device_id: str = ""
    method: str = "card"
    """``card`` (submitted in full) or ``card_token`` (from the vault)."""
    merchant_initiated: bool = False
    """A charge under a mandate, without the customer present (no CVC, no device)."""

    def entity_values(self) -> dict[str, str]:
        """The velocity entities this transaction has, by entity name (empty ones left out)."""
        values = {
            "customer": self.customer_id,
            "email": self.customer_email.strip().lower(),
            "ip": self.ip_address,
            "device": self.device_id,
            "card": self.card.fingerprint if self.card else "",
        }
        return {name: value for name, value in values.items() if value}


@dataclass(frozen=True, slots=True)
class Velocity:
    """Counters read from Redis, BEFORE the transaction being scored.

    ``counters`` holds ``<entity>_count_<window>``, ``<entity>_sum_<window>``,
    ``<entity>_declines_<window>`` and ``<entity>_lost_disputes``; missing names count
    as zero.
    """

    counters: Mapping[str, int] = field(default_factory=dict)
    customer_tx_count: int = 0
    customer_amount_sum: int = 0
    available: bool = True
    """False when Redis could not be asked (scoring then fails open: zeros)."""


UNAVAILABLE = Velocity(available=False)


@dataclass(frozen=True, slots=True)
class MerchantLists:
    """A merchant's block and allow lists, by kind (``LIST_KINDS``); BINs match as prefixes."""

    blocked: Mapping[str, frozenset[str]] = field(default_factory=dict)
    allowed: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def _matches(self, entries: Mapping[str, frozenset[str]], kind: str, value: str) -> bool:
        if not value:
            return False
        values = entries.get(kind)
        if not values:
            return False
        if kind == "bin":
            return any(value.startswith(prefix) for prefix in values)
        return value in values

    def blocked_kinds(self, values: Mapping[str, str]) -> dict[str, bool]:
        """``blocked_<kind>`` for each list kind, given the transaction's value of each kind."""
        if not self.blocked:  # most merchants block nothing
            return dict(_NOTHING_BLOCKED)
        return {
            name: self._matches(self.blocked, kind, values.get(kind, ""))
            for kind, name in _BLOCKED_NAMES
        }

    def allows(self, values: Mapping[str, str]) -> bool:
        """Whether any of the transaction's values is on the allow list."""
        if not self.allowed:
            return False
        return any(self._matches(self.allowed, kind, values.get(kind, "")) for kind in LIST_KINDS)


NO_LISTS = MerchantLists()


@dataclass(frozen=True, slots=True)
class FeatureSettings:
    """What feature computation needs besides the transaction (from config and rules file)."""

    max_amount_minor: int
    review_amount_minor: int
    bin_countries: Mapping[str, str] = field(default_factory=dict)
    """BIN prefix -> ISO 3166 country of the issuer (longest prefix wins)."""


def compute_features(
    transaction: Transaction,
    velocity: Velocity,
    lists: MerchantLists,
    settings: FeatureSettings,
) -> dict[str, FeatureValue]:
    """Every feature of ``FEATURES`` for one transaction."""
    amount = transaction.amount.amount
    card = transaction.card
    entities = transaction.entity_values()
    email = entities.get("email", "")
    card_bin = card.bin if card else ""
    issuer = issuer_country(settings.bin_countries, card_bin)
    ip_country = transaction.ip_country.upper()
    history_count = velocity.customer_tx_count
    average = velocity.customer_amount_sum // history_count if history_count else 0
    features: dict[str, FeatureValue] = {
        "amount": amount,
        "currency": transaction.amount.currency,
        "method": transaction.method,
        "card_brand": card.brand if card else "",
        "card_bin": card_bin,
        "card_country": issuer,
        "ip_country": ip_country,
        "country_mismatch": bool(issuer and ip_country and issuer != ip_country),
        "email_domain": email.rpartition("@")[2] if "@" in email else "",
        "has_customer": "customer" in entities,
        "has_email": bool(email),
        "has_ip": "ip" in entities,
        "has_device": "device" in entities,
        "customer_first_seen": "customer" in entities and velocity.available and history_count == 0,
        "customer_tx_count": history_count,
        "customer_avg_amount": average,
        "amount_vs_customer_avg_pct": amount * 100 // average if average else 0,
        "over_amount_limit": amount > settings.max_amount_minor,
        "over_review_amount": amount > settings.review_amount_minor,
        "velocity_unavailable": not velocity.available,
        "merchant_initiated": transaction.merchant_initiated,
    }
    counters = velocity.counters
    for entity, names in _VELOCITY_NAMES:
        if entity in entities:
            for count, total in names:
                # The transaction being scored counts in its own windows.
                features[count] = counters.get(count, 0) + 1
                features[total] = counters.get(total, 0) + amount
        else:
            for count, total in names:
                features[count] = features[total] = 0
    for name in _DECLINE_NAMES + _LOST_DISPUTE_NAMES:
        features[name] = counters.get(name, 0)
    list_values = {
        "card_fingerprint": card.fingerprint if card else "",
        "email": email,
        "ip": entities.get("ip", ""),
        "device": entities.get("device", ""),
        "bin": card_bin,
        "customer": entities.get("customer", ""),
    }
    features.update(lists.blocked_kinds(list_values))
    features["allowlisted"] = lists.allows(list_values)
    return features
