"""The RiskService RPCs (admin role): dry-run scoring, review queue, block/allow lists.

Runs through the same pipeline as PaymentService (``core.api.pipeline``):
caller, policy, parsing, one error mapping. Validation is in
``core.api.requests.risk``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import grpc
from google.protobuf.message import Message

from core.api.identity import Caller, IdentityResolver
from core.api.pipeline import Handler, service_handler
from core.api.replies import payment_encoder
from core.api.requests import risk as validation
from core.api.requests.fingerprint import request_identity
from core.api.requests.pages import encode_cursor
from core.api.status import encode_error
from core.domain.audit import Actor
from core.domain.risk_records import ListEntry
from core.service.execution import Encoder, Reply, RequestIdentity
from core.service.risk_back_office import RiskService
from core.telemetry import Telemetry
from core.wire import convert
from paycore.v1 import risk_service_pb2 as risk_svc

SERVICE_NAME = "paycore.v1.RiskService"

_LISTS_TO_PROTO = {v: k for k, v in validation.LISTS.items()}
_KINDS_TO_PROTO = {v: k for k, v in validation.KINDS.items()}


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


def _actor(caller: Caller) -> Actor:
    return Actor(role=caller.role.label, key_id=caller.key_id, merchant_id=caller.merchant_id)


def _feature_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class RiskHandlers:
    """One method per RiskService RPC: validate, call the service, convert the answer."""

    def __init__(
        self, service: RiskService, secret: bytes, today: Callable[[], date] | None = None
    ) -> None:
        self._service = service
        self._secret = secret
        self._today = today or (lambda: datetime.now(UTC).date())

    def _identity(self, request: Any) -> RequestIdentity:
        return request_identity(request, self._secret)

    async def score_transaction(
        self, caller: Caller, request: risk_svc.ScoreTransactionRequest
    ) -> risk_svc.ScoreTransactionResponse:
        command = validation.score_transaction(caller.merchant_id, request, self._today())
        screening = await self._service.score(command)
        verdict = screening.verdict
        return risk_svc.ScoreTransactionResponse(
            assessment=convert.risk_to_proto(verdict.assessment),
            shadow_reasons=list(verdict.shadow),
            features={k: _feature_text(v) for k, v in screening.features.items()},
        )

    def _next_page_token(self, caller: Caller, request: Message, last_id: str) -> str:
        """The signed token of the page after ``last_id`` ("" on the last page)."""
        if not last_id:
            return ""
        scope = validation.page_scope(request, caller.merchant_id)
        return encode_cursor(last_id, self._secret, scope)

    async def list_reviews(
        self, caller: Caller, request: risk_svc.ListReviewsRequest
    ) -> risk_svc.ListReviewsResponse:
        after, size = validation.page(request, caller.merchant_id, self._secret)
        reviews, more = await self._service.list_reviews(caller.merchant_id, after, size)
        return risk_svc.ListReviewsResponse(
            reviews=[
                risk_svc.Review(
                    payment=convert.payment_to_proto(q.payment),
                    create_time=convert.timestamp(q.review.created_at),
                )
                for q in reviews
            ],
            next_page_token=self._next_page_token(
                caller, request, reviews[-1].payment.id if more and reviews else ""
            ),
        )

    async def approve_review(self, caller: Caller, request: risk_svc.ApproveReviewRequest) -> Reply:
        command = validation.decide_review(
            caller.merchant_id, request.request_id, request.payment_id, request.note, "note"
        )
        return await self._service.approve_review(
            _actor(caller), command, self._identity(request), _APPROVE
        )

    async def reject_review(self, caller: Caller, request: risk_svc.RejectReviewRequest) -> Reply:
        command = validation.decide_review(
            caller.merchant_id, request.request_id, request.payment_id, request.reason, "reason"
        )
        return await self._service.reject_review(
            _actor(caller), command, self._identity(request), _REJECT
        )

    async def add_blocklist_entry(
        self, caller: Caller, request: risk_svc.AddBlocklistEntryRequest
    ) -> Reply:
        command = validation.add_entry(caller.merchant_id, request)
        return await self._service.add_entry(_actor(caller), command, self._identity(request), _ADD)

    async def remove_blocklist_entry(
        self, caller: Caller, request: risk_svc.RemoveBlocklistEntryRequest
    ) -> Reply:
        command = validation.remove_entry(caller.merchant_id, request)
        return await self._service.remove_entry(
            _actor(caller), command, self._identity(request), _REMOVE
        )

    async def list_blocklist_entries(
        self, caller: Caller, request: risk_svc.ListBlocklistEntriesRequest
    ) -> risk_svc.ListBlocklistEntriesResponse:
        after, size = validation.page(request, caller.merchant_id, self._secret)
        entries, more = await self._service.list_entries(caller.merchant_id, after, size)
        return risk_svc.ListBlocklistEntriesResponse(
            entries=[entry_to_proto(e) for e in entries],
            next_page_token=self._next_page_token(
                caller, request, entries[-1].id if more and entries else ""
            ),
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
