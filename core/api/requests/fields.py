"""The field checks every request shares: ids, text, money, metadata, emails, durations.

Each adds a violation naming ``field`` (a path in the request message) to the
collector ``v`` and lets the caller go on, so that all of a request's mistakes
are reported together.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from urllib.parse import urlsplit

from google.protobuf import duration_pb2, timestamp_pb2
from google.type import money_pb2

from core.domain import ids
from core.domain.errors import ViolationCollector
from core.domain.money import AmountError, CurrencyError, Money
from core.domain.payment import RESERVED_PREFIX

MAX_REQUEST_ID = 255
MAX_CUSTOMER_ID = 255
MAX_DESCRIPTION = 1000
MAX_REASON = 500
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY = 40
MAX_METADATA_VALUE = 500
MAX_EMAIL = 254


def request_id(v: ViolationCollector, value: str) -> None:
    """The idempotency key: required, at most MAX_REQUEST_ID visible ASCII characters."""
    if not value:
        v.add("request_id", "required: an idempotency key unique to this request (e.g. a UUID)")
    elif len(value) > MAX_REQUEST_ID:
        v.add("request_id", f"must be at most {MAX_REQUEST_ID} characters")
    elif not visible_ascii(value):
        v.add("request_id", "must be printable ASCII without spaces")


def visible_ascii(value: str) -> bool:
    """Whether every character is printable ASCII other than the space (``!`` to ``~``).

    str methods instead of a loop over the characters: among ASCII, only the
    space is printable and outside ``!``..``~``.
    """
    return value.isascii() and value.isprintable() and " " not in value


def payment_id(v: ViolationCollector, value: str, field: str = "payment_id") -> None:
    """A required payment id (pay_ and 26 base32 characters)."""
    if not value:
        v.add(field, "required")
    elif not ids.is_valid(ids.PAYMENT, value):
        v.add(field, "must be a payment id: pay_ followed by 26 base32 characters")


def token_id(v: ViolationCollector, field: str, value: str) -> None:
    """A required card token id (tok_ and 26 base32 characters)."""
    if not value:
        v.add(field, "required")
    elif not ids.is_valid(ids.TOKEN, value):
        v.add(field, "must be a card token: tok_ followed by 26 base32 characters")


MAX_URL = 2048


def web_url(v: ViolationCollector, field: str, value: str) -> None:
    """An optional absolute http:// or https:// URL with a host (empty: not given)."""
    if not value:
        return
    if len(value) > MAX_URL:
        v.add(field, f"must be at most {MAX_URL} characters")
        return
    try:
        parts = urlsplit(value)
        usable = parts.scheme in {"http", "https"} and bool(parts.hostname)
        _ = parts.port  # raises for a port out of range
    except ValueError:
        usable = False
    if not usable or any(c.isspace() for c in value):
        v.add(field, "must be an http:// or https:// URL with a host")


def text(v: ViolationCollector, field: str, value: str, limit: int) -> None:
    """Free text of at most ``limit`` characters that PostgreSQL can store."""
    if len(value) > limit:
        v.add(field, f"must be at most {limit} characters")
    elif "\x00" in value:
        # PostgreSQL text cannot hold U+0000; refuse it here, not as a storage error.
        v.add(field, "must not contain the NUL character (U+0000)")


def money(
    v: ViolationCollector, field: str, message: money_pb2.Money, *, positive: bool = True
) -> Money | None:
    """The amount in a known currency (greater than zero when ``positive``); None if invalid."""
    try:
        amount = Money.from_units_nanos(message.currency_code, message.units, message.nanos)
    except CurrencyError as exc:
        v.add(f"{field}.currency_code", str(exc))
        return None
    except AmountError as exc:
        v.add(field, str(exc))
        return None
    if positive and amount.is_zero():
        v.add(field, "must be greater than zero")
        return None
    return amount


def metadata(v: ViolationCollector, field: str, values: Mapping[str, str]) -> Mapping[str, str]:
    """A merchant's metadata: bounded keys and values, none in paycore's reserved namespace."""
    if len(values) > MAX_METADATA_KEYS:
        v.add(field, f"at most {MAX_METADATA_KEYS} keys")
    for key, value in values.items():
        where = f"{field}[{key[:MAX_METADATA_KEY]!r}]"
        if not key or len(key) > MAX_METADATA_KEY:
            v.add(where, f"keys must be 1 to {MAX_METADATA_KEY} characters")
        elif "\x00" in key:
            v.add(where, "keys must not contain the NUL character (U+0000)")
        elif key.startswith(RESERVED_PREFIX):
            v.add(where, f"keys starting with {RESERVED_PREFIX!r} are set by paycore only")
        text(v, where, value, MAX_METADATA_VALUE)
    return MappingProxyType(dict(values))


def is_email(email: str) -> bool:
    """Whether ``email`` looks like an address (of at most MAX_EMAIL characters)."""
    return len(email) <= MAX_EMAIL and "@" in email.strip("@") and " " not in email


def update_paths(
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


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp_bound(stamp: timestamp_pb2.Timestamp) -> datetime | None:
    """A Timestamp (a time filter's bound, a start time) as a datetime; None if not valid.

    Rounded UP to the microsecond: paycore stores times in whole
    microseconds, so for both an inclusive start and an exclusive end,
    rounding up selects exactly the rows the nanosecond bound selects
    (Timestamp.ToDatetime would round down and include one too many).
    """
    if not 0 <= stamp.nanos < 1_000_000_000 or not -62135596800 <= stamp.seconds <= 253402300799:
        return None
    try:
        return _EPOCH + timedelta(seconds=stamp.seconds, microseconds=-(-stamp.nanos // 1000))
    except OverflowError:
        return None
