"""Protobuf requests -> validated domain commands.

Every check names the offending field (a path in the request message) and all
of a request's mistakes are reported together in one INVALID_ARGUMENT. Nothing
is written for a request that fails here: validation runs before the
idempotency claim, which is also why validation failures are not stored
against the request_id (Stripe's rule).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType
from typing import Any, TypeVar

from google.protobuf import duration_pb2, timestamp_pb2
from google.protobuf.message import Message
from google.type import money_pb2

from core.api.addresses import canonical_ip
from core.api.convert import REFUND_STATE_FROM_PROTO, STATE_FROM_PROTO
from core.api.digits import digits
from core.auth.keys import MERCHANT_ID_SHAPE, PREFIX_SHAPE
from core.auth.policy import Role
from core.domain import ids
from core.domain.audit import AuditFilter
from core.domain.cards import is_expired, luhn_valid
from core.domain.commands import (
    CancelPayment,
    CapturePayment,
    CardInput,
    ConfirmPayment,
    CreatePayment,
    PaymentQuery,
    RefundPayment,
    RefundQuery,
    ReviewRefund,
    TokenizeCard,
    UpdatePayment,
)
from core.domain.errors import FieldViolation, Reason, ValidationError, ViolationCollector
from core.domain.merchant_settings import MerchantSettingsUpdate
from core.domain.money import AmountError, CurrencyError, Money
from core.domain.payment import (
    RESERVED_PREFIX,
    BankTransferDetails,
    CaptureMethod,
    ConfirmationMethod,
    RiskContext,
)
from core.service.access import MAX_ROTATION_OVERLAP, NewApiKey, NewMerchant
from paycore.v1 import access_service_pb2 as access_pb
from paycore.v1 import card_vault_service_pb2 as vault_svc
from paycore.v1 import merchant_settings_service_pb2 as settings_svc
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc

MAX_REQUEST_ID = 255
MAX_CUSTOMER_ID = 255
MAX_DESCRIPTION = 1000
MAX_REASON = 500
MAX_HOLDER_NAME = 200
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY = 40
MAX_METADATA_VALUE = 500
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

_CAPTURE = {
    pb.CAPTURE_METHOD_UNSPECIFIED: CaptureMethod.AUTOMATIC,
    pb.CAPTURE_METHOD_AUTOMATIC: CaptureMethod.AUTOMATIC,
    pb.CAPTURE_METHOD_MANUAL: CaptureMethod.MANUAL,
}
_CONFIRMATION = {
    pb.CONFIRMATION_METHOD_UNSPECIFIED: ConfirmationMethod.AUTOMATIC,
    pb.CONFIRMATION_METHOD_AUTOMATIC: ConfirmationMethod.AUTOMATIC,
    pb.CONFIRMATION_METHOD_MANUAL: ConfirmationMethod.MANUAL,
}


def request_fingerprint(request: Message, key: bytes) -> bytes:
    """HMAC-SHA256 of the request without its request_id: equal exactly for equal requests.

    Keyed with a server secret because requests carry card numbers: an
    unkeyed hash stored next to a card's BIN, last four and expiry could be
    brute-forced back into the number in a fraction of a second.
    Deterministic serialization orders map entries, so two equal requests
    always hash the same whatever order their metadata was built in.
    """
    # Cleared on the request itself and put back (no copy of the whole message):
    # a proto3 string without presence serialises the same cleared or empty.
    request_id = request.request_id  # type: ignore[attr-defined]
    request.ClearField("request_id")
    try:
        data = request.SerializeToString(deterministic=True)
    finally:
        request.request_id = request_id  # type: ignore[attr-defined]
    return hmac.new(key, data, hashlib.sha256).digest()


# --- field checks ---------------------------------------------------------------


def _request_id(v: ViolationCollector, value: str) -> None:
    if not value:
        v.add("request_id", "required: an idempotency key unique to this request (e.g. a UUID)")
    elif len(value) > MAX_REQUEST_ID:
        v.add("request_id", f"must be at most {MAX_REQUEST_ID} characters")
    elif not _visible_ascii(value):
        v.add("request_id", "must be printable ASCII without spaces")


def _visible_ascii(value: str) -> bool:
    """Whether every character is printable ASCII other than the space (``!`` to ``~``).

    str methods instead of a loop over the characters: among ASCII, only the
    space is printable and outside ``!``..``~``.
    """
    return value.isascii() and value.isprintable() and " " not in value


def _payment_id(v: ViolationCollector, value: str, field: str = "payment_id") -> None:
    if not value:
        v.add(field, "required")
    elif not ids.is_valid(ids.PAYMENT, value):
        v.add(field, "must be a payment id: pay_ followed by 26 base32 characters")


def _text(v: ViolationCollector, field: str, value: str, limit: int) -> None:
    if len(value) > limit:
        v.add(field, f"must be at most {limit} characters")
    elif "\x00" in value:
        # PostgreSQL text cannot hold U+0000; refuse it here, not as a storage error.
        v.add(field, "must not contain the NUL character (U+0000)")


def _money(
    v: ViolationCollector, field: str, message: money_pb2.Money, *, positive: bool = True
) -> Money | None:
    try:
        money = Money.from_units_nanos(message.currency_code, message.units, message.nanos)
    except CurrencyError as exc:
        v.add(f"{field}.currency_code", str(exc))
        return None
    except AmountError as exc:
        v.add(field, str(exc))
        return None
    if positive and money.is_zero():
        v.add(field, "must be greater than zero")
        return None
    return money


def _metadata(v: ViolationCollector, field: str, metadata: Mapping[str, str]) -> Mapping[str, str]:
    if len(metadata) > MAX_METADATA_KEYS:
        v.add(field, f"at most {MAX_METADATA_KEYS} keys")
    for key, value in metadata.items():
        where = f"{field}[{key[:MAX_METADATA_KEY]!r}]"
        if not key or len(key) > MAX_METADATA_KEY:
            v.add(where, f"keys must be 1 to {MAX_METADATA_KEY} characters")
        elif "\x00" in key:
            v.add(where, "keys must not contain the NUL character (U+0000)")
        elif key.startswith(RESERVED_PREFIX):
            v.add(where, f"keys starting with {RESERVED_PREFIX!r} are set by paycore only")
        _text(v, where, value, MAX_METADATA_VALUE)
    return MappingProxyType(dict(metadata))


def _token_id(v: ViolationCollector, field: str, value: str) -> None:
    if not value:
        v.add(field, "required")
    elif not ids.is_valid(ids.TOKEN, value):
        v.add(field, "must be a card token: tok_ followed by 26 base32 characters")


def _payment_method(
    v: ViolationCollector, field: str, method: pb.PaymentMethodData, today: date
) -> tuple[CardInput | None, str]:
    """(card, "") for a full card, (None, token id) for a vault token (cards only)."""
    card, token, transfer = _any_payment_method(v, field, method, today)
    if transfer is not None:
        v.add(f"{field}.bank_transfer", "not accepted here: a card or card_token is required")
    return card, token


def _any_payment_method(
    v: ViolationCollector, field: str, method: pb.PaymentMethodData, today: date
) -> tuple[CardInput | None, str, BankTransferDetails | None]:
    """(card, token id, bank transfer): the one the request gave is set."""
    kind = method.WhichOneof("kind")
    if kind == "card_token":
        _token_id(v, f"{field}.card_token", method.card_token)
        return None, method.card_token, None
    if kind == "bank_transfer":
        return None, "", _bank_transfer(v, f"{field}.bank_transfer", method.bank_transfer)
    if kind != "card":
        v.add(field, "required: a payment method (card, card_token or bank_transfer)")
        return None, "", None
    return _card(v, f"{field}.card", method.card, today), "", None


def _bank_transfer(
    v: ViolationCollector, field: str, transfer: pb.BankTransferData
) -> BankTransferDetails:
    name = transfer.payer_name.strip()
    if not name:
        v.add(f"{field}.payer_name", "required: the payer's name as on their bank account")
    else:
        _text(v, f"{field}.payer_name", name, MAX_HOLDER_NAME)
    email = transfer.payer_email.strip()
    if email and not _is_email(email):
        v.add(f"{field}.payer_email", f"must be an email address of at most {MAX_EMAIL} characters")
    return BankTransferDetails(payer_name=name, payer_email=email.lower())


def _is_email(email: str) -> bool:
    return len(email) <= MAX_EMAIL and "@" in email.strip("@") and " " not in email


def _card(v: ViolationCollector, field: str, card: pb.CardData, today: date) -> CardInput | None:
    ok = True
    number_field = f"{field}.number"
    if not digits(
        v,
        number_field,
        card.number,
        min_length=12,
        max_length=19,
        shape="12 to 19 digits without spaces",
    ):
        ok = False
    elif not luhn_valid(card.number):
        v.add(number_field, "is not a valid card number (Luhn check failed)")
        ok = False
    month_ok = 1 <= card.exp_month <= 12
    if not month_ok:
        v.add(f"{field}.exp_month", "must be 1 to 12")
        ok = False
    if not 2000 <= card.exp_year <= 2100:
        v.add(f"{field}.exp_year", "must be a four-digit year")
        ok = False
    elif month_ok and is_expired(card.exp_month, card.exp_year, today):
        v.add(f"{field}.exp_year", "the card has expired")
        ok = False
    if card.cvc and not digits(
        v, f"{field}.cvc", card.cvc, min_length=3, max_length=4, shape="3 or 4 digits"
    ):
        ok = False
    holder_violations = len(v.violations)
    _text(v, f"{field}.holder_name", card.holder_name, MAX_HOLDER_NAME)
    if len(v.violations) > holder_violations:
        ok = False
    if not ok:
        return None
    return CardInput(card.number, card.exp_month, card.exp_year, card.cvc, card.holder_name)


MAX_EMAIL = 254
MAX_DEVICE_ID = 255
_COUNTRY = re.compile("[A-Z]{2}")  # a class, not isupper(): "U1".isupper() is True


def risk_context(v: ViolationCollector, field: str, context: pb.RiskContext) -> RiskContext:
    """Validate the optional customer signals for risk scoring."""
    email = context.customer_email.strip()
    if email and not _is_email(email):
        v.add(
            f"{field}.customer_email", f"must be an email address of at most {MAX_EMAIL} characters"
        )
    ip_address = ""
    if context.ip_address:
        ip_address = canonical_ip(v, f"{field}.ip_address", context.ip_address)
    if context.ip_country and not _COUNTRY.fullmatch(context.ip_country):
        v.add(f"{field}.ip_country", "must be an ISO 3166-1 alpha-2 code, upper case (e.g. US)")
    if len(context.device_id) > MAX_DEVICE_ID or not _visible_ascii(context.device_id):
        v.add(f"{field}.device_id", f"must be at most {MAX_DEVICE_ID} printable ASCII characters")
    return RiskContext(
        customer_email=email.lower(),
        ip_address=ip_address,
        ip_country=context.ip_country,
        device_id=context.device_id,
    )


def _enum(v: ViolationCollector, field: str, value: int, known: Mapping[Any, object]) -> None:
    if value not in known:
        v.add(field, f"unknown value {value}")


# --- requests ---------------------------------------------------------------------


def create_payment(
    merchant_id: str, request: svc.CreatePaymentRequest, today: date
) -> CreatePayment:
    """Validate a CreatePaymentRequest."""
    v = ViolationCollector()
    _request_id(v, request.request_id)
    amount = None
    if not request.HasField("amount"):
        v.add("amount", "required")
    else:
        amount = _money(v, "amount", request.amount)
    _enum(v, "capture_method", request.capture_method, _CAPTURE)
    _enum(v, "confirmation_method", request.confirmation_method, _CONFIRMATION)
    confirmation = _CONFIRMATION.get(request.confirmation_method, ConfirmationMethod.AUTOMATIC)
    card, card_token, transfer = None, "", None
    if request.HasField("payment_method") or confirmation is ConfirmationMethod.AUTOMATIC:
        card, card_token, transfer = _any_payment_method(
            v, "payment_method", request.payment_method, today
        )
    if transfer is not None and request.capture_method == pb.CAPTURE_METHOD_MANUAL:
        v.add(
            "capture_method",
            "a bank transfer is captured when the money arrives: use CAPTURE_METHOD_AUTOMATIC",
        )
    _text(v, "customer_id", request.customer_id, MAX_CUSTOMER_ID)
    _text(v, "description", request.description, MAX_DESCRIPTION)
    metadata = _metadata(v, "metadata", request.metadata)
    context = risk_context(v, "risk_context", request.risk_context)
    v.raise_if_any()
    assert amount is not None
    return CreatePayment(
        merchant_id=merchant_id,
        amount=amount,
        card=card,
        capture_method=_CAPTURE[request.capture_method],
        confirmation_method=confirmation,
        customer_id=request.customer_id,
        description=request.description,
        metadata=metadata,
        card_token=card_token,
        risk_context=context,
        bank_transfer=transfer,
    )


def confirm_payment(
    merchant_id: str, request: svc.ConfirmPaymentRequest, today: date
) -> ConfirmPayment:
    """Validate a ConfirmPaymentRequest."""
    v = ViolationCollector()
    _request_id(v, request.request_id)
    _payment_id(v, request.payment_id)
    card, card_token, transfer = _any_payment_method(
        v, "payment_method", request.payment_method, today
    )
    v.raise_if_any()
    return ConfirmPayment(merchant_id, request.payment_id, card, card_token, transfer)


def capture_payment(merchant_id: str, request: svc.CapturePaymentRequest) -> CapturePayment:
    """Validate a CapturePaymentRequest."""
    v = ViolationCollector()
    _request_id(v, request.request_id)
    _payment_id(v, request.payment_id)
    amount = _money(v, "amount", request.amount) if request.HasField("amount") else None
    v.raise_if_any()
    return CapturePayment(merchant_id, request.payment_id, amount)


def cancel_payment(merchant_id: str, request: svc.CancelPaymentRequest) -> CancelPayment:
    """Validate a CancelPaymentRequest."""
    v = ViolationCollector()
    _request_id(v, request.request_id)
    _payment_id(v, request.payment_id)
    _text(v, "reason", request.reason, MAX_REASON)
    v.raise_if_any()
    return CancelPayment(merchant_id, request.payment_id, request.reason)


def refund_payment(merchant_id: str, request: svc.RefundPaymentRequest) -> RefundPayment:
    """Validate a RefundPaymentRequest."""
    v = ViolationCollector()
    _request_id(v, request.request_id)
    _payment_id(v, request.payment_id)
    amount = _money(v, "amount", request.amount) if request.HasField("amount") else None
    _text(v, "reason", request.reason, MAX_REASON)
    v.raise_if_any()
    return RefundPayment(merchant_id, request.payment_id, amount, request.reason)


def _update_paths(
    v: ViolationCollector, mask: Iterable[str], is_set: Mapping[str, bool]
) -> list[str]:
    """The fields an update changes (AIP-134): the mask's, or with no mask every field set.

    ``is_set`` names every updatable field and whether the request sets it.
    """
    paths = list(mask)
    for path in paths:
        if path not in is_set:
            v.add("update_mask", f"unknown or read-only field {path!r}; use {', '.join(is_set)}")
    if not paths:
        paths = [name for name, given in is_set.items() if given]
        if not paths:
            v.add("update_mask", "nothing to update: set a field or name it in update_mask")
    return paths


def update_payment(merchant_id: str, request: svc.UpdatePaymentRequest) -> UpdatePayment:
    """Validate an UpdatePaymentRequest; an empty mask means every field that is set."""
    v = ViolationCollector()
    _request_id(v, request.request_id)
    _payment_id(v, request.payment_id)
    paths = _update_paths(
        v,
        request.update_mask.paths,
        {
            "amount": request.HasField("amount"),
            "description": bool(request.description),
            "metadata": bool(request.metadata),
        },
    )
    amount = None
    if "amount" in paths:
        if request.HasField("amount"):
            amount = _money(v, "amount", request.amount)
        else:
            v.add("amount", "required when update_mask names it")
    _text(v, "description", request.description, MAX_DESCRIPTION)
    metadata = _metadata(v, "metadata", request.metadata)
    v.raise_if_any()
    return UpdatePayment(
        merchant_id,
        request.payment_id,
        amount=amount,
        description=request.description if "description" in paths else None,
        metadata=metadata if "metadata" in paths else None,
    )


def get_payment_id(request: svc.GetPaymentRequest) -> str:
    """Validate a GetPaymentRequest; returns the payment id."""
    v = ViolationCollector()
    _payment_id(v, request.payment_id)
    v.raise_if_any()
    return request.payment_id


def tokenize_card(
    merchant_id: str, request: vault_svc.TokenizeCardRequest, today: date
) -> TokenizeCard:
    """Validate a TokenizeCardRequest. The CVC is checked for shape, then dropped."""
    v = ViolationCollector()
    _request_id(v, request.request_id)
    card = None
    if not request.HasField("card"):
        v.add("card", "required")
    else:
        card = _card(v, "card", request.card, today)
    v.raise_if_any()
    assert card is not None
    return TokenizeCard(merchant_id, dataclasses.replace(card, cvc=""))


def get_card_token_id(request: vault_svc.GetCardTokenRequest) -> str:
    """Validate a GetCardTokenRequest; returns the token id."""
    v = ViolationCollector()
    _token_id(v, "token_id", request.token_id)
    v.raise_if_any()
    return request.token_id


# --- platform administration (AccessService) ---------------------------------------

_ROLES = {
    access_pb.ApiKey.ROLE_MERCHANT: Role.MERCHANT,
    access_pb.ApiKey.ROLE_ADMIN: Role.ADMIN,
    access_pb.ApiKey.ROLE_SUPERADMIN: Role.SUPERADMIN,
}


def _merchant_id(v: ViolationCollector, field: str, value: str) -> None:
    if not value:
        v.add(field, "required")
    elif not MERCHANT_ID_SHAPE.fullmatch(value):
        v.add(field, "must be 1 to 64 letters, digits, '_' or '-'")


def _key_prefix(v: ViolationCollector, value: str) -> None:
    if not value:
        v.add("prefix", "required")
    elif not PREFIX_SHAPE.fullmatch(value):
        v.add("prefix", "must be a key prefix: pck_ followed by 12 base32 characters")


def create_merchant(request: access_pb.CreateMerchantRequest) -> NewMerchant:
    """Validate a CreateMerchantRequest."""
    v = ViolationCollector()
    _request_id(v, request.request_id)
    _merchant_id(v, "merchant_id", request.merchant_id)
    if not request.display_name.strip():
        v.add("display_name", "required")
    _text(v, "display_name", request.display_name, 200)
    v.raise_if_any()
    return NewMerchant(request.merchant_id, request.display_name, request.raw_card_data_allowed)


def merchant_id_of(request: access_pb.GetMerchantRequest) -> str:
    """Validate a GetMerchantRequest; returns the merchant id."""
    v = ViolationCollector()
    _merchant_id(v, "merchant_id", request.merchant_id)
    v.raise_if_any()
    return request.merchant_id


def create_api_key(request: access_pb.CreateApiKeyRequest) -> NewApiKey:
    """Validate a CreateApiKeyRequest: superadmin keys have no merchant, the others one."""
    v = ViolationCollector()
    _request_id(v, request.request_id)
    role = _ROLES.get(request.role)
    if role is None:
        v.add("role", "required: ROLE_MERCHANT, ROLE_ADMIN or ROLE_SUPERADMIN")
    elif role is Role.SUPERADMIN:
        if request.merchant_id:
            v.add("merchant_id", "must be empty for a superadmin (platform) key")
    else:
        _merchant_id(v, "merchant_id", request.merchant_id)
    _text(v, "description", request.description, 200)
    v.raise_if_any()
    assert role is not None
    return NewApiKey(request.merchant_id or None, role, request.description)


def list_api_keys_of(request: access_pb.ListApiKeysRequest) -> str | None:
    """Validate a ListApiKeysRequest; the merchant id, or None for the platform's keys."""
    v = ViolationCollector()
    if request.merchant_id:
        _merchant_id(v, "merchant_id", request.merchant_id)
    v.raise_if_any()
    return request.merchant_id or None


def audit_filter(request: access_pb.ListAuditEventsRequest) -> AuditFilter:
    """Validate a ListAuditEventsRequest's filters."""
    v = ViolationCollector()
    if request.merchant_id:
        _merchant_id(v, "merchant_id", request.merchant_id)
    for name in ("resource_type", "resource_id", "action"):
        _text(v, name, getattr(request, name), 200)
    v.raise_if_any()
    return AuditFilter(
        request.merchant_id, request.resource_type, request.resource_id, request.action
    )


def duration_within(
    v: ViolationCollector, field: str, duration: duration_pb2.Duration, maximum: timedelta
) -> timedelta:
    """A Duration of whole milliseconds from 0 to ``maximum`` (a violation, and 0, otherwise).

    Checked on the raw seconds first: a timedelta overflows for the huge values
    a Duration can carry (found by tests/security/test_fuzz_rpcs.py).
    """
    if duration.nanos % 1_000_000 or duration.seconds < 0 or duration.nanos < 0:
        v.add(field, "must be a non-negative whole number of milliseconds")
    elif duration.seconds > maximum.total_seconds():
        v.add(field, f"must be at most {maximum}")
    else:
        value = timedelta(seconds=duration.seconds, microseconds=duration.nanos // 1000)
        if value <= maximum:
            return value
        v.add(field, f"must be at most {maximum}")
    return timedelta(0)


def revoke_api_key(request: access_pb.RevokeApiKeyRequest) -> str:
    """Validate a RevokeApiKeyRequest; returns the prefix."""
    v = ViolationCollector()
    _request_id(v, request.request_id)
    _key_prefix(v, request.prefix)
    v.raise_if_any()
    return request.prefix


def rotate_api_key(request: access_pb.RotateApiKeyRequest) -> tuple[str, timedelta]:
    """Validate a RotateApiKeyRequest; returns the prefix and the overlap."""
    v = ViolationCollector()
    _request_id(v, request.request_id)
    _key_prefix(v, request.prefix)
    overlap = duration_within(v, "overlap", request.overlap, MAX_ROTATION_OVERLAP)
    v.raise_if_any()
    return request.prefix, overlap


def cursor_page(page_size: int, page_token: str, key: bytes, scope: str) -> tuple[int, str]:
    """Validate a page size and a signed cursor token (from ``encode_cursor``) of ``scope``.

    Returns (page size, cursor; "" for the first page).
    """
    v = ViolationCollector()
    if not 0 <= page_size <= MAX_PAGE_SIZE:
        v.add("page_size", f"must be between 0 and {MAX_PAGE_SIZE}")
    v.raise_if_any()
    cursor = ""
    if page_token:
        body, _, signature = page_token.partition(".")
        try:
            raw = base64.urlsafe_b64decode(body.encode("ascii") + b"=" * (-len(body) % 4))
        except (ValueError, UnicodeEncodeError, binascii.Error):
            raw = b""
        if not raw or not hmac.compare_digest(signature, _cursor_signature(scope, raw, key)):
            raise ValidationError(
                [FieldViolation("page_token", "malformed: pass next_page_token unchanged")],
                Reason.INVALID_PAGE_TOKEN,
            )
        cursor = raw.decode()
    return page_size or DEFAULT_PAGE_SIZE, cursor


def encode_cursor(cursor: str, key: bytes, scope: str) -> str:
    """A signed page token for ``cursor`` (opaque to callers), valid only for ``scope``."""
    raw = cursor.encode()
    body = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return f"{body}.{_cursor_signature(scope, raw, key)}"


def _cursor_signature(scope: str, raw: bytes, key: bytes) -> str:
    # The scope is signed too: a token of one listing is refused by another.
    return _sign(scope.encode() + b"\0" + raw, key)


# --- pagination -------------------------------------------------------------------


def _filter_hash(request: Message) -> str:
    """Identifies a request's filters, so a page token cannot be reused with others."""
    copy = type(request)()
    copy.CopyFrom(request)
    copy.ClearField("page_token")
    copy.ClearField("page_size")  # AIP-158: page size may change between pages
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()[:16]


def _sign(payload: bytes, key: bytes) -> str:
    digest = hmac.new(key, payload, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def encode_page_token(request: Message, last_time: datetime, last_id: str, key: bytes) -> str:
    """An opaque, signed token naming the last item returned and the request's filters.

    ``request`` is a List request (ListPayments, ListRefunds); its filters
    are hashed into the token, and the request type with them.

    Signed with the server secret so that a token cannot be forged or edited:
    what comes back is exactly what paycore issued (merchant scoping makes a
    forged token harmless, but answering it would invite guessing).
    """
    payload = json.dumps(
        {"t": last_time.isoformat(), "id": last_id, "f": _filter_hash(request)},
        separators=(",", ":"),
    ).encode()
    body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    return f"{body}.{_sign(payload, key)}"


# Payments are created "now"; a token time outside this range was not issued by paycore.
_TOKEN_TIMES = (datetime(2000, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC))


def _decode_page_token(
    request: svc.ListPaymentsRequest | svc.ListRefundsRequest, key: bytes, id_prefix: str
) -> tuple[datetime, str]:
    def invalid(why: str) -> ValidationError:
        return ValidationError([FieldViolation("page_token", why)], Reason.INVALID_PAGE_TOKEN)

    body, _, signature = request.page_token.partition(".")
    try:
        raw = base64.urlsafe_b64decode(body.encode("ascii") + b"=" * (-len(body) % 4))
    except (ValueError, UnicodeEncodeError, binascii.Error):
        raise invalid("malformed: pass next_page_token unchanged") from None
    if not hmac.compare_digest(signature, _sign(raw, key)):
        raise invalid("not issued by this service: pass next_page_token unchanged")
    try:
        payload = json.loads(raw)
        issued_time = datetime.fromisoformat(payload["t"])
        if issued_time.tzinfo is None:
            raise ValueError("naive time")
        last_time = issued_time.astimezone(UTC)
        last_id = payload["id"]
        filters = payload["f"]
    except (
        ValueError,
        KeyError,
        TypeError,
        OverflowError,
        UnicodeEncodeError,
        binascii.Error,
    ):
        raise invalid("malformed: pass next_page_token unchanged") from None
    if (
        not isinstance(last_id, str)
        or not ids.is_valid(id_prefix, last_id)
        or not _TOKEN_TIMES[0] <= last_time < _TOKEN_TIMES[1]
    ):
        raise invalid("malformed: pass next_page_token unchanged")
    if filters != _filter_hash(request):
        raise invalid("was issued for a request with different filters")
    return last_time, last_id


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _exact_bound(stamp: timestamp_pb2.Timestamp) -> datetime | None:
    """A time filter bound as a datetime, or None if it is not a valid Timestamp.

    Rounded UP to the microsecond: paycore stores times in whole
    microseconds, so for both an inclusive start and an exclusive end,
    rounding up selects exactly the payments the nanosecond bound selects
    (Timestamp.ToDatetime would round down and include one too many).
    """
    if not 0 <= stamp.nanos < 1_000_000_000 or not -62135596800 <= stamp.seconds <= 253402300799:
        return None
    try:
        return _EPOCH + timedelta(seconds=stamp.seconds, microseconds=-(-stamp.nanos // 1000))
    except OverflowError:
        return None


_State = TypeVar("_State")


def _states(
    v: ViolationCollector, values: Iterable[int], known: Mapping[Any, _State]
) -> set[_State]:
    """The domain states a List request filters on (``states`` field), each one known."""
    states: set[_State] = set()
    for index, state in enumerate(values):
        if state not in known:
            v.add(f"states[{index}]", f"unknown or unspecified state {state}")
        else:
            states.add(known[state])
    return states


def _page_size(requested: int) -> int:
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def list_payments(
    merchant_id: str, request: svc.ListPaymentsRequest, token_key: bytes
) -> PaymentQuery:
    """Validate a ListPaymentsRequest (``token_key`` verifies its page token)."""
    v = ViolationCollector()
    if request.page_size < 0:
        v.add("page_size", "must not be negative")
    states = _states(v, request.states, STATE_FROM_PROTO)
    _text(v, "customer_id", request.customer_id, MAX_CUSTOMER_ID)
    start = end = None
    for name in ("create_time_start", "create_time_end"):
        if request.HasField(name):
            stamp = getattr(request, name)
            moment = _exact_bound(stamp)
            if moment is None:
                v.add(name, "is not a valid timestamp")
            elif name == "create_time_start":
                start = moment
            else:
                end = moment
    if start is not None and end is not None and start >= end:
        v.add("create_time_end", "must be after create_time_start")
    v.raise_if_any()
    after = _decode_page_token(request, token_key, ids.PAYMENT) if request.page_token else None
    return PaymentQuery(
        merchant_id=merchant_id,
        page_size=_page_size(request.page_size),
        states=frozenset(states),
        customer_id=request.customer_id,
        created_from=start,
        created_before=end,
        after=after,
    )


def list_refunds(
    merchant_id: str, request: svc.ListRefundsRequest, token_key: bytes
) -> RefundQuery:
    """Validate a ListRefundsRequest (``token_key`` verifies its page token)."""
    v = ViolationCollector()
    if request.page_size < 0:
        v.add("page_size", "must not be negative")
    states = _states(v, request.states, REFUND_STATE_FROM_PROTO)
    if request.payment_id:
        _payment_id(v, request.payment_id)
    v.raise_if_any()
    after = _decode_page_token(request, token_key, ids.REFUND) if request.page_token else None
    return RefundQuery(
        merchant_id=merchant_id,
        page_size=_page_size(request.page_size),
        states=frozenset(states),
        payment_id=request.payment_id,
        after=after,
    )


# --- refund review and merchant settings -------------------------------------------


def _refund_id(v: ViolationCollector, value: str) -> None:
    if not value:
        v.add("refund_id", "required")
    elif not ids.is_valid(ids.REFUND, value):
        v.add("refund_id", "must be a refund id: re_ followed by 26 base32 characters")


def approve_refund(merchant_id: str, request: svc.ApproveRefundRequest) -> ReviewRefund:
    """Validate an ApproveRefundRequest."""
    v = ViolationCollector()
    _request_id(v, request.request_id)
    _refund_id(v, request.refund_id)
    v.raise_if_any()
    return ReviewRefund(merchant_id, request.refund_id)


def reject_refund(merchant_id: str, request: svc.RejectRefundRequest) -> ReviewRefund:
    """Validate a RejectRefundRequest."""
    v = ViolationCollector()
    _request_id(v, request.request_id)
    _refund_id(v, request.refund_id)
    _text(v, "reason", request.reason, MAX_REASON)
    v.raise_if_any()
    return ReviewRefund(merchant_id, request.refund_id, request.reason)


SETTINGS_FIELDS = ("refund_review_thresholds",)


def _thresholds(
    v: ViolationCollector, field: str, values: Iterable[money_pb2.Money]
) -> tuple[Money, ...]:
    """Refund review thresholds: known currencies, non-negative, one per currency."""
    thresholds: list[Money] = []
    seen: set[str] = set()
    for index, message in enumerate(values):
        where = f"{field}[{index}]"
        threshold = _money(v, where, message, positive=False)
        if threshold is None:
            continue
        if threshold.currency in seen:
            v.add(f"{where}.currency_code", f"a second threshold for {threshold.currency}")
            continue
        seen.add(threshold.currency)
        thresholds.append(threshold)
    return tuple(thresholds)


def update_merchant_settings(
    merchant_id: str, request: settings_svc.UpdateMerchantSettingsRequest
) -> MerchantSettingsUpdate:
    """Validate an UpdateMerchantSettingsRequest; an empty mask means every non-empty field."""
    v = ViolationCollector()
    _request_id(v, request.request_id)
    paths = _update_paths(
        v,
        request.update_mask.paths,
        {name: bool(getattr(request.settings, name)) for name in SETTINGS_FIELDS},
    )
    field = "settings.refund_review_thresholds"
    thresholds = _thresholds(v, field, request.settings.refund_review_thresholds)
    v.raise_if_any()
    return MerchantSettingsUpdate(
        merchant_id,
        refund_review_thresholds=thresholds if "refund_review_thresholds" in paths else None,
    )
