"""RiskService requests (admin role) -> validated commands: scoring, reviews, lists."""

from __future__ import annotations

import re
from datetime import date

from google.protobuf import unknown_fields
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from core.api.requests import fields, pages
from core.api.requests.addresses import canonical_ip
from core.api.requests.digits import digits
from core.api.requests.payment_methods import payment_method
from core.api.requests.risk_signals import risk_context
from core.domain.errors import ViolationCollector
from core.domain.risk_records import ListName
from core.service.risk_back_office import (
    AddListEntry,
    DecideReview,
    RemoveListEntry,
    ScoreTransaction,
    is_list_entry_id,
)
from paycore.v1 import risk_service_pb2 as risk_svc

Entry = risk_svc.BlocklistEntry
LISTS = {Entry.LIST_BLOCK: ListName.BLOCK, Entry.LIST_ALLOW: ListName.ALLOW}
"""The lists an entry can be on, by their API value."""
KINDS = {
    Entry.KIND_CARD_FINGERPRINT: "card_fingerprint",
    Entry.KIND_EMAIL: "email",
    Entry.KIND_IP_ADDRESS: "ip",
    Entry.KIND_DEVICE_ID: "device",
    Entry.KIND_BIN: "bin",
    Entry.KIND_CUSTOMER_ID: "customer",
}
"""What an entry's value names, by its API value."""
MAX_LIST_VALUE = 255
_FINGERPRINT = re.compile("[0-9a-f]{32}")  # core/domain/cards.py fingerprint()


def unknown_field_paths(message: Message, prefix: str = "") -> list[str]:
    """Paths of fields the server does not know (sent by a newer or a wrong client)."""
    paths = [
        f"{prefix}#{field.field_number}"
        for field in unknown_fields.UnknownFieldSet(message)  # type: ignore[attr-defined]
    ]
    for descriptor, value in message.ListFields():
        if descriptor.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        path = f"{prefix}{descriptor.name}"
        if descriptor.is_repeated:
            if not descriptor.message_type.GetOptions().map_entry:  # type: ignore[union-attr]
                for i, item in enumerate(value):
                    paths += unknown_field_paths(item, f"{path}[{i}].")
        else:
            paths += unknown_field_paths(value, f"{path}.")
    return paths


def _no_unknown_fields(v: ViolationCollector, request: Message) -> None:
    for path in unknown_field_paths(request):
        v.add(path, "unknown field: not part of this API version")


def score_transaction(
    merchant_id: str, request: risk_svc.ScoreTransactionRequest, today: date
) -> ScoreTransaction:
    """Validate a ScoreTransactionRequest (unknown fields are refused too)."""
    v = ViolationCollector()
    _no_unknown_fields(v, request)
    amount = None
    if not request.HasField("amount"):
        v.add("amount", "required")
    else:
        amount = fields.money(v, "amount", request.amount)
    card, token = None, ""
    if request.HasField("payment_method"):
        card, token = payment_method(v, "payment_method", request.payment_method, today)
    fields.text(v, "customer_id", request.customer_id, fields.MAX_CUSTOMER_ID)
    context = risk_context(v, "risk_context", request.risk_context)
    v.raise_if_any()
    assert amount is not None
    return ScoreTransaction(merchant_id, amount, card, token, request.customer_id, context)


def decide_review(
    merchant_id: str, request_id: str, payment_id: str, note: str, note_field: str
) -> DecideReview:
    """Validate an ApproveReview / RejectReview request (its note is in ``note_field``)."""
    v = ViolationCollector()
    fields.request_id(v, request_id)
    fields.payment_id(v, payment_id)
    fields.text(v, note_field, note, fields.MAX_REASON)
    v.raise_if_any()
    return DecideReview(merchant_id, payment_id, note)


def _list_value(v: ViolationCollector, kind: str, value: str) -> str:
    value = value.strip()
    if not value:
        v.add("value", "required")
        return value
    if kind == "email":
        value = value.lower()
        if "@" not in value.strip("@") or len(value) > fields.MAX_EMAIL:
            v.add("value", "must be an email address")
    elif kind == "ip":
        value = canonical_ip(v, "value", value)
    elif kind == "card_fingerprint":
        # As GetPayment shows it: 32 lower-case hex digits (an upper-case copy would never match).
        value = value.lower()
        if not _FINGERPRINT.fullmatch(value):
            v.add("value", "a card fingerprint is 32 hex digits, as payment_method.card shows it")
    elif kind == "bin":
        digits(v, "value", value, min_length=1, max_length=8, shape="a BIN prefix of 1 to 8 digits")
    elif len(value) > MAX_LIST_VALUE or not all("!" <= c <= "~" for c in value):
        v.add("value", f"must be at most {MAX_LIST_VALUE} printable ASCII characters")
    return value


def add_entry(merchant_id: str, request: risk_svc.AddBlocklistEntryRequest) -> AddListEntry:
    """Validate an AddBlocklistEntryRequest."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    if request.list not in LISTS:
        v.add("list", "required: LIST_BLOCK or LIST_ALLOW")
    kind = KINDS.get(request.kind, "")
    if not kind:
        v.add("kind", "required: what the value names (KIND_CARD_FINGERPRINT, KIND_EMAIL...)")
    value = _list_value(v, kind, request.value)
    fields.text(v, "reason", request.reason, fields.MAX_REASON)
    v.raise_if_any()
    return AddListEntry(merchant_id, LISTS[request.list], kind, value, request.reason)


def remove_entry(
    merchant_id: str, request: risk_svc.RemoveBlocklistEntryRequest
) -> RemoveListEntry:
    """Validate a RemoveBlocklistEntryRequest."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    if not is_list_entry_id(request.entry_id):
        v.add("entry_id", "must be a list entry id: rle_ followed by 26 base32 characters")
    v.raise_if_any()
    return RemoveListEntry(merchant_id, request.entry_id)


def page_scope(request: Message, merchant_id: str) -> str:
    """What a ListReviews / ListBlocklistEntries page token is signed for: the RPC and merchant."""
    return f"{type(request).__name__}:{merchant_id}"


def page(
    request: risk_svc.ListReviewsRequest | risk_svc.ListBlocklistEntriesRequest,
    merchant_id: str,
    key: bytes,
) -> tuple[str, int]:
    """A ListReviews / ListBlocklistEntries page: (the id to list after, the page size).

    The page token is the last id of the previous page, signed (``pages.encode_cursor``)
    for the RPC and the merchant: a forged id, or a token of another listing or
    merchant, is INVALID_PAGE_TOKEN.
    """
    size, after = pages.cursor_page(
        request.page_size, request.page_token, key, page_scope(request, merchant_id)
    )
    return after, size
