"""Fixtures of the subscription tests: the customers and card vault of the customer tests."""

from tests.customers.conftest import customer_stub, customers, vault

__all__ = ["customer_stub", "customers", "vault"]
