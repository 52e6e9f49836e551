"""The RiskService RPCs (admin role): dry-run scoring, review queue, block/allow lists.

Runs through the same pipeline as PaymentService (``core.api.handlers``):
caller, policy, parsing, one error mapping. Request validation for this
service is here, built from ``core.api.validation``'s field checks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import grpc
from google.protobuf import unknown_fields
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from core.api import convert, validation
from core.api.addresses import canonical_ip
from core.api.digits import digits
from core.api.handlers import Handler, service_handler
from core.api.identity import Caller, IdentityResolver
from core.api.serialized import payment_encoder
from core.api.status import encode_error
from core.domain import ids
from core.domain.audit import Actor
from core.domain.errors import FieldViolation, Reason, ValidationError, ViolationCollector
from core.risk.records import ListEntry, ListName
from core.service.execution import Encoder, Reply, RequestIdentity
from core.service.risk_back_office import (
    AddListEntry,
    DecideReview,
    RemoveListEntry,
    RiskService,
    ScoreTransaction,
    is_list_entry_id,
)
from core.telemetry import Telemetry
from paycore.v1 import risk_service_pb2 as risk_svc

SERVICE_NAME = "paycore.v1.RiskService"

Entry = risk_svc.BlocklistEntry
_LISTS = {Entry.LIST_BLOCK: ListName.BLOCK, Entry.LIST_ALLOW: ListName.ALLOW}
_LISTS_TO_PROTO = {v: k for k, v in _LISTS.items()}
_KINDS = {
    Entry.KIND_CARD_FINGERPRINT: "card_fingerprint",
    Entry.KIND_EMAIL: "email",
    Entry.KIND_IP_ADDRESS: "ip",
    Entry.KIND_DEVICE_ID: "device",
    Entry.KIND_BIN: "bin",
    Entry.KIND_CUSTOMER_ID: "customer",
}
_KINDS_TO_PROTO = {v: k for k, v in _KINDS.items()}
MAX_LIST_VALUE = 255
_FINGERPRINT = re.compile("[0-9a-f]{32}")  # core/domain/cards.py fingerprint()


def _serialize(message: Message) -> bytes:
    return message.SerializeToString(deterministic=True)


def entry_to_proto(entry: ListEntry) -> risk_svc.BlocklistEntry:
    """A list entry as its API message."""
    return risk_svc.BlocklistEntry(
        id=entry.id,
        list=_LISTS_TO_PROTO[entry.list],
        kind=_KINDS_TO_PROTO[entry.kind],
        value=entry.value,
        reason=entry.reason,
        create_time=convert.timestamp(entry.created_at),
    )


def _entry_encoder(response_type: Callable[..., Message]) -> Encoder[ListEntry]:
    return Encoder(
        success=lambda entry: _serialize(response_type(entry=entry_to_proto(entry))),
        failure=encode_error,
    )


_APPROVE = payment_encoder(risk_svc.ApproveReviewResponse)
_REJECT = payment_encoder(risk_svc.RejectReviewResponse)
_ADD = _entry_encoder(risk_svc.AddBlocklistEntryResponse)
_REMOVE = _entry_encoder(risk_svc.RemoveBlocklistEntryResponse)


# --- validation -------------------------------------------------------------------


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
        amount = validation._money(v, "amount", request.amount)
    card, token = None, ""
    if request.HasField("payment_method"):
        card, token = validation._payment_method(v, "payment_method", request.payment_method, today)
    validation._text(v, "customer_id", request.customer_id, validation.MAX_CUSTOMER_ID)
    context = validation.risk_context(v, "risk_context", request.risk_context)
    v.raise_if_any()
    assert amount is not None
    return ScoreTransaction(merchant_id, amount, card, token, request.customer_id, context)


def _decide_review(
    merchant_id: str, request_id: str, payment_id: str, note: str, note_field: str
) -> DecideReview:
    v = ViolationCollector()
    validation._request_id(v, request_id)
    validation._payment_id(v, payment_id)
    validation._text(v, note_field, note, validation.MAX_REASON)
    v.raise_if_any()
    return DecideReview(merchant_id, payment_id, note)


def _list_value(v: ViolationCollector, kind: str, value: str) -> str:
    value = value.strip()
    if not value:
        v.add("value", "required")
        return value
    if kind == "email":
        value = value.lower()
        if "@" not in value.strip("@") or len(value) > validation.MAX_EMAIL:
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
    validation._request_id(v, request.request_id)
    if request.list not in _LISTS:
        v.add("list", "required: LIST_BLOCK or LIST_ALLOW")
    kind = _KINDS.get(request.kind, "")
    if not kind:
        v.add("kind", "required: what the value names (KIND_CARD_FINGERPRINT, KIND_EMAIL...)")
    value = _list_value(v, kind, request.value)
    validation._text(v, "reason", request.reason, validation.MAX_REASON)
    v.raise_if_any()
    return AddListEntry(merchant_id, _LISTS[request.list], kind, value, request.reason)


def remove_entry(
    merchant_id: str, request: risk_svc.RemoveBlocklistEntryRequest
) -> RemoveListEntry:
    """Validate a RemoveBlocklistEntryRequest."""
    v = ViolationCollector()
    validation._request_id(v, request.request_id)
    if not is_list_entry_id(request.entry_id):
        v.add("entry_id", "must be a list entry id: rle_ followed by 26 base32 characters")
    v.raise_if_any()
    return RemoveListEntry(merchant_id, request.entry_id)


def _page(request: Any, valid_token: Callable[[str], bool]) -> tuple[str, int]:
    v = ViolationCollector()
    if not 0 <= request.page_size <= validation.MAX_PAGE_SIZE:
        v.add("page_size", f"must be 0 to {validation.MAX_PAGE_SIZE}")
    v.raise_if_any()
    if request.page_token and not valid_token(request.page_token):
        raise ValidationError(
            [FieldViolation("page_token", "malformed: pass next_page_token unchanged")],
            Reason.INVALID_PAGE_TOKEN,
        )
    return request.page_token, request.page_size or validation.DEFAULT_PAGE_SIZE


def _actor(caller: Caller) -> Actor:
    return Actor(role=caller.role.label, key_id=caller.key_id, merchant_id=caller.merchant_id)


def _feature_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- handlers ---------------------------------------------------------------------


class RiskHandlers:
    """One method per RiskService RPC: validate, call the service, convert the answer."""

    def __init__(
        self, service: RiskService, secret: bytes, today: Callable[[], date] | None = None
    ) -> None:
        self._service = service
        self._secret = secret
        self._today = today or (lambda: datetime.now(UTC).date())

    def _identity(self, request: Any) -> RequestIdentity:
        return RequestIdentity(
            request.request_id, validation.request_fingerprint(request, self._secret)
        )

    async def score_transaction(
        self, caller: Caller, request: risk_svc.ScoreTransactionRequest
    ) -> risk_svc.ScoreTransactionResponse:
        command = score_transaction(caller.merchant_id, request, self._today())
        screening = await self._service.score(command)
        verdict = screening.verdict
        return risk_svc.ScoreTransactionResponse(
            assessment=convert.risk_to_proto(verdict.assessment),
            shadow_reasons=list(verdict.shadow),
            features={k: _feature_text(v) for k, v in screening.features.items()},
        )

    async def list_reviews(
        self, caller: Caller, request: risk_svc.ListReviewsRequest
    ) -> risk_svc.ListReviewsResponse:
        after, size = _page(request, lambda t: ids.is_valid(ids.PAYMENT, t))
        reviews, more = await self._service.list_reviews(caller.merchant_id, after, size)
        return risk_svc.ListReviewsResponse(
            reviews=[
                risk_svc.Review(
                    payment=convert.payment_to_proto(q.payment),
                    create_time=convert.timestamp(q.review.created_at),
                )
                for q in reviews
            ],
            next_page_token=reviews[-1].payment.id if more and reviews else "",
        )

    async def approve_review(self, caller: Caller, request: risk_svc.ApproveReviewRequest) -> Reply:
        command = _decide_review(
            caller.merchant_id, request.request_id, request.payment_id, request.note, "note"
        )
        return await self._service.approve_review(
            _actor(caller), command, self._identity(request), _APPROVE
        )

    async def reject_review(self, caller: Caller, request: risk_svc.RejectReviewRequest) -> Reply:
        command = _decide_review(
            caller.merchant_id, request.request_id, request.payment_id, request.reason, "reason"
        )
        return await self._service.reject_review(
            _actor(caller), command, self._identity(request), _REJECT
        )

    async def add_blocklist_entry(
        self, caller: Caller, request: risk_svc.AddBlocklistEntryRequest
    ) -> Reply:
        command = add_entry(caller.merchant_id, request)
        return await self._service.add_entry(_actor(caller), command, self._identity(request), _ADD)

    async def remove_blocklist_entry(
        self, caller: Caller, request: risk_svc.RemoveBlocklistEntryRequest
    ) -> Reply:
        command = remove_entry(caller.merchant_id, request)
        return await self._service.remove_entry(
            _actor(caller), command, self._identity(request), _REMOVE
        )

    async def list_blocklist_entries(
        self, caller: Caller, request: risk_svc.ListBlocklistEntriesRequest
    ) -> risk_svc.ListBlocklistEntriesResponse:
        after, size = _page(request, is_list_entry_id)
        entries, more = await self._service.list_entries(caller.merchant_id, after, size)
        return risk_svc.ListBlocklistEntriesResponse(
            entries=[entry_to_proto(e) for e in entries],
            next_page_token=entries[-1].id if more and entries else "",
        )


def generic_handler(
    handlers: RiskHandlers, identity: IdentityResolver, telemetry: Telemetry | None = None
) -> grpc.GenericRpcHandler[Any, Any]:
    """The RiskService method table for a grpc.aio server."""
    table: dict[str, tuple[type[Message], Handler]] = {
        "ScoreTransaction": (risk_svc.ScoreTransactionRequest, handlers.score_transaction),
        "ListReviews": (risk_svc.ListReviewsRequest, handlers.list_reviews),
        "ApproveReview": (risk_svc.ApproveReviewRequest, handlers.approve_review),
        "RejectReview": (risk_svc.RejectReviewRequest, handlers.reject_review),
        "AddBlocklistEntry": (risk_svc.AddBlocklistEntryRequest, handlers.add_blocklist_entry),
        "RemoveBlocklistEntry": (
            risk_svc.RemoveBlocklistEntryRequest,
            handlers.remove_blocklist_entry,
        ),
        "ListBlocklistEntries": (
            risk_svc.ListBlocklistEntriesRequest,
            handlers.list_blocklist_entries,
        ),
    }
    return service_handler(
        risk_svc.DESCRIPTOR.services_by_name["RiskService"], table, identity, telemetry
    )
