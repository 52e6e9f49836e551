"""The fee schedule: what paycore charges a merchant per captured payment (pure).

A fee is ``fixed_minor + amount * bps / 10000``, rounded half up to the minor
unit, per payment method (``card``, ``wallet``...). Defaults come from the
configuration (one rule for every method); a merchant may have its own
rules per method (ledger_fee_rules table), which replace the default. Refunds do not return fees, as
with Stripe and Adyen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_DISPUTE_FEE_MINOR = 1500
"""The dispute fee (config ``ledger.dispute_fee_minor``): charged when a chargeback opens, in
minor units of its currency, kept whatever the outcome (as Stripe's 15.00 USD)."""

FEE_METHODS = ("card", "bank_transfer", "wallet", "redirect_wallet", "qr_wallet", "other")
"""The methods a fee rule can name: what a capture's journal transaction records as its
method (core/ledger/postings.py): ``card``, ``bank_transfer``, ``wallet`` (PayFromWallet),
``redirect_wallet`` and ``qr_wallet`` (a third-party wallet's page), ``other``."""


@dataclass(frozen=True, slots=True)
class FeeRule:
    """Basis points of the amount plus a fixed amount in minor units."""

    bps: int = 0
    fixed_minor: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.bps <= 10_000 and self.fixed_minor >= 0):
            raise ValueError("a fee rule needs 0 <= bps <= 10000 and fixed_minor >= 0")

    def fee(self, amount: int) -> int:
        """The fee on a capture of ``amount`` minor units (half up; never more than the amount)."""
        variable = (amount * self.bps + 5_000) // 10_000
        return min(amount, self.fixed_minor + variable)


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """A merchant's rules per method; ``default`` (the configuration's) for other methods."""

    default: FeeRule = FeeRule()
    merchant: Mapping[str, FeeRule] = field(default_factory=dict)

    def rule(self, method: str) -> FeeRule:
        """The rule for ``method``."""
        return self.merchant.get(method) or self.default

    def fee(self, method: str, amount: int) -> int:
        """The fee on a capture of ``amount`` paid by ``method``."""
        return self.rule(method).fee(amount)
