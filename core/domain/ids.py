"""Resource identifiers: a type prefix and a ULID (time-ordered, 26 chars of Crockford base32).

The ULIDs are made here rather than by ``python-ulid``'s ``ULID()`` (an
object, a generator policy and a base32 loop per id, 1 % of a payment's CPU):
same layout (48-bit Unix milliseconds, then 80 random bits), same encoding,
and the same strict monotonicity within a millisecond, so ids of one process
sort in the order they were made.
"""

from __future__ import annotations

import os
import re
import threading
import time

PAYMENT = "pay"
REFUND = "re"
ATTEMPT = "att"
TOKEN = "tok"
ACCOUNT = "acct"
JOURNAL = "jtx"
SETTLEMENT = "stl"
WITHDRAWAL = "wd"
CUSTOMER = "cus"
MANDATE = "man"
DISPUTE = "dp"
PRICE = "price"
SUBSCRIPTION = "sub"
INVOICE = "in"

_ULID_BODY = r"[0-9A-HJKMNP-TV-Z]{26}"
_PATTERNS = {
    prefix: re.compile(rf"{prefix}_{_ULID_BODY}")
    for prefix in (
        PAYMENT,
        REFUND,
        ATTEMPT,
        TOKEN,
        ACCOUNT,
        JOURNAL,
        SETTLEMENT,
        WITHDRAWAL,
        CUSTOMER,
        MANDATE,
        DISPUTE,
        PRICE,
        SUBSCRIPTION,
        INVOICE,
    )
}

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = tuple(high + low for high in _CROCKFORD for low in _CROCKFORD)
"""Every two-character group by its 10-bit value.

A ULID's 26 characters are 130 bits: 2 zero bits and the 48-bit time in the
first 10 characters, the 80 random bits in the last 16; each part is a few
pair lookups, written out (a loop and a join cost more than the lookups).
"""
_MAX_RANDOMNESS = (1 << 80) - 1


class _Generator:
    """Strictly monotonic ULIDs as integers (``python-ulid``'s StrictMonotonicPolicy).

    Within one millisecond each id is the previous one plus one, so ids of a
    process never tie and sort in creation order; a new millisecond takes
    80 fresh random bits. The lock keeps that true across threads.

    The random bits come from ``os.urandom`` as before, read 4 KiB at a time:
    one getrandom(2) per id cost more than the rest of making it. A forked
    child drops what it inherited (state and unread bytes), or a parent and
    its children would hand out the same ids.
    """

    __slots__ = ("_lock", "_ms", "_pool", "_randomness", "_taken")

    _POOL_BYTES = 4096

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the last id and the unread random bytes (a new process).

        The lock is new too: a child forked while another thread held it
        would otherwise wait for it forever.
        """
        self._lock = threading.Lock()
        self._ms = -1
        self._randomness = 0
        self._pool = b""
        self._taken = 0

    def _random80(self) -> int:
        start = self._taken
        if start + 10 > len(self._pool):
            self._pool = os.urandom(self._POOL_BYTES)
            start = 0
        self._taken = start + 10
        return int.from_bytes(self._pool[start : start + 10])

    def next(self) -> int:
        """The next ULID of this process, as a 128-bit integer."""
        ms = time.time_ns() // 1_000_000
        with self._lock:
            if ms == self._ms:
                if self._randomness == _MAX_RANDOMNESS:
                    # 2**80 ids in one millisecond: as python-ulid, refuse.
                    raise ValueError("ULID randomness within same millisecond exhausted")
                self._randomness += 1
            else:
                self._ms = ms
                self._randomness = self._random80()
            return ms << 80 | self._randomness


_generator = _Generator()
os.register_at_fork(after_in_child=_generator.reset)


def _time_text(ms: int, p: tuple[str, ...] = _PAIRS) -> str:
    return p[ms >> 40] + p[ms >> 30 & 1023] + p[ms >> 20 & 1023] + p[ms >> 10 & 1023] + p[ms & 1023]


def _randomness_text(r: int, p: tuple[str, ...] = _PAIRS) -> str:
    return (
        p[r >> 70]
        + p[r >> 60 & 1023]
        + p[r >> 50 & 1023]
        + p[r >> 40 & 1023]
        + p[r >> 30 & 1023]
        + p[r >> 20 & 1023]
        + p[r >> 10 & 1023]
        + p[r & 1023]
    )


def encode_ulid(value: int) -> str:
    """The 26-character Crockford base32 text of a 128-bit ULID."""
    return _time_text(value >> 80) + _randomness_text(value & _MAX_RANDOMNESS)


_last_time_text = (-1, "")
"""The last millisecond encoded and its text: the ids of one request share a few."""


def new_id(prefix: str) -> str:
    """A fresh identifier such as ``pay_01JD0Z8W7X6V5T4S3R2Q1P0N9M``."""
    global _last_time_text  # noqa: PLW0603 - a one-entry cache, replaced whole (thread-safe)
    value = _generator.next()
    ms = value >> 80
    cached = _last_time_text
    if cached[0] != ms:
        cached = _last_time_text = (ms, _time_text(ms))
    return f"{prefix}_{cached[1]}{_randomness_text(value & _MAX_RANDOMNESS)}"


def is_valid(prefix: str, value: str) -> bool:
    """Whether ``value`` has the shape of an identifier of that type."""
    return _PATTERNS[prefix].fullmatch(value) is not None
