"""DisputeService requests -> validated values (every bad field listed at once)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from core.api.requests import fields
from core.api.requests.pages import cursor_page, listed_states
from core.domain import ids
from core.domain.disputes import (
    EVIDENCE_TEXT_FIELDS,
    MAX_ATTACHMENT_BYTES,
    MAX_ATTACHMENTS,
    MAX_ATTACHMENTS_BYTES,
    MAX_EVIDENCE_TEXT,
    Attachment,
    Dispute,
    Evidence,
)
from core.domain.errors import FieldViolation, Reason, ValidationError, ViolationCollector
from core.ports.disputes import DisputeQuery
from core.wire.disputes import STATUS_FROM_PROTO
from paycore.v1 import dispute_service_pb2 as svc

MAX_RATE_WINDOW = timedelta(days=366)
MAX_FILE_NAME = 200
MAX_CONTENT_TYPE = 100
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][\w!#$&^.+-]*/[A-Za-z0-9][\w!#$&^.+-]*", re.ASCII)
"""type/subtype (RFC 6838 names), without parameters."""


def _dispute_id(v: ViolationCollector, value: str) -> None:
    if not value:
        v.add("dispute_id", "required")
    elif not ids.is_valid(ids.DISPUTE, value):
        v.add("dispute_id", "must be a dispute id: dp_ followed by 26 base32 characters")


def dispute_id_of(request: svc.GetDisputeRequest | svc.AcceptDisputeRequest) -> str:
    """The dispute a Get or Accept request names (Accept: with its request_id checked)."""
    v = ViolationCollector()
    if isinstance(request, svc.AcceptDisputeRequest):
        fields.request_id(v, request.request_id)
    _dispute_id(v, request.dispute_id)
    v.raise_if_any()
    return request.dispute_id


def list_scope(merchant_id: str, request: svc.ListDisputesRequest) -> str:
    """What a page token of this listing is signed for: its merchant and filters (AIP-158).

    The merchant too: another merchant's token is refused, not read as a cursor
    into this merchant's disputes.
    """
    states = ",".join(str(s) for s in sorted(request.states))
    return f"disputes:{merchant_id}:{request.payment_id}:{states}"


def list_disputes(merchant_id: str, request: svc.ListDisputesRequest, key: bytes) -> DisputeQuery:
    """Validate a ListDisputesRequest (``key`` verifies its page token)."""
    v = ViolationCollector()
    statuses = listed_states(v, request.states, STATUS_FROM_PROTO)
    if request.payment_id:
        fields.payment_id(v, request.payment_id)
    v.raise_if_any()
    scope = list_scope(merchant_id, request)
    page_size, cursor = cursor_page(request.page_size, request.page_token, key, scope)
    after = None
    if cursor:
        time_text, _, last_id = cursor.partition("|")
        try:
            after = (datetime.fromisoformat(time_text), last_id)
        except ValueError:  # signed by us, so only a bug gets here
            raise ValidationError(
                [FieldViolation("page_token", "malformed: pass next_page_token unchanged")],
                Reason.INVALID_PAGE_TOKEN,
            ) from None
    return DisputeQuery(merchant_id, page_size, request.payment_id, frozenset(statuses), after)


def page_cursor(last: Dispute) -> str:
    """The cursor text after ``last`` (signed into a page token by the handler)."""
    return f"{last.created_at.isoformat()}|{last.id}"


def _file_name(v: ViolationCollector, field: str, name: str, seen: set[str]) -> None:
    """A file name the acquirer can show: a base name, printable, unique in the submission."""
    if not 0 < len(name) <= MAX_FILE_NAME:
        v.add(field, f"required, at most {MAX_FILE_NAME} characters")
    elif not name.isprintable() or any(c in name for c in "/\\") or name in (".", ".."):
        # A name, not a path: no separators, no control characters (NUL among them).
        v.add(field, "must be a file name: printable, without / or \\")
    elif name in seen:
        v.add(field, f"another attachment is named {name!r} already")
    seen.add(name)


def submit_evidence(request: svc.SubmitEvidenceRequest) -> tuple[str, Evidence]:
    """Validate a SubmitEvidenceRequest: (dispute id, evidence) within the size limits."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    _dispute_id(v, request.dispute_id)
    given = request.evidence
    texts = []
    for name in EVIDENCE_TEXT_FIELDS:
        text = getattr(given, name)
        fields.text(v, f"evidence.{name}", text, MAX_EVIDENCE_TEXT)
        if text:
            texts.append((name, text))
    if len(given.attachments) > MAX_ATTACHMENTS:
        v.add("evidence.attachments", f"at most {MAX_ATTACHMENTS} attachments")
    total = 0
    names: set[str] = set()
    for index, file in enumerate(given.attachments):
        where = f"evidence.attachments[{index}]"
        _file_name(v, f"{where}.file_name", file.file_name, names)
        if not 0 < len(file.content_type) <= MAX_CONTENT_TYPE:
            v.add(f"{where}.content_type", f"required, at most {MAX_CONTENT_TYPE} characters")
        elif not _MEDIA_TYPE.fullmatch(file.content_type):
            v.add(f"{where}.content_type", "must be a media type such as application/pdf")
        if not 0 < len(file.content) <= MAX_ATTACHMENT_BYTES:
            v.add(f"{where}.content", f"must be 1 to {MAX_ATTACHMENT_BYTES} bytes")
        total += len(file.content)
    if total > MAX_ATTACHMENTS_BYTES:
        v.add("evidence.attachments", f"at most {MAX_ATTACHMENTS_BYTES} bytes in all")
    if not texts and not given.attachments:
        v.add("evidence", "required: at least one text field or attachment")
    v.raise_if_any()
    attachments = tuple(
        Attachment(f.file_name, f.content_type, bytes(f.content)) for f in given.attachments
    )
    return request.dispute_id, Evidence(tuple(texts), attachments)


def dispute_rate_window(request: svc.GetDisputeRateRequest) -> tuple[datetime, datetime]:
    """Validate a GetDisputeRateRequest; returns its window [start, end)."""
    v = ViolationCollector()
    bounds: list[datetime] = []
    for name in ("start_time", "end_time"):
        if not request.HasField(name):
            v.add(name, "required")
        elif (moment := fields.timestamp_bound(getattr(request, name))) is None:
            v.add(name, "is not a valid timestamp")
        else:
            bounds.append(moment)
    if len(bounds) == 2:
        start, end = bounds
        if start >= end:
            v.add("end_time", "must be after start_time")
        elif end - start > MAX_RATE_WINDOW:
            v.add("end_time", f"must be at most {MAX_RATE_WINDOW.days} days after start_time")
    v.raise_if_any()
    return bounds[0], bounds[1]
