"""The customer use cases (issue 20): CustomerService's create, get, update, list, delete.

Mutations are plans run by the request engine (core/service/execution.py):
once per request_id, their reply stored with the change. Everything is scoped
to the caller's merchant: another merchant's customer, or a deleted one, is
NOT_FOUND, and so is a default payment method that is not a card token of the
merchant. What a change does to a customer is decided by core/domain/customers.py.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from core.domain import customers as rules
from core.domain import ids
from core.domain.customers import CreateCustomer, Customer, CustomerQuery, UpdateCustomer
from core.domain.errors import NotFoundError, Reason
from core.gate import RequestGate, RpcClass
from core.ports.customers import CustomerReads
from core.ports.repository import PaymentTransaction, RequestKey
from core.service.execution import Encoder, Plan, Reply, RequestExecutor, RequestIdentity
from core.service.subscription_endings import end_customers_subscriptions


async def check_customer_reference(
    tx: PaymentTransaction, merchant_id: str, customer_id: str
) -> None:
    """A payment's or a wallet's ``customer_id``: a customer id must name a live customer.

    Refused (NOT_FOUND) when it does not; any other value is the merchant's free
    text and reads nothing (core/domain/customers.py, ``names_customer``).
    """
    if not rules.names_customer(customer_id):
        return
    if await tx.customers.find(merchant_id, customer_id) is None:
        raise NotFoundError(Reason.CUSTOMER_NOT_FOUND, customer_id=customer_id)


async def require_card_token(
    tx: PaymentTransaction, merchant_id: str, token_id: str, customer_id: str
) -> None:
    """Refuse ``token_id`` as a way ``customer_id`` pays ("" names no token: nothing to check).

    It must be one of the merchant's tokens (NOT_FOUND) and, if it belongs to a
    customer, to this one (``customer_paying_by_token``): a customer's default
    card or a subscription's card is charged for that customer, so another
    customer's card is refused when it is named, not at the first charge.
    """
    if not token_id:
        return
    stored = await tx.card_tokens.find(merchant_id, token_id)
    if stored is None:
        raise NotFoundError(Reason.CARD_TOKEN_NOT_FOUND, token_id=token_id)
    rules.customer_paying_by_token(customer_id, token_id, stored.token.customer_id)


class CustomerService:
    """A merchant's customers."""

    def __init__(
        self, *, executor: RequestExecutor, reads: CustomerReads, gate: RequestGate
    ) -> None:
        self._executor = executor
        self._reads = reads
        self._gate = gate

    # --- reads ----------------------------------------------------------------

    async def get_customer(self, merchant_id: str, customer_id: str) -> Customer:
        """One live customer of the merchant; NOT_FOUND otherwise."""
        await self._gate.admit(merchant_id, RpcClass.READS, None)
        customer = await self._reads.get_customer(merchant_id, customer_id)
        if customer is None:
            raise NotFoundError(Reason.CUSTOMER_NOT_FOUND, customer_id=customer_id)
        return customer

    async def list_customers(self, query: CustomerQuery) -> tuple[list[Customer], bool]:
        """A page of the merchant's live customers, newest first, and whether more follow."""
        await self._gate.admit(query.merchant_id, RpcClass.READS, None)
        # One more than the page: whether another page follows, without a count.
        rows = await self._reads.list_customers(
            dataclasses.replace(query, page_size=query.page_size + 1)
        )
        return rows[: query.page_size], len(rows) > query.page_size

    # --- writes ---------------------------------------------------------------

    async def create_customer(
        self, command: CreateCustomer, request: RequestIdentity, encoder: Encoder[Customer]
    ) -> Reply:
        """Create a customer (its default payment method, if any, a token of the merchant)."""
        customer_id = ids.new_id(ids.CUSTOMER)

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Customer]:
            await require_card_token(
                tx, command.merchant_id, command.default_payment_method, customer_id
            )
            customer = rules.new_customer(command, customer_id, at)
            await tx.customers.save(customer)
            return Plan(customer.id, result=customer)

        key = RequestKey(command.merchant_id, "CreateCustomer", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)

    async def update_customer(
        self, command: UpdateCustomer, request: RequestIdentity, encoder: Encoder[Customer]
    ) -> Reply:
        """Replace the fields the command names."""

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Customer]:
            customer = await self._locked(tx, command.merchant_id, command.customer_id)
            if command.default_payment_method is not None:
                await require_card_token(
                    tx, command.merchant_id, command.default_payment_method, customer.id
                )
            changed = rules.updated(customer, command, at)
            await tx.customers.save(changed)
            return Plan(changed.id, result=changed)

        key = RequestKey(command.merchant_id, "UpdateCustomer", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)

    async def delete_customer(
        self,
        merchant_id: str,
        customer_id: str,
        request: RequestIdentity,
        encoder: Encoder[Customer],
    ) -> Reply:
        """Delete a customer: erased and NOT_FOUND from then on (core/domain/customers.py),
        its subscriptions canceled at once (core/service/subscription_endings.py)."""

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Customer]:
            customer = await self._locked(tx, merchant_id, customer_id)
            gone = rules.erased(customer, at)
            await tx.customers.save(gone)
            await end_customers_subscriptions(tx, merchant_id, customer_id, at)
            return Plan(gone.id, result=gone)

        key = RequestKey(merchant_id, "DeleteCustomer", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)

    @staticmethod
    async def _locked(tx: PaymentTransaction, merchant_id: str, customer_id: str) -> Customer:
        customer = await tx.customers.lock(merchant_id, customer_id)
        if customer is None:
            raise NotFoundError(Reason.CUSTOMER_NOT_FOUND, customer_id=customer_id)
        return customer
