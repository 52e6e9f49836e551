"""Resource identifiers: a type prefix and a ULID (time-ordered, 26 chars of Crockford base32)."""

from __future__ import annotations

import re

from ulid import ULID

PAYMENT = "pay"
REFUND = "re"
ATTEMPT = "att"
TOKEN = "tok"
ACCOUNT = "acct"
JOURNAL = "jtx"
SETTLEMENT = "stl"
WITHDRAWAL = "wd"

_ULID_BODY = r"[0-9A-HJKMNP-TV-Z]{26}"
_PATTERNS = {
    prefix: re.compile(rf"{prefix}_{_ULID_BODY}")
    for prefix in (PAYMENT, REFUND, ATTEMPT, TOKEN, ACCOUNT, JOURNAL, SETTLEMENT, WITHDRAWAL)
}


def new_id(prefix: str) -> str:
    """A fresh identifier such as ``pay_01JD0Z8W7X6V5T4S3R2Q1P0N9M``."""
    return f"{prefix}_{ULID()}"


def is_valid(prefix: str, value: str) -> bool:
    """Whether ``value`` has the shape of an identifier of that type."""
    return _PATTERNS[prefix].fullmatch(value) is not None
