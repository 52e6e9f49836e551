"""The CustomerService RPCs (issue 20): validate, call the use case, convert the answer.

Every RPC runs through the pipeline of ``core.api.pipeline``; validation is
``core.api.requests.customers``, the messages ``core.wire.customers``.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.message import Message

from core.api.identity import Caller, IdentityResolver
from core.api.pipeline import Handler, service_handler
from core.api.requests import customers as validation
from core.api.requests.fingerprint import request_identity
from core.api.requests.pages import encode_cursor
from core.api.status import encode_error
from core.domain.customers import Customer
from core.service.customers import CustomerService
from core.service.execution import Encoder, Reply, RequestIdentity
from core.telemetry import Telemetry
from core.wire.customers import customer_to_proto
from paycore.v1 import customer_service_pb2 as pb

SERVICE_NAME = "paycore.v1.CustomerService"


def _bytes(message: Message) -> bytes:
    return message.SerializeToString(deterministic=True)


_CREATE: Encoder[Customer] = Encoder(
    success=lambda c: _bytes(pb.CreateCustomerResponse(customer=customer_to_proto(c))),
    failure=encode_error,
)
_UPDATE: Encoder[Customer] = Encoder(
    success=lambda c: _bytes(pb.UpdateCustomerResponse(customer=customer_to_proto(c))),
    failure=encode_error,
)
_DELETE: Encoder[Customer] = Encoder(
    success=lambda _: _bytes(pb.DeleteCustomerResponse()), failure=encode_error
)


class CustomerHandlers:
    """One method per CustomerService RPC."""

    def __init__(self, service: CustomerService, secret: bytes) -> None:
        self._service = service
        self._secret = secret  # keys request fingerprints, signs page tokens

    def _identity(self, request: Any) -> RequestIdentity:
        return request_identity(request, self._secret)

    async def create_customer(self, caller: Caller, request: pb.CreateCustomerRequest) -> Reply:
        command = validation.create_customer(caller.merchant_id, request)
        return await self._service.create_customer(command, self._identity(request), _CREATE)

    async def get_customer(
        self, caller: Caller, request: pb.GetCustomerRequest
    ) -> pb.GetCustomerResponse:
        customer_id = validation.customer_id_of(request)
        customer = await self._service.get_customer(caller.merchant_id, customer_id)
        return pb.GetCustomerResponse(customer=customer_to_proto(customer))

    async def update_customer(self, caller: Caller, request: pb.UpdateCustomerRequest) -> Reply:
        command = validation.update_customer(caller.merchant_id, request)
        return await self._service.update_customer(command, self._identity(request), _UPDATE)

    async def list_customers(
        self, caller: Caller, request: pb.ListCustomersRequest
    ) -> pb.ListCustomersResponse:
        query = validation.list_customers(caller.merchant_id, request, self._secret)
        customers, more = await self._service.list_customers(query)
        token = ""
        if more and customers:
            scope = validation.list_scope(caller.merchant_id, request)
            token = encode_cursor(customers[-1].id, self._secret, scope)
        return pb.ListCustomersResponse(
            customers=[customer_to_proto(c) for c in customers], next_page_token=token
        )

    async def delete_customer(self, caller: Caller, request: pb.DeleteCustomerRequest) -> Reply:
        customer_id = validation.customer_id_of(request)
        return await self._service.delete_customer(
            caller.merchant_id, customer_id, self._identity(request), _DELETE
        )


def generic_handler(
    handlers: CustomerHandlers, identity: IdentityResolver, telemetry: Telemetry | None = None
) -> grpc.GenericRpcHandler[Any, Any]:
    """The CustomerService method table for a grpc.aio server."""
    table: dict[str, tuple[type[Message], Handler]] = {
        "CreateCustomer": (pb.CreateCustomerRequest, handlers.create_customer),
        "GetCustomer": (pb.GetCustomerRequest, handlers.get_customer),
        "UpdateCustomer": (pb.UpdateCustomerRequest, handlers.update_customer),
        "ListCustomers": (pb.ListCustomersRequest, handlers.list_customers),
        "DeleteCustomer": (pb.DeleteCustomerRequest, handlers.delete_customer),
    }
    return service_handler(
        pb.DESCRIPTOR.services_by_name["CustomerService"], table, identity, telemetry
    )
