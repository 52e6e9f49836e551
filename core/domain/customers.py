"""A merchant's customers (issue 20): the value, its commands and its rules (pure).

A customer is who pays: an email, a name, the merchant's metadata and the card
token it pays with by default. Payments reference a customer through their
free-text ``customer_id``: a value with the shape of a customer id (``cus_`` and
a ULID, ``names_customer``) must name a live customer of the merchant; any other
value stays the merchant's own reference, as it was before customers existed.
Card tokens carry a ``customer_id`` the same way (TokenizeCard); a token that
belongs to a customer pays only for that customer (``customer_paying_by_token``).

Deleting a customer erases what identifies a person (email, name, metadata, the
default payment method) and keeps the id and times, so that payments made
before still name something that existed; the deleted customer is not found
from then on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from core.domain import ids
from core.domain.errors import PaycoreError, Reason


def _frozen(metadata: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(metadata))


@dataclass(frozen=True, slots=True)
class Customer:
    """A customer of one merchant."""

    id: str
    merchant_id: str
    email: str
    name: str
    created_at: datetime
    updated_at: datetime
    metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    default_payment_method: str = ""
    """A card token (``tok_...``) of the same merchant; "" for none."""
    deleted: bool = False

    def __post_init__(self) -> None:
        # Frozen means frozen all the way down: the caller's dict may change later.
        object.__setattr__(self, "metadata", _frozen(self.metadata))


@dataclass(frozen=True, slots=True)
class CreateCustomer:
    """CreateCustomer, validated."""

    merchant_id: str
    email: str = ""
    name: str = ""
    metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    default_payment_method: str = ""


@dataclass(frozen=True, slots=True)
class UpdateCustomer:
    """UpdateCustomer, validated: None leaves a field as it is ("" clears a text field)."""

    merchant_id: str
    customer_id: str
    email: str | None = None
    name: str | None = None
    metadata: Mapping[str, str] | None = None
    default_payment_method: str | None = None


@dataclass(frozen=True, slots=True)
class CustomerQuery:
    """One ListCustomers page: newest first, after the cursor."""

    merchant_id: str
    page_size: int
    before_id: str = ""
    """Keyset cursor: customers with a smaller id (ids are time-ordered ULIDs); "" from the top."""
    email: str = ""
    """Only customers with exactly this email; "" for all."""


def new_customer(command: CreateCustomer, customer_id: str, at: datetime) -> Customer:
    """The customer ``command`` creates, as of ``at``."""
    return Customer(
        id=customer_id,
        merchant_id=command.merchant_id,
        email=command.email,
        name=command.name,
        metadata=command.metadata,
        default_payment_method=command.default_payment_method,
        created_at=at,
        updated_at=at,
    )


def updated(customer: Customer, command: UpdateCustomer, at: datetime) -> Customer:
    """``customer`` with the fields ``command`` names replaced, as of ``at``."""
    changes: dict[str, object] = {
        name: value
        for name in ("email", "name", "metadata", "default_payment_method")
        if (value := getattr(command, name)) is not None
    }
    return dataclasses.replace(customer, **changes, updated_at=at)  # type: ignore[arg-type]


def erased(customer: Customer, at: datetime) -> Customer:
    """``customer`` deleted: what identifies the person is gone, the id and times stay."""
    return dataclasses.replace(
        customer,
        email="",
        name="",
        metadata={},
        default_payment_method="",
        deleted=True,
        updated_at=at,
    )


def names_customer(customer_id: str) -> bool:
    """Whether a payment's ``customer_id`` is a reference to a customer (not free text).

    Only the exact shape of paycore's ids (``cus_`` and 26 base32 characters)
    counts, so merchants' own references, even ones that begin with ``cus_``
    (another provider's ids), keep meaning what they meant.
    """
    return ids.is_valid(ids.CUSTOMER, customer_id)


def customer_paying_by_token(customer_id: str, token_id: str, token_customer: str) -> str:
    """The customer of a payment (or a setup) by card token ``token_id``, as mandates decide it.

    ``customer_id``: the request's ("" takes the token's customer, as a
    payment under a mandate takes the mandate's); ``token_customer``: the
    token's ("" when it belongs to no one: it pays for any customer, as every
    token stored before tokens had customers). A token that belongs to a
    customer refuses to pay for another (FAILED_PRECONDITION,
    CARD_TOKEN_CUSTOMER_MISMATCH). Values compare exactly, free text too: the
    merchant's own reference for the token's owner is that owner.
    """
    if not token_customer:
        return customer_id
    if customer_id and customer_id != token_customer:
        raise PaycoreError(
            Reason.CARD_TOKEN_CUSTOMER_MISMATCH,
            token_id=token_id,
            token_customer=token_customer,
            customer_id=customer_id,
        )
    return token_customer
