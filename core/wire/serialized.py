"""One serialisation of a payment per change (issue 18).

A change of a payment is needed as ``paycore.v1.Payment`` bytes up to three
times: the event snapshots of the outbox, the reply, and the idempotency
record (which stores the reply). ``payment_bytes`` builds the message once per
``Payment`` value and hands the same bytes to all of them; ``payment_reply``
wraps them as a response whose only field is the payment without parsing or
building the message again.

Keyed by identity: a ``Payment`` is frozen (its metadata a read-only copy), so
one value always serialises to the same bytes, and the memo keeps a reference
to each value it holds so that an ``id`` is never reused while remembered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from google.protobuf.message import Message

from core.domain.payment import Payment
from core.wire import convert

_REMEMBERED = 256
"""Payments remembered: far more than one event loop has between a change and its reply."""

_memo: dict[int, tuple[Payment, bytes]] = {}


def payment_bytes(payment: Payment) -> bytes:
    """``payment`` as serialized ``paycore.v1.Payment`` (deterministic), built once per value."""
    remembered = _memo.get(id(payment))
    if remembered is not None and remembered[0] is payment:
        return remembered[1]
    data = convert.payment_to_proto(payment).SerializeToString(deterministic=True)
    if len(_memo) >= _REMEMBERED:
        del _memo[next(iter(_memo))]  # the oldest (dicts keep insertion order)
    _memo[id(payment)] = (payment, data)
    return data


def payment_reply(response_type: Callable[..., Message]) -> Callable[[Payment], bytes]:
    """Encodes ``response_type(payment=...)`` from ``payment_bytes``, byte for byte.

    A message with one length-delimited field set serialises as that field's
    key, the length and the bytes; the response types given here have no other
    field set (checked once, at import, by ``tests/api/test_serialized.py``).
    """
    number = response_type.DESCRIPTOR.fields_by_name["payment"].number  # type: ignore[attr-defined]
    key = _varint(number << 3 | 2)  # wire type 2: length-delimited

    def encode(payment: Payment) -> bytes:
        data = payment_bytes(payment)
        return b"".join((key, _varint(len(data)), data))

    return encode


def payments_field(response_type: type[Message], field: str, payments: Iterable[Payment]) -> bytes:
    """``response_type(<field>=payments)`` serialized, byte for byte, with nothing else set.

    For reads: each payment is converted and serialized once, straight into the
    reply, instead of being copied into a response message that is serialized
    again (and, unlike ``payment_bytes``, not remembered: a read's Payment is
    never encoded twice). Append other fields' bytes after it only in field
    number order (deterministic serialization orders fields by number).
    """
    number = response_type.DESCRIPTOR.fields_by_name[field].number
    key = _varint(number << 3 | 2)  # wire type 2: length-delimited
    parts: list[bytes] = []
    for payment in payments:
        data = convert.payment_to_proto(payment).SerializeToString(deterministic=True)
        parts += (key, _varint(len(data)), data)
    return b"".join(parts)


def _varint(value: int) -> bytes:
    """``value`` (>= 0) as a protobuf base-128 varint."""
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
