"""Page tokens and page sizes of the List RPCs, signed so that only paycore's come back.

Two kinds of token: ``encode_page_token`` / ``decode_page_token`` name the last
payment or refund of a page and the request's filters; ``encode_cursor`` /
``cursor_page`` carry any cursor text for one scope (a statement, a listing).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from google.protobuf.message import Message

from core.domain import ids
from core.domain.errors import FieldViolation, Reason, ValidationError, ViolationCollector
from paycore.v1 import payment_service_pb2 as svc

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def cursor_page(page_size: int, page_token: str, key: bytes, scope: str) -> tuple[int, str]:
    """Validate a page size and a signed cursor token (from ``encode_cursor``) of ``scope``.

    Returns (page size, cursor; "" for the first page).
    """
    v = ViolationCollector()
    if not 0 <= page_size <= MAX_PAGE_SIZE:
        v.add("page_size", f"must be between 0 and {MAX_PAGE_SIZE}")
    v.raise_if_any()
    return page_size or DEFAULT_PAGE_SIZE, signed_cursor(page_token, key, scope)


def signed_cursor(page_token: str, key: bytes, scope: str) -> str:
    """The cursor of a token ``encode_cursor`` signed for ``scope`` ("" for no token).

    Anything else (forged, edited, of another listing, filters or merchant) is
    INVALID_PAGE_TOKEN.
    """
    if not page_token:
        return ""
    body, _, signature = page_token.partition(".")
    try:
        raw = base64.urlsafe_b64decode(body.encode("ascii") + b"=" * (-len(body) % 4))
    except (ValueError, UnicodeEncodeError, binascii.Error):
        raw = b""
    if not raw or not _same(signature, _cursor_signature(scope, raw, key)):
        raise ValidationError(
            [FieldViolation("page_token", "malformed: pass next_page_token unchanged")],
            Reason.INVALID_PAGE_TOKEN,
        )
    return raw.decode()


def encode_cursor(cursor: str, key: bytes, scope: str) -> str:
    """A signed page token for ``cursor`` (opaque to callers), valid only for ``scope``."""
    raw = cursor.encode()
    body = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return f"{body}.{_cursor_signature(scope, raw, key)}"


def _cursor_signature(scope: str, raw: bytes, key: bytes) -> str:
    # The scope is signed too: a token of one listing is refused by another.
    return _sign(scope.encode() + b"\0" + raw, key)


def _filter_hash(request: Message, merchant_id: str) -> str:
    """Identifies a request's filters and caller, so a page token cannot be reused with other
    filters or by another merchant."""
    copy = type(request)()
    copy.CopyFrom(request)
    copy.ClearField("page_token")
    copy.ClearField("page_size")  # AIP-158: page size may change between pages
    scope = merchant_id.encode() + b"\0" + copy.SerializeToString(deterministic=True)
    return hashlib.sha256(scope).hexdigest()[:16]


def _same(presented: str, expected: str) -> bool:
    """Constant-time comparison of a caller's signature with ours.

    As bytes: ``hmac.compare_digest`` refuses two ``str`` with non-ASCII characters
    (TypeError), and a page token is whatever text the caller sent.
    """
    return hmac.compare_digest(presented.encode(), expected.encode())


def _sign(payload: bytes, key: bytes) -> str:
    digest = hmac.new(key, payload, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def encode_page_token(
    request: Message, merchant_id: str, last_time: datetime, last_id: str, key: bytes
) -> str:
    """An opaque, signed token naming the last item returned and the request's filters.

    ``request`` is a List request (ListPayments, ListRefunds) of ``merchant_id``;
    its filters and the merchant are hashed into the token, and the request
    type with them.

    Signed with the server secret so that a token cannot be forged or edited:
    what comes back is exactly what paycore issued (merchant scoping makes a
    forged token harmless, but answering it would invite guessing).
    """
    payload = json.dumps(
        {"t": last_time.isoformat(), "id": last_id, "f": _filter_hash(request, merchant_id)},
        separators=(",", ":"),
    ).encode()
    body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    return f"{body}.{_sign(payload, key)}"


# Payments are created "now"; a token time outside this range was not issued by paycore.
_TOKEN_TIMES = (datetime(2000, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC))


def decode_page_token(
    request: svc.ListPaymentsRequest | svc.ListRefundsRequest,
    merchant_id: str,
    key: bytes,
    id_prefix: str,
) -> tuple[datetime, str]:
    """The (time, id) of the last item before the page ``request.page_token`` asks for.

    Refused unless paycore issued the token to ``merchant_id`` for a request with
    the same filters.
    """

    def invalid(why: str) -> ValidationError:
        return ValidationError([FieldViolation("page_token", why)], Reason.INVALID_PAGE_TOKEN)

    body, _, signature = request.page_token.partition(".")
    try:
        raw = base64.urlsafe_b64decode(body.encode("ascii") + b"=" * (-len(body) % 4))
    except (ValueError, UnicodeEncodeError, binascii.Error):
        raise invalid("malformed: pass next_page_token unchanged") from None
    if not _same(signature, _sign(raw, key)):
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
    if filters != _filter_hash(request, merchant_id):
        raise invalid("was issued for a request with different filters, or to another merchant")
    return last_time, last_id


_State = TypeVar("_State")


def listed_states(
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


def page_size(requested: int) -> int:
    """The page size a List request gets: its own, or the default, up to the maximum."""
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
