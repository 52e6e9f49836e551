"""The optional arguments of each call, and the request messages built from them.

Both clients take the same keyword arguments; each set is declared once here
as a TypedDict (``**options: Unpack[CapturePaymentOptions]``), so type checkers
see every keyword with its type, and the clients only pass them on. Keys are
the request message's field names.

Each write gets its ``request_id`` here, once per logical call: the client
sends the very same message on every attempt, so a retry can never become a
second payment, capture or refund.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TypedDict, TypeVar

from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp
from google.type.money_pb2 import Money

from paycore.v1 import card_vault_service_pb2 as vault_pb
from paycore.v1 import customer_service_pb2 as customer_pb
from paycore.v1 import dispute_service_pb2 as dispute_pb
from paycore.v1 import mandate_service_pb2 as mandate_pb
from paycore.v1 import merchant_settings_service_pb2 as settings_pb
from paycore.v1 import payment_service_pb2 as pb
from paycore.v1.payment_pb2 import (
    CaptureMethod,
    ConfirmationMethod,
    Payment,
    PaymentMethodData,
    Refund,
)


class WriteOptions(TypedDict, total=False):
    """What every write (create, update, confirm, capture, cancel, refund) may take."""

    request_id: str
    """Idempotency key: 1 to 255 printable ASCII characters without spaces.

    Generated (a UUID4) when not given. Give your own to be able to repeat a
    call whose outcome you did not learn (a crash, a DeadlineExceededError):
    paycore returns the first outcome instead of executing it again.
    """


class CreatePaymentOptions(WriteOptions, total=False):
    """Optional arguments of ``create_payment``."""

    payment_method: PaymentMethodData
    """How to charge (see ``card()``, ``card_token()``, ``redirect_wallet()``, ``qr_wallet()``);
    required
    unless confirmation is manual."""
    capture_method: CaptureMethod.ValueType
    """CAPTURE_METHOD_AUTOMATIC (default) or CAPTURE_METHOD_MANUAL."""
    confirmation_method: ConfirmationMethod.ValueType
    """CONFIRMATION_METHOD_AUTOMATIC (default) or CONFIRMATION_METHOD_MANUAL."""
    customer_id: str
    """The merchant's reference for the customer, at most 255 characters."""
    description: str
    """Free text, at most 1000 characters."""
    metadata: Mapping[str, str]
    """At most 50 keys of 1 to 40 characters; values at most 500 characters."""
    mandate_id: str
    """A merchant-initiated charge under this mandate (``man_...``, from
    ``setup_payment_method``): give ``off_session=True`` and no payment_method."""
    off_session: bool
    """The customer is not present: required with ``mandate_id``."""
    return_url: str
    """Where the customer's browser comes back after a 3-D Secure challenge or a
    redirect wallet's page (required with ``redirect_wallet()``; the payment is then
    STATE_REQUIRES_ACTION: send the customer to ``payment.next_action.redirect_to_url.url``)."""


class ConfirmPaymentOptions(WriteOptions, total=False):
    """Optional arguments of ``confirm_payment``."""

    return_url: str
    """As ``CreatePaymentOptions.return_url``."""


class TokenizeCardOptions(WriteOptions, total=False):
    """Optional arguments of ``tokenize_card``."""

    customer_id: str
    """Whom the card belongs to, as a payment's ``customer_id``: a customer id
    (``cus_...``) must name a live customer; then the token pays for that
    customer only."""


class UpdatePaymentOptions(WriteOptions, total=False):
    """Fields ``update_payment`` changes: exactly those given, even when empty."""

    amount: Money
    """New amount, same currency; only in STATE_REQUIRES_CONFIRMATION."""
    description: str
    """New description; "" clears it."""
    metadata: Mapping[str, str]
    """New metadata, replacing the whole map; {} clears it."""


class CapturePaymentOptions(WriteOptions, total=False):
    """Optional arguments of ``capture_payment``."""

    amount: Money
    """How much to capture; the whole authorized amount when not given."""


class CancelPaymentOptions(WriteOptions, total=False):
    """Optional arguments of ``cancel_payment``."""

    reason: str
    """Why, at most 500 characters."""


class RefundPaymentOptions(WriteOptions, total=False):
    """Optional arguments of ``refund_payment``."""

    amount: Money
    """How much to refund; all that is not refunded yet when not given."""
    reason: str
    """Why, at most 500 characters."""


class RejectRefundOptions(WriteOptions, total=False):
    """Optional arguments of ``reject_refund``."""

    reason: str
    """Why, at most 500 characters; kept on the refund as ``rejection_reason``."""


class MerchantSettingsOptions(WriteOptions, total=False):
    """Settings ``update_merchant_settings`` changes: exactly those given, even when empty."""

    refund_review_thresholds: Iterable[Money]
    """At most one per currency; a refund of more waits for review. [] removes them all."""


class CustomerOptions(WriteOptions, total=False):
    """Fields of ``create_customer``; ``update_customer`` changes exactly those given."""

    email: str
    """Email address, at most 254 characters; "" clears it on update."""
    name: str
    """Name, at most 255 characters; "" clears it on update."""
    metadata: Mapping[str, str]
    """At most 50 keys of 1 to 40 characters; values at most 500 characters."""
    default_payment_method: str
    """A card token (``tok_...``) of the merchant; "" clears it on update."""


class RefundFilters(TypedDict, total=False):
    """Filters of ``list_refunds`` and ``iter_refunds``; all given ones must match."""

    states: Iterable[Refund.State.ValueType]
    """Only refunds in one of these states (``Refund.STATE_PENDING_REVIEW``: the review queue)."""
    payment_id: str
    """Only refunds of this payment."""


class PaymentFilters(TypedDict, total=False):
    """Filters of ``list_payments`` and ``iter_payments``; all given ones must match."""

    states: Iterable[Payment.State.ValueType]
    """Only payments in one of these states (e.g. ``Payment.STATE_CAPTURED``)."""
    customer_id: str
    """Only payments of this customer reference."""
    create_time_start: datetime
    """Only payments created at or after this time (timezone-aware)."""
    create_time_end: datetime
    """Only payments created before this time (timezone-aware)."""


_Write = TypeVar("_Write", bound=WriteOptions)


def _with_request_id(options: _Write) -> _Write:
    filled = options.copy()
    if "request_id" not in filled:
        filled["request_id"] = str(uuid.uuid4())
    return filled


def _timestamp(name: str, value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    # A naive datetime would be read as UTC by protobuf, silently shifting the
    # window by the caller's UTC offset.
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def create_payment(amount: Money, options: CreatePaymentOptions) -> pb.CreatePaymentRequest:
    """A CreatePaymentRequest with a request_id."""
    return pb.CreatePaymentRequest(amount=amount, **_with_request_id(options))


def get_payment(payment_id: str) -> pb.GetPaymentRequest:
    """A GetPaymentRequest."""
    return pb.GetPaymentRequest(payment_id=payment_id)


def list_payments(
    page_size: int, page_token: str, filters: PaymentFilters
) -> pb.ListPaymentsRequest:
    """A ListPaymentsRequest for one page; raises ValueError for a naive datetime."""
    return pb.ListPaymentsRequest(
        page_size=page_size,
        page_token=page_token,
        states=filters.get("states", ()),
        customer_id=filters.get("customer_id", ""),
        create_time_start=_timestamp("create_time_start", filters.get("create_time_start")),
        create_time_end=_timestamp("create_time_end", filters.get("create_time_end")),
    )


_List = TypeVar(
    "_List",
    pb.ListPaymentsRequest,
    pb.ListRefundsRequest,
    customer_pb.ListCustomersRequest,
    mandate_pb.ListPaymentMethodsRequest,
    dispute_pb.ListDisputesRequest,
)


def list_refunds(page_size: int, page_token: str, filters: RefundFilters) -> pb.ListRefundsRequest:
    """A ListRefundsRequest for one page."""
    return pb.ListRefundsRequest(
        page_size=page_size,
        page_token=page_token,
        states=filters.get("states", ()),
        payment_id=filters.get("payment_id", ""),
    )


def next_page(
    request: _List,
    response: pb.ListPaymentsResponse
    | pb.ListRefundsResponse
    | customer_pb.ListCustomersResponse
    | mandate_pb.ListPaymentMethodsResponse
    | dispute_pb.ListDisputesResponse,
) -> _List | None:
    """The request for the page after ``response``, or None after the last page."""
    if not response.next_page_token:
        return None
    following = type(request)()
    following.CopyFrom(request)
    following.page_token = response.next_page_token
    return following


def update_payment(payment_id: str, options: UpdatePaymentOptions) -> pb.UpdatePaymentRequest:
    """An UpdatePaymentRequest whose update mask names exactly the fields given.

    Raises ValueError when no field is given.
    """
    mask = [name for name in options if name != "request_id"]
    if not mask:
        raise ValueError("give at least one of amount, description, metadata")
    return pb.UpdatePaymentRequest(
        payment_id=payment_id, update_mask=FieldMask(paths=mask), **_with_request_id(options)
    )


def confirm_payment(
    payment_id: str, payment_method: PaymentMethodData, options: ConfirmPaymentOptions
) -> pb.ConfirmPaymentRequest:
    """A ConfirmPaymentRequest with a request_id."""
    return pb.ConfirmPaymentRequest(
        payment_id=payment_id, payment_method=payment_method, **_with_request_id(options)
    )


def capture_payment(payment_id: str, options: CapturePaymentOptions) -> pb.CapturePaymentRequest:
    """A CapturePaymentRequest with a request_id."""
    return pb.CapturePaymentRequest(payment_id=payment_id, **_with_request_id(options))


def cancel_payment(payment_id: str, options: CancelPaymentOptions) -> pb.CancelPaymentRequest:
    """A CancelPaymentRequest with a request_id."""
    return pb.CancelPaymentRequest(payment_id=payment_id, **_with_request_id(options))


def verify_payment_code(
    payment_id: str, code: str, options: WriteOptions
) -> pb.VerifyPaymentCodeRequest:
    """A VerifyPaymentCodeRequest with a request_id."""
    return pb.VerifyPaymentCodeRequest(
        payment_id=payment_id, code=code, **_with_request_id(options)
    )


def refund_payment(payment_id: str, options: RefundPaymentOptions) -> pb.RefundPaymentRequest:
    """A RefundPaymentRequest with a request_id."""
    return pb.RefundPaymentRequest(payment_id=payment_id, **_with_request_id(options))


def tokenize_card(
    card: PaymentMethodData, options: TokenizeCardOptions
) -> vault_pb.TokenizeCardRequest:
    """A TokenizeCardRequest with a request_id, for the card of ``card(...)``."""
    if card.WhichOneof("kind") != "card":
        raise ValueError("tokenize_card takes a full card: card(number, exp_month, exp_year, ...)")
    return vault_pb.TokenizeCardRequest(card=card.card, **_with_request_id(options))


def approve_refund(refund_id: str, options: WriteOptions) -> pb.ApproveRefundRequest:
    """An ApproveRefundRequest with a request_id."""
    return pb.ApproveRefundRequest(refund_id=refund_id, **_with_request_id(options))


def reject_refund(refund_id: str, options: RejectRefundOptions) -> pb.RejectRefundRequest:
    """A RejectRefundRequest with a request_id."""
    return pb.RejectRefundRequest(refund_id=refund_id, **_with_request_id(options))


def update_merchant_settings(
    options: MerchantSettingsOptions,
) -> settings_pb.UpdateMerchantSettingsRequest:
    """An UpdateMerchantSettingsRequest whose update mask names exactly the settings given.

    Raises ValueError when no setting is given.
    """
    filled = _with_request_id(options)
    mask = [name for name in filled if name != "request_id"]
    if not mask:
        raise ValueError("give at least one setting: refund_review_thresholds")
    return settings_pb.UpdateMerchantSettingsRequest(
        request_id=filled["request_id"],
        settings=settings_pb.MerchantSettings(
            refund_review_thresholds=filled.get("refund_review_thresholds", ())
        ),
        update_mask=FieldMask(paths=mask),
    )


def create_customer(options: CustomerOptions) -> customer_pb.CreateCustomerRequest:
    """A CreateCustomerRequest with a request_id."""
    return customer_pb.CreateCustomerRequest(**_with_request_id(options))


def update_customer(
    customer_id: str, options: CustomerOptions
) -> customer_pb.UpdateCustomerRequest:
    """An UpdateCustomerRequest whose update mask names exactly the fields given.

    Raises ValueError when no field is given.
    """
    mask = [name for name in options if name != "request_id"]
    if not mask:
        raise ValueError("give at least one of email, name, metadata, default_payment_method")
    return customer_pb.UpdateCustomerRequest(
        customer_id=customer_id, update_mask=FieldMask(paths=mask), **_with_request_id(options)
    )


def delete_customer(customer_id: str, options: WriteOptions) -> customer_pb.DeleteCustomerRequest:
    """A DeleteCustomerRequest with a request_id."""
    return customer_pb.DeleteCustomerRequest(customer_id=customer_id, **_with_request_id(options))


def setup_payment_method(
    customer_id: str, card_token: str, scope: mandate_pb.MandateScope, options: WriteOptions
) -> mandate_pb.SetupPaymentMethodRequest:
    """A SetupPaymentMethodRequest with a request_id."""
    return mandate_pb.SetupPaymentMethodRequest(
        customer_id=customer_id, card_token=card_token, scope=scope, **_with_request_id(options)
    )


def revoke_mandate(mandate_id: str, options: WriteOptions) -> mandate_pb.RevokeMandateRequest:
    """A RevokeMandateRequest with a request_id."""
    return mandate_pb.RevokeMandateRequest(mandate_id=mandate_id, **_with_request_id(options))


def submit_evidence(
    dispute_id: str, evidence: dispute_pb.Evidence, options: WriteOptions
) -> dispute_pb.SubmitEvidenceRequest:
    """A SubmitEvidenceRequest with a request_id."""
    return dispute_pb.SubmitEvidenceRequest(
        dispute_id=dispute_id, evidence=evidence, **_with_request_id(options)
    )


def accept_dispute(dispute_id: str, options: WriteOptions) -> dispute_pb.AcceptDisputeRequest:
    """An AcceptDisputeRequest with a request_id."""
    return dispute_pb.AcceptDisputeRequest(dispute_id=dispute_id, **_with_request_id(options))


def get_dispute_rate(start: datetime, end: datetime) -> dispute_pb.GetDisputeRateRequest:
    """A GetDisputeRateRequest; raises ValueError for a naive datetime."""
    return dispute_pb.GetDisputeRateRequest(
        start_time=_timestamp("start", start), end_time=_timestamp("end", end)
    )
