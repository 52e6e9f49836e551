"""PaycoreClient: paycore's API (payments, card vault, customers, mandates, disputes,
subscriptions, settings) over a blocking gRPC channel.

Why one file over ~400 lines: the client is one object for the whole API, as
httpx's Client is, and every method is a few lines that hand a request built by
_requests.py or _subscriptions.py to ``_call``; splitting the class by service
would scatter one short pattern over several files. It mirrors _async.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Self, TypeVar, Unpack

import grpc
from google.type.money_pb2 import Money

from paycore.v1 import (
    card_vault_service_pb2_grpc,
    customer_service_pb2_grpc,
    dispute_service_pb2_grpc,
    mandate_service_pb2_grpc,
    merchant_settings_service_pb2_grpc,
    payment_service_pb2_grpc,
    subscription_service_pb2_grpc,
)
from paycore.v1 import customer_service_pb2 as customer_pb
from paycore.v1 import dispute_service_pb2 as dispute_pb
from paycore.v1 import mandate_service_pb2 as mandate_pb
from paycore.v1 import merchant_settings_service_pb2 as settings_pb
from paycore.v1 import payment_service_pb2 as pb
from paycore.v1 import subscription_pb2 as sub_pb
from paycore.v1 import subscription_service_pb2 as subs_pb
from paycore.v1.card_vault_service_pb2 import CardToken
from paycore.v1.dispute_pb2 import Dispute
from paycore.v1.payment_pb2 import Payment, PaymentMethodData, Refund

from . import _requests as build
from . import _subscriptions as subs
from ._call_options import CallOptions
from ._retry import DEFAULT_RETRY_POLICY, Backoff, RetryPolicy

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")


class PaycoreClient:
    """A blocking client of paycore's PaymentService, for one merchant.

    Every method retries what may succeed later (see RetryPolicy) with the same
    request_id, and raises a PaycoreError subclass for anything else. Use it as
    a context manager, or call ``close()``, to release the channel.

    Args:
        target: paycore's address, e.g. "localhost:50051".
        api_key: The API key paycore issued (``pck_...``); sent as
            ``authorization: Bearer <key>`` on every call.
        merchant_id: Only with a platform (superadmin) key: the merchant every
            call acts for (1 to 64 letters, digits, ``_`` or ``-``).
        credentials: TLS credentials; None for a plaintext channel.
        retry: When and how patiently failed calls are repeated.
        timeout: Deadline of each attempt, in seconds.
        channel: A channel to use instead of opening one to ``target``; the
            client does not close a channel it was given.
    """

    def __init__(
        self,
        target: str,
        *,
        api_key: str,
        merchant_id: str | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        retry: RetryPolicy = DEFAULT_RETRY_POLICY,
        timeout: float = 10.0,
        channel: grpc.Channel | None = None,
    ) -> None:
        self._options = CallOptions.build(
            api_key=api_key, merchant_id=merchant_id, timeout=timeout, retry=retry
        )
        self._owns_channel = channel is None
        if channel is None:
            channel = (
                grpc.insecure_channel(target)
                if credentials is None
                else grpc.secure_channel(target, credentials)
            )
        self._channel = channel
        self._stub = payment_service_pb2_grpc.PaymentServiceStub(channel)
        self._vault = card_vault_service_pb2_grpc.CardVaultServiceStub(channel)
        self._customers = customer_service_pb2_grpc.CustomerServiceStub(channel)
        self._mandates = mandate_service_pb2_grpc.MandateServiceStub(channel)
        self._disputes = dispute_service_pb2_grpc.DisputeServiceStub(channel)
        self._subscriptions = subscription_service_pb2_grpc.SubscriptionServiceStub(channel)
        self._settings_stub = merchant_settings_service_pb2_grpc.MerchantSettingsServiceStub(
            channel
        )

    def close(self) -> None:
        """Close the channel the client opened; calls in flight are cancelled."""
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(
        self, method: grpc.UnaryUnaryMultiCallable[_Request, _Response], request: _Request
    ) -> _Response:
        options = self._options
        backoff = Backoff(options.retry)
        while True:
            try:
                return method(request, timeout=options.timeout, metadata=options.metadata)
            except grpc.RpcError as exc:
                delay = backoff.after_failure(exc)
            time.sleep(delay)

    def create_payment(
        self, *, amount: Money, **options: Unpack[build.CreatePaymentOptions]
    ) -> Payment:
        """Create a payment and, unless confirmation is manual, authorize it.

        Returns the committed Payment; a decline is not an error but a Payment
        in STATE_DECLINED with ``failure`` set. See CreatePaymentOptions.
        """
        request = build.create_payment(amount, options)
        return self._call(self._stub.CreatePayment, request).payment

    def get_payment(self, payment_id: str) -> Payment:
        """Return one payment of the merchant; NotFoundError if there is none."""
        return self._call(self._stub.GetPayment, build.get_payment(payment_id)).payment

    def list_payments(
        self, *, page_size: int = 0, page_token: str = "", **filters: Unpack[build.PaymentFilters]
    ) -> pb.ListPaymentsResponse:
        """Return one page (``page_size`` 0 to 100, 0 meaning 20) of payments, newest first.

        ``iter_payments`` follows ``next_page_token`` for you.
        """
        request = build.list_payments(page_size, page_token, filters)
        return self._call(self._stub.ListPayments, request)

    def iter_payments(
        self, *, page_size: int = 0, **filters: Unpack[build.PaymentFilters]
    ) -> Iterator[Payment]:
        """Yield every matching payment, newest first, fetching page after page."""
        request: pb.ListPaymentsRequest | None = build.list_payments(page_size, "", filters)
        while request is not None:
            response = self._call(self._stub.ListPayments, request)
            yield from response.payments
            request = build.next_page(request, response)

    def update_payment(
        self, payment_id: str, **options: Unpack[build.UpdatePaymentOptions]
    ) -> Payment:
        """Change exactly the fields given; return the changed Payment."""
        request = build.update_payment(payment_id, options)
        return self._call(self._stub.UpdatePayment, request).payment

    def confirm_payment(
        self,
        payment_id: str,
        *,
        payment_method: PaymentMethodData,
        **options: Unpack[build.ConfirmPaymentOptions],
    ) -> Payment:
        """Authorize a payment created with manual confirmation; return the Payment."""
        request = build.confirm_payment(payment_id, payment_method, options)
        return self._call(self._stub.ConfirmPayment, request).payment

    def capture_payment(
        self, payment_id: str, **options: Unpack[build.CapturePaymentOptions]
    ) -> Payment:
        """Capture an authorized payment, all of it or ``amount``; return the Payment."""
        request = build.capture_payment(payment_id, options)
        return self._call(self._stub.CapturePayment, request).payment

    def cancel_payment(
        self, payment_id: str, **options: Unpack[build.CancelPaymentOptions]
    ) -> Payment:
        """Cancel (void) a payment that is not captured yet; return the Payment."""
        request = build.cancel_payment(payment_id, options)
        return self._call(self._stub.CancelPayment, request).payment

    def verify_payment_code(
        self, payment_id: str, code: str, **options: Unpack[build.WriteOptions]
    ) -> Payment:
        """Submit the one-time code the customer entered (``next_action.verify_code``).

        Returns the Payment: captured on the right code, still waiting with one
        attempt fewer on a wrong one, declined after the last wrong one.
        """
        request = build.verify_payment_code(payment_id, code, options)
        return self._call(self._stub.VerifyPaymentCode, request).payment

    def refund_payment(
        self, payment_id: str, **options: Unpack[build.RefundPaymentOptions]
    ) -> pb.RefundPaymentResponse:
        """Refund a captured payment, all that is left or ``amount``.

        Returns the RefundPaymentResponse: the new ``refund`` and the
        ``payment`` after it.
        """
        request = build.refund_payment(payment_id, options)
        return self._call(self._stub.RefundPayment, request)

    def tokenize_card(
        self, card: PaymentMethodData, **options: Unpack[build.TokenizeCardOptions]
    ) -> CardToken:
        """Store a card in paycore's vault; pay with ``card_token(token.id)`` afterwards.

        ``card`` is ``card(number, exp_month, exp_year, cvc=...)``. This is the
        one call that sends a full card number (unless the merchant is allowed
        raw card data); the CVC is checked and never stored. ``customer_id``:
        whom the card belongs to (it then pays for that customer only).
        """
        request = build.tokenize_card(card, options)
        return (self._call(self._vault.TokenizeCard, request)).token

    # Refund review. Approving, rejecting and settings need a key with the
    # admin role; a merchant key gets PermissionDeniedError.

    def list_refunds(
        self, *, page_size: int = 0, page_token: str = "", **filters: Unpack[build.RefundFilters]
    ) -> pb.ListRefundsResponse:
        """Return one page (``page_size`` 0 to 100, 0 meaning 20) of refunds, newest first.

        ``states=[Refund.STATE_PENDING_REVIEW]`` lists the review queue;
        ``iter_refunds`` follows ``next_page_token`` for you.
        """
        request = build.list_refunds(page_size, page_token, filters)
        return self._call(self._stub.ListRefunds, request)

    def iter_refunds(
        self, *, page_size: int = 0, **filters: Unpack[build.RefundFilters]
    ) -> Iterator[Refund]:
        """Yield every matching refund, newest first, fetching page after page."""
        request: pb.ListRefundsRequest | None = build.list_refunds(page_size, "", filters)
        while request is not None:
            response = self._call(self._stub.ListRefunds, request)
            yield from response.refunds
            request = build.next_page(request, response)

    def approve_refund(
        self, refund_id: str, **options: Unpack[build.WriteOptions]
    ) -> pb.ApproveRefundResponse:
        """Approve a refund held for review: it is sent to the channel.

        Returns the ApproveRefundResponse: the ``refund`` (SUCCEEDED or
        FAILED) and the ``payment`` after it.
        """
        request = build.approve_refund(refund_id, options)
        return self._call(self._stub.ApproveRefund, request)

    def reject_refund(
        self, refund_id: str, **options: Unpack[build.RejectRefundOptions]
    ) -> pb.RejectRefundResponse:
        """Reject a refund held for review: REJECTED, never sent, its amount freed."""
        request = build.reject_refund(refund_id, options)
        return self._call(self._stub.RejectRefund, request)

    def get_merchant_settings(self) -> settings_pb.MerchantSettings:
        """Return the merchant's settings (the defaults if never changed)."""
        request = settings_pb.GetMerchantSettingsRequest()
        return self._call(self._settings_stub.GetMerchantSettings, request).settings

    def update_merchant_settings(
        self, **options: Unpack[build.MerchantSettingsOptions]
    ) -> settings_pb.MerchantSettings:
        """Replace exactly the settings given; return the settings after the change."""
        request = build.update_merchant_settings(options)
        return self._call(self._settings_stub.UpdateMerchantSettings, request).settings

    # Customers (CustomerService): a customer's id (cus_...) in create_payment's
    # customer_id names that customer.

    def create_customer(self, **options: Unpack[build.CustomerOptions]) -> customer_pb.Customer:
        """Create a customer; see CustomerOptions."""
        request = build.create_customer(options)
        return self._call(self._customers.CreateCustomer, request).customer

    def get_customer(self, customer_id: str) -> customer_pb.Customer:
        """Return one customer of the merchant; NotFoundError if there is none."""
        request = customer_pb.GetCustomerRequest(customer_id=customer_id)
        return self._call(self._customers.GetCustomer, request).customer

    def update_customer(
        self, customer_id: str, **options: Unpack[build.CustomerOptions]
    ) -> customer_pb.Customer:
        """Change exactly the fields given; return the changed Customer."""
        request = build.update_customer(customer_id, options)
        return self._call(self._customers.UpdateCustomer, request).customer

    def delete_customer(self, customer_id: str, **options: Unpack[build.WriteOptions]) -> None:
        """Delete a customer: erased, and NotFoundError from then on."""
        request = build.delete_customer(customer_id, options)
        self._call(self._customers.DeleteCustomer, request)

    def list_customers(
        self, *, page_size: int = 0, page_token: str = "", email: str = ""
    ) -> customer_pb.ListCustomersResponse:
        """Return one page (``page_size`` 0 to 100, 0 meaning 20) of customers, newest first."""
        request = customer_pb.ListCustomersRequest(
            page_size=page_size, page_token=page_token, email=email
        )
        return self._call(self._customers.ListCustomers, request)

    def iter_customers(
        self, *, page_size: int = 0, email: str = ""
    ) -> Iterator[customer_pb.Customer]:
        """Yield every customer (with ``email``, if given), newest first, page after page."""
        request: customer_pb.ListCustomersRequest | None = customer_pb.ListCustomersRequest(
            page_size=page_size, email=email
        )
        while request is not None:
            response = self._call(self._customers.ListCustomers, request)
            yield from response.customers
            request = build.next_page(request, response)

    # Saved payment methods and mandates (MandateService): create_payment with
    # mandate_id and off_session=True charges under a mandate.

    def setup_payment_method(
        self,
        customer_id: str,
        card_token: str,
        *,
        scope: mandate_pb.MandateScope,
        **options: Unpack[build.WriteOptions],
    ) -> mandate_pb.Mandate:
        """Verify a customer's card token at a channel and return the active mandate.

        FailedPreconditionError (PAYMENT_METHOD_VERIFICATION_FAILED) when the
        card does not verify.
        """
        request = build.setup_payment_method(customer_id, card_token, scope, options)
        return self._call(self._mandates.SetupPaymentMethod, request).mandate

    def revoke_mandate(
        self, mandate_id: str, **options: Unpack[build.WriteOptions]
    ) -> mandate_pb.Mandate:
        """Revoke a mandate (no charge under it from then on); return it revoked."""
        request = build.revoke_mandate(mandate_id, options)
        return self._call(self._mandates.RevokeMandate, request).mandate

    def iter_payment_methods(
        self, customer_id: str, *, page_size: int = 0
    ) -> Iterator[mandate_pb.SavedPaymentMethod]:
        """Yield every card token the customer set up, with its mandates, page after page."""
        request: mandate_pb.ListPaymentMethodsRequest | None = mandate_pb.ListPaymentMethodsRequest(
            customer_id=customer_id, page_size=page_size
        )
        while request is not None:
            response = self._call(self._mandates.ListPaymentMethods, request)
            yield from response.payment_methods
            request = build.next_page(request, response)

    # Disputes (DisputeService): opened and decided by the channels; the merchant
    # answers with evidence or accepts.

    def get_dispute(self, dispute_id: str) -> Dispute:
        """Return one dispute of the merchant; NotFoundError if there is none."""
        request = dispute_pb.GetDisputeRequest(dispute_id=dispute_id)
        return (self._call(self._disputes.GetDispute, request)).dispute

    def list_disputes(
        self,
        *,
        page_size: int = 0,
        page_token: str = "",
        payment_id: str = "",
        states: Sequence[Dispute.State.ValueType] = (),
    ) -> dispute_pb.ListDisputesResponse:
        """Return one page (``page_size`` 0 to 100, 0 meaning 20) of disputes, newest first."""
        request = dispute_pb.ListDisputesRequest(
            page_size=page_size, page_token=page_token, payment_id=payment_id, states=states
        )
        return self._call(self._disputes.ListDisputes, request)

    def iter_disputes(
        self,
        *,
        page_size: int = 0,
        payment_id: str = "",
        states: Sequence[Dispute.State.ValueType] = (),
    ) -> Iterator[Dispute]:
        """Yield every dispute (of ``payment_id``, in ``states``), newest first."""
        request: dispute_pb.ListDisputesRequest | None = dispute_pb.ListDisputesRequest(
            page_size=page_size, payment_id=payment_id, states=states
        )
        while request is not None:
            response = self._call(self._disputes.ListDisputes, request)
            yield from response.disputes
            request = build.next_page(request, response)

    def submit_evidence(
        self,
        dispute_id: str,
        evidence: dispute_pb.Evidence,
        **options: Unpack[build.WriteOptions],
    ) -> Dispute:
        """Answer a dispute with evidence (stored encrypted, handed to the channel)."""
        request = build.submit_evidence(dispute_id, evidence, options)
        return (self._call(self._disputes.SubmitEvidence, request)).dispute

    def accept_dispute(self, dispute_id: str, **options: Unpack[build.WriteOptions]) -> Dispute:
        """Give in: the dispute is lost (an inquiry closed) at once."""
        request = build.accept_dispute(dispute_id, options)
        return (self._call(self._disputes.AcceptDispute, request)).dispute

    def get_dispute_rate(self, start: datetime, end: datetime) -> dispute_pb.GetDisputeRateResponse:
        """Chargebacks per captured payment within [start, end) (timezone-aware, at most
        366 days), with the amounts per currency."""
        request = build.get_dispute_rate(start, end)
        return self._call(self._disputes.GetDisputeRate, request)

    # Subscriptions (SubscriptionService): prices, subscriptions, invoices, membership.

    def create_price(
        self,
        product_name: str,
        amount: Money,
        interval: str,
        **options: Unpack[subs.PriceOptions],
    ) -> sub_pb.Price:
        """Create a price per ``interval`` ("day", "week", "month", "year"); see PriceOptions."""
        request = subs.create_price(product_name, amount, interval, options)
        return self._call(self._subscriptions.CreatePrice, request).price

    def get_price(self, price_id: str) -> sub_pb.Price:
        """Return one price of the merchant; NotFoundError if there is none."""
        request = subs_pb.GetPriceRequest(price_id=price_id)
        return (self._call(self._subscriptions.GetPrice, request)).price

    def list_prices(
        self, *, page_size: int = 0, page_token: str = ""
    ) -> subs_pb.ListPricesResponse:
        """Return one page of the merchant's prices, newest first."""
        request = subs_pb.ListPricesRequest(page_size=page_size, page_token=page_token)
        return self._call(self._subscriptions.ListPrices, request)

    def create_subscription(
        self,
        customer_id: str,
        price_id: str,
        *,
        start_time: datetime | None = None,
        **options: Unpack[subs.SubscriptionOptions],
    ) -> sub_pb.Subscription:
        """Subscribe a customer to a price from ``start_time`` (default now); see
        SubscriptionOptions."""
        request = subs.create_subscription(customer_id, price_id, start_time, options)
        return self._call(self._subscriptions.CreateSubscription, request).subscription

    def get_subscription(self, subscription_id: str) -> sub_pb.Subscription:
        """Return one subscription; NotFoundError if there is none."""
        request = subs_pb.GetSubscriptionRequest(subscription_id=subscription_id)
        return self._call(self._subscriptions.GetSubscription, request).subscription

    def update_subscription(
        self, subscription_id: str, **options: Unpack[subs.SubscriptionChangeOptions]
    ) -> sub_pb.Subscription:
        """Change exactly the fields given (price and quantity prorated)."""
        request = subs.update_subscription(subscription_id, options)
        return self._call(self._subscriptions.UpdateSubscription, request).subscription

    def cancel_subscription(
        self,
        subscription_id: str,
        *,
        at_period_end: bool = False,
        **options: Unpack[build.WriteOptions],
    ) -> sub_pb.Subscription:
        """Cancel now, or at the end of the current period."""
        request = subs.cancel_subscription(subscription_id, at_period_end, options)
        return self._call(self._subscriptions.CancelSubscription, request).subscription

    def pause_subscription(
        self, subscription_id: str, **options: Unpack[build.WriteOptions]
    ) -> sub_pb.Subscription:
        """Pause billing until resumed."""
        request = subs.pause_subscription(subscription_id, options)
        return self._call(self._subscriptions.PauseSubscription, request).subscription

    def resume_subscription(
        self, subscription_id: str, **options: Unpack[build.WriteOptions]
    ) -> sub_pb.Subscription:
        """Resume a paused subscription: a new period starts and is billed at once."""
        request = subs.resume_subscription(subscription_id, options)
        return self._call(self._subscriptions.ResumeSubscription, request).subscription

    def list_invoices(
        self, subscription_id: str, *, page_size: int = 0, page_token: str = ""
    ) -> subs_pb.ListInvoicesResponse:
        """Return one page of a subscription's invoices, newest first."""
        request = subs_pb.ListInvoicesRequest(
            subscription_id=subscription_id, page_size=page_size, page_token=page_token
        )
        return self._call(self._subscriptions.ListInvoices, request)

    def get_membership_status(
        self, *, subscription_id: str = "", customer_id: str = ""
    ) -> subs_pb.GetMembershipStatusResponse:
        """Whether a subscription (or any of a customer's) is active now; give exactly one."""
        request = subs_pb.GetMembershipStatusRequest(
            subscription_id=subscription_id, customer_id=customer_id
        )
        return self._call(self._subscriptions.GetMembershipStatus, request)

    def advance_test_clock(
        self, to_time: datetime, **options: Unpack[build.WriteOptions]
    ) -> datetime:
        """Move the merchant's test clock forward (test servers only); its new time."""
        request = subs.advance_test_clock(to_time, options)
        response = self._call(self._subscriptions.AdvanceTestClock, request)
        return response.now.ToDatetime(tzinfo=UTC)
