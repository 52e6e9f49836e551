"""Customers (core/domain/customers.py) as their API message (customer_service.proto)."""

from __future__ import annotations

from core.domain.customers import Customer
from core.wire.convert import timestamp
from paycore.v1 import customer_service_pb2 as pb


def customer_to_proto(customer: Customer) -> pb.Customer:
    """A customer as CustomerService shows it."""
    return pb.Customer(
        id=customer.id,
        email=customer.email,
        name=customer.name,
        metadata=dict(customer.metadata),
        default_payment_method=customer.default_payment_method,
        create_time=timestamp(customer.created_at),
        update_time=timestamp(customer.updated_at),
    )
