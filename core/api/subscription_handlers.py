"""The SubscriptionService RPCs (issue 20): validate, call the use case, convert the answer.

Every RPC runs through the pipeline of ``core.api.pipeline``; validation is
``core.api.requests.subscriptions``, the messages ``core.wire.subscriptions``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import grpc
from google.protobuf.message import Message

from core.api.identity import Caller, IdentityResolver
from core.api.pipeline import Handler, service_handler
from core.api.requests import subscriptions as validation
from core.api.requests.fingerprint import request_identity
from core.api.requests.pages import encode_cursor
from core.api.status import encode_error
from core.domain.subscriptions import Price, Subscription
from core.service.execution import Encoder, Reply, RequestIdentity
from core.service.subscriptions import SubscriptionService
from core.telemetry import Telemetry
from core.wire.convert import timestamp
from core.wire.subscriptions import invoice_to_proto, price_to_proto, subscription_to_proto
from paycore.v1 import subscription_service_pb2 as pb

SERVICE_NAME = "paycore.v1.SubscriptionService"


def _bytes(message: Message) -> bytes:
    return message.SerializeToString(deterministic=True)


def _subscription_reply(response: Callable[..., Message]) -> Encoder[Subscription]:
    return Encoder(
        success=lambda s: _bytes(response(subscription=subscription_to_proto(s))),
        failure=encode_error,
    )


_PRICE: Encoder[Price] = Encoder(
    success=lambda p: _bytes(pb.CreatePriceResponse(price=price_to_proto(p))),
    failure=encode_error,
)
_CREATE = _subscription_reply(pb.CreateSubscriptionResponse)
_UPDATE = _subscription_reply(pb.UpdateSubscriptionResponse)
_CANCEL = _subscription_reply(pb.CancelSubscriptionResponse)
_PAUSE = _subscription_reply(pb.PauseSubscriptionResponse)
_RESUME = _subscription_reply(pb.ResumeSubscriptionResponse)
_CLOCK: Encoder[datetime] = Encoder(
    success=lambda at: _bytes(pb.AdvanceTestClockResponse(now=timestamp(at))),
    failure=encode_error,
)


class SubscriptionHandlers:
    """One method per SubscriptionService RPC."""

    def __init__(self, service: SubscriptionService, secret: bytes) -> None:
        self._service = service
        self._secret = secret  # keys request fingerprints, signs page tokens

    def _identity(self, request: Any) -> RequestIdentity:
        return request_identity(request, self._secret)

    async def create_price(self, caller: Caller, request: pb.CreatePriceRequest) -> Reply:
        command = validation.create_price(caller.merchant_id, request)
        return await self._service.create_price(command, self._identity(request), _PRICE)

    async def create_subscription(
        self, caller: Caller, request: pb.CreateSubscriptionRequest
    ) -> Reply:
        command = validation.create_subscription(caller.merchant_id, request)
        return await self._service.create_subscription(command, self._identity(request), _CREATE)

    async def get_price(self, caller: Caller, request: pb.GetPriceRequest) -> pb.GetPriceResponse:
        price = await self._service.get_price(caller.merchant_id, validation.price_id_of(request))
        return pb.GetPriceResponse(price=price_to_proto(price))

    async def list_prices(
        self, caller: Caller, request: pb.ListPricesRequest
    ) -> pb.ListPricesResponse:
        query = validation.list_prices(caller.merchant_id, request, self._secret)
        prices, more = await self._service.list_prices(query)
        token = ""
        if more and prices:
            token = encode_cursor(
                prices[-1].id, self._secret, validation.list_prices_scope(caller.merchant_id)
            )
        return pb.ListPricesResponse(
            prices=[price_to_proto(p) for p in prices], next_page_token=token
        )

    async def get_subscription(
        self, caller: Caller, request: pb.GetSubscriptionRequest
    ) -> pb.GetSubscriptionResponse:
        subscription_id = validation.subscription_id_of(request)
        subscription = await self._service.get_subscription(caller.merchant_id, subscription_id)
        return pb.GetSubscriptionResponse(subscription=subscription_to_proto(subscription))

    async def list_subscriptions(
        self, caller: Caller, request: pb.ListSubscriptionsRequest
    ) -> pb.ListSubscriptionsResponse:
        query = validation.list_subscriptions(caller.merchant_id, request, self._secret)
        subscriptions, more = await self._service.list_subscriptions(query)
        token = ""
        if more and subscriptions:
            scope = validation.list_subscriptions_scope(caller.merchant_id, request)
            token = encode_cursor(subscriptions[-1].id, self._secret, scope)
        return pb.ListSubscriptionsResponse(
            subscriptions=[subscription_to_proto(s) for s in subscriptions],
            next_page_token=token,
        )

    async def update_subscription(
        self, caller: Caller, request: pb.UpdateSubscriptionRequest
    ) -> Reply:
        command = validation.update_subscription(caller.merchant_id, request)
        return await self._service.update_subscription(command, self._identity(request), _UPDATE)

    async def cancel_subscription(
        self, caller: Caller, request: pb.CancelSubscriptionRequest
    ) -> Reply:
        target = (caller.merchant_id, validation.subscription_id_of(request))
        return await self._service.cancel_subscription(
            target, request.at_period_end, self._identity(request), _CANCEL
        )

    async def pause_subscription(
        self, caller: Caller, request: pb.PauseSubscriptionRequest
    ) -> Reply:
        target = (caller.merchant_id, validation.subscription_id_of(request))
        return await self._service.pause_or_resume(target, True, self._identity(request), _PAUSE)

    async def resume_subscription(
        self, caller: Caller, request: pb.ResumeSubscriptionRequest
    ) -> Reply:
        target = (caller.merchant_id, validation.subscription_id_of(request))
        identity = self._identity(request)
        return await self._service.pause_or_resume(target, False, identity, _RESUME)

    async def list_invoices(
        self, caller: Caller, request: pb.ListInvoicesRequest
    ) -> pb.ListInvoicesResponse:
        query = validation.list_invoices(caller.merchant_id, request, self._secret)
        invoices, more = await self._service.list_invoices(query)
        token = ""
        if more and invoices:
            scope = validation.list_invoices_scope(caller.merchant_id, request)
            token = encode_cursor(invoices[-1].id, self._secret, scope)
        return pb.ListInvoicesResponse(
            invoices=[invoice_to_proto(i) for i in invoices], next_page_token=token
        )

    async def get_membership_status(
        self, caller: Caller, request: pb.GetMembershipStatusRequest
    ) -> pb.GetMembershipStatusResponse:
        subscription_id, customer_id = validation.membership_of(request)
        merchant_id = caller.merchant_id
        if subscription_id:
            found: Subscription | None = await self._service.get_subscription(
                merchant_id, subscription_id
            )
        else:
            found = await self._service.membership(merchant_id, customer_id)
        if found is None:  # a customer without subscriptions: not a member
            return pb.GetMembershipStatusResponse(active=False)
        message = subscription_to_proto(found)
        return pb.GetMembershipStatusResponse(
            active=message.active,
            status=message.status,
            current_period_end=message.current_period_end,
            subscription_id=found.id,
        )

    async def advance_test_clock(
        self, caller: Caller, request: pb.AdvanceTestClockRequest
    ) -> Reply:
        to_time = validation.advance_test_clock(request)
        return await self._service.advance_test_clock(
            caller.merchant_id, to_time, self._identity(request), _CLOCK
        )


def generic_handler(
    handlers: SubscriptionHandlers, identity: IdentityResolver, telemetry: Telemetry | None = None
) -> grpc.GenericRpcHandler[Any, Any]:
    """The SubscriptionService method table for a grpc.aio server."""
    h = handlers
    table: dict[str, tuple[type[Message], Handler]] = {
        "CreatePrice": (pb.CreatePriceRequest, h.create_price),
        "CreateSubscription": (pb.CreateSubscriptionRequest, h.create_subscription),
        "GetPrice": (pb.GetPriceRequest, h.get_price),
        "ListPrices": (pb.ListPricesRequest, h.list_prices),
        "GetSubscription": (pb.GetSubscriptionRequest, h.get_subscription),
        "ListSubscriptions": (pb.ListSubscriptionsRequest, h.list_subscriptions),
        "UpdateSubscription": (pb.UpdateSubscriptionRequest, h.update_subscription),
        "CancelSubscription": (pb.CancelSubscriptionRequest, h.cancel_subscription),
        "PauseSubscription": (pb.PauseSubscriptionRequest, h.pause_subscription),
        "ResumeSubscription": (pb.ResumeSubscriptionRequest, h.resume_subscription),
        "ListInvoices": (pb.ListInvoicesRequest, h.list_invoices),
        "GetMembershipStatus": (pb.GetMembershipStatusRequest, h.get_membership_status),
        "AdvanceTestClock": (pb.AdvanceTestClockRequest, h.advance_test_clock),
    }
    return service_handler(
        pb.DESCRIPTOR.services_by_name["SubscriptionService"], table, identity, telemetry
    )
