"""The authenticated caller of one RPC, as handlers see it (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from core.auth.policy import Role
from core.domain.audit import Actor


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling and for which merchant.

    ``merchant_id`` is the merchant the call acts for: the key's own merchant,
    or, for a platform (superadmin) key, the merchant it names in the
    ``x-paycore-merchant-id`` metadata ("" when it names none; merchant-scoped
    RPCs then refuse the call before any handler runs).
    """

    merchant_id: str
    role: Role = Role.MERCHANT
    key_id: str | None = None
    """The prefix of the API key that authenticated the call."""
    raw_card_data_allowed: bool = False
    """Whether the merchant may send full card numbers outside TokenizeCard."""
    key_merchant_id: str | None = None
    """The merchant the key itself belongs to (None for a platform key)."""

    @property
    def actor(self) -> Actor:
        """The caller as an audit actor."""
        return Actor(role=self.role.label, key_id=self.key_id, merchant_id=self.key_merchant_id)
