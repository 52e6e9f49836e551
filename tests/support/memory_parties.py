"""The in-memory repositories of the parties around a payment, over one ``MemoryState``.

Merchants and their settings, API keys, the audit trail, customers, mandates and
3-D Secure authentications: the ``PaymentTransaction`` members that
tests/support/memory_repository.py's ``MemoryTransaction`` gathers with its own.
"""

from __future__ import annotations

from datetime import datetime

from core.auth.keys import ApiKey, Merchant
from core.domain.audit import AuditRecord
from core.domain.customers import Customer
from core.domain.mandates import ChargeHistory, Mandate, MandateCharge
from core.domain.merchant_settings import MerchantSettings
from core.domain.payment import Payment
from tests.support.memory_state import MemoryState


class MemoryMerchants:
    """``Merchants``: merchants and their settings in one transaction."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def insert(self, merchant: Merchant) -> bool:
        """Store a new merchant; False when its id is taken."""
        if merchant.id in self._state.merchants:
            return False
        self._state.merchants[merchant.id] = merchant
        return True

    async def settings(self, merchant_id: str) -> MerchantSettings:
        """The merchant's settings (the defaults when never changed)."""
        found = self._state.merchant_settings.get(merchant_id)
        return found if found is not None else MerchantSettings(merchant_id)

    async def lock_settings(self, merchant_id: str) -> MerchantSettings:
        """The merchant's settings, for an update."""
        return await self.settings(merchant_id)

    async def save_settings(self, settings: MerchantSettings) -> None:
        """Store the merchant's settings."""
        self._state.merchant_settings[settings.merchant_id] = settings


class MemoryApiKeys:
    """``ApiKeys``: API keys in one transaction."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def insert(self, key: ApiKey, secret_hash: bytes) -> None:
        """Store a new key and its secret's hash."""
        self._state.keys[key.prefix] = (key, secret_hash)

    async def lock(self, prefix: str) -> ApiKey | None:
        """The key with ``prefix``."""
        found = self._state.keys.get(prefix)
        return None if found is None else found[0]

    async def save(self, key: ApiKey) -> None:
        """Store a key's expiry, revocation and successor (its hash stays)."""
        _, secret_hash = self._state.keys[key.prefix]
        self._state.keys[key.prefix] = (key, secret_hash)


class MemoryAuditTrail:
    """``AuditTrail``: the audit trail in one transaction."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def record(self, record: AuditRecord) -> None:
        """Append an admin action."""
        self._state.audit.append(record)


class MemoryCustomers:
    """``Customers``: the merchant's customers in one transaction."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def lock(self, merchant_id: str, customer_id: str) -> Customer | None:
        """A live customer (the transaction holds the repository's lock already)."""
        return await self.find(merchant_id, customer_id)

    async def find(self, merchant_id: str, customer_id: str) -> Customer | None:
        """A live customer of the merchant."""
        customer = self._state.customers.get((merchant_id, customer_id))
        return None if customer is None or customer.deleted else customer

    async def save(self, customer: Customer) -> None:
        """Store a new customer or replace an existing one."""
        self._state.customers[(customer.merchant_id, customer.id)] = customer


class MemoryMandates:
    """``Mandates``: the merchant's mandates and their charges in one transaction."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def lock(self, merchant_id: str, mandate_id: str) -> Mandate | None:
        """A mandate of the merchant (the transaction holds the repository's lock already)."""
        return self._state.mandates.get((merchant_id, mandate_id))

    async def save(self, mandate: Mandate) -> None:
        """Store a new mandate or replace an existing one."""
        self._state.mandates[(mandate.merchant_id, mandate.id)] = mandate

    async def history(
        self, merchant_id: str, mandate_id: str, window_start: datetime | None
    ) -> ChargeHistory:
        """The first charge under the mandate and how many since ``window_start``."""
        made = [
            (payment_id, at)
            for merchant, mandate, payment_id, at in self._state.mandate_charges
            if (merchant, mandate) == (merchant_id, mandate_id)
        ]
        in_window = sum(1 for _, at in made if window_start is not None and at > window_start)
        return ChargeHistory(made[0][0] if made else "", in_window)

    async def record_charge(
        self, merchant_id: str, mandate_id: str, payment_id: str, at: datetime
    ) -> None:
        """Note a payment made under the mandate."""
        self._state.mandate_charges.append((merchant_id, mandate_id, payment_id, at))

    async def charge_of(self, merchant_id: str, payment_id: str) -> MandateCharge | None:
        """The mandate a payment was charged under, as its charge."""
        for merchant, mandate_id, charged, _ in self._state.mandate_charges:
            if (merchant, charged) == (merchant_id, payment_id):
                mandate = self._state.mandates[(merchant, mandate_id)]
                return MandateCharge(
                    mandate.id, mandate.customer_id, mandate.card_token, mandate.agreement_id
                )
        return None


class MemoryAuthentications:
    """``Authentications``: results live on the payments; challenges' card tokens here."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def save(self, payment: Payment, card_token: str = "") -> None:
        """Keep the card token of a challenge when it opens (the result is on the payment)."""
        self._state.challenge_cards.setdefault((payment.merchant_id, payment.id), card_token)
