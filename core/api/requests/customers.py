"""CustomerService requests -> validated commands (core/domain/customers.py)."""

from __future__ import annotations

from collections.abc import Mapping

from core.api.requests import fields
from core.api.requests.pages import cursor_page
from core.domain import ids
from core.domain.customers import CreateCustomer, CustomerQuery, UpdateCustomer
from core.domain.errors import ViolationCollector
from paycore.v1 import customer_service_pb2 as pb

MAX_NAME = 255


def _customer_id(v: ViolationCollector, value: str) -> None:
    if not value:
        v.add("customer_id", "required")
    elif not ids.is_valid(ids.CUSTOMER, value):
        v.add("customer_id", "must be a customer id: cus_ followed by 26 base32 characters")


def _email(v: ViolationCollector, value: str) -> None:
    # "" is no email; anything else must look like an address.
    if value and not fields.is_email(value):
        v.add("email", f"must be an email address of at most {fields.MAX_EMAIL} characters")
    else:
        fields.text(v, "email", value, fields.MAX_EMAIL)


def _customer_fields(
    v: ViolationCollector, request: pb.CreateCustomerRequest | pb.UpdateCustomerRequest
) -> Mapping[str, str]:
    """Check what a create or an update may set; returns the metadata, frozen."""
    _email(v, request.email)
    fields.text(v, "name", request.name, MAX_NAME)
    if request.default_payment_method:  # "" is none
        fields.token_id(v, "default_payment_method", request.default_payment_method)
    return fields.metadata(v, "metadata", request.metadata)


def create_customer(merchant_id: str, request: pb.CreateCustomerRequest) -> CreateCustomer:
    """Validate a CreateCustomerRequest, every bad field at once."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    metadata = _customer_fields(v, request)
    v.raise_if_any()
    return CreateCustomer(
        merchant_id,
        email=request.email,
        name=request.name,
        metadata=metadata,
        default_payment_method=request.default_payment_method,
    )


def update_customer(merchant_id: str, request: pb.UpdateCustomerRequest) -> UpdateCustomer:
    """Validate an UpdateCustomerRequest; an empty mask means every field that is set."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    _customer_id(v, request.customer_id)
    paths = fields.update_paths(
        v,
        request.update_mask.paths,
        {
            "email": bool(request.email),
            "name": bool(request.name),
            "metadata": bool(request.metadata),
            "default_payment_method": bool(request.default_payment_method),
        },
    )
    metadata = _customer_fields(v, request)
    v.raise_if_any()
    return UpdateCustomer(
        merchant_id,
        request.customer_id,
        email=request.email if "email" in paths else None,
        name=request.name if "name" in paths else None,
        metadata=metadata if "metadata" in paths else None,
        default_payment_method=(
            request.default_payment_method if "default_payment_method" in paths else None
        ),
    )


def customer_id_of(request: pb.GetCustomerRequest | pb.DeleteCustomerRequest) -> str:
    """Validate a request naming one customer (and, for Delete, its request_id)."""
    v = ViolationCollector()
    if isinstance(request, pb.DeleteCustomerRequest):
        fields.request_id(v, request.request_id)
    _customer_id(v, request.customer_id)
    v.raise_if_any()
    return request.customer_id


def list_scope(merchant_id: str, request: pb.ListCustomersRequest) -> str:
    """What a ListCustomers page token is valid for: this merchant and these filters."""
    return f"ListCustomers:{merchant_id}:{request.email}"


def list_customers(merchant_id: str, request: pb.ListCustomersRequest, key: bytes) -> CustomerQuery:
    """Validate a ListCustomersRequest; its page token must be one paycore issued for it."""
    v = ViolationCollector()
    if request.email:
        _email(v, request.email)
    v.raise_if_any()
    size, before = cursor_page(
        request.page_size, request.page_token, key, list_scope(merchant_id, request)
    )
    return CustomerQuery(merchant_id, size, before_id=before, email=request.email)
