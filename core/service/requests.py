"""What a mutating request is made of: its identity, its plan, its reply.

The request engine (core/service/execution.py) and its group commit
(core/service/group_commit.py) both speak these types; services and the API
layer import them from execution.py, which re-exports them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from core.domain.attempt import Attempt, ChannelResult
from core.domain.commands import CardInput
from core.domain.errors import PaycoreError
from core.domain.payment import Payment
from core.ports.repository import PaymentTransaction, WrittenPayment

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Reply:
    """The outcome of a mutating request, exactly as it is (or was) sent to the caller.

    ``ok`` says whether ``body`` is the encoded success response or an encoded
    error status; the API layer owns both encodings (see ``Encoder``).
    """

    ok: bool
    body: bytes


@dataclass(frozen=True, slots=True)
class Encoder(Generic[T]):
    """How the API layer turns a result or a business error into reply bytes.

    The service stores these bytes with the change, inside the transaction,
    without knowing that they are protobuf.
    """

    success: Callable[[T], bytes]
    failure: Callable[[PaycoreError], bytes]


@dataclass(frozen=True, slots=True)
class RequestIdentity:
    """The idempotency identity of one request: its request_id and its fingerprint."""

    request_id: str
    fingerprint: bytes


@dataclass(frozen=True, slots=True)
class Dispatch(Generic[T]):
    """A channel call to make after the first transaction commits, and how to apply its answer."""

    attempt: Attempt
    card: CardInput | None
    complete: Callable[[Payment, ChannelResult, datetime], tuple[Payment, T | PaycoreError]]
    failover: Callable[[Payment, datetime], tuple[Payment, Dispatch[T]] | None] | None = None
    """After an answer proving the channel did nothing (``ChannelResult.not_processed``):
    the payment moved to the next channel and the call to make there, or None
    when no channel is left. Never consulted after an UNKNOWN answer."""
    written: WrittenPayment | None = None
    """The payment as a group-committed first transaction wrote it (set by
    core/service/group_commit.py): its answer may then be group-committed in one
    statement (core/service/answer_commit.py). None: claimed the ordinary way."""


@dataclass(frozen=True, slots=True)
class Plan(Generic[T]):
    """What transaction 1 decided: a final result, or a channel call to make."""

    resource_id: str
    result: T | None = None
    dispatch: Dispatch[T] | None = None


Resume = Callable[[PaymentTransaction, str, str], Awaitable[T | None]]
"""Answers a request whose executor died mid-way: ``(tx, merchant_id, resource_id)``.

Returns the result to reply with, or None while the resource is still
unresolved (its channel operation not yet settled by a status query or a
notification). See ``RequestExecutor.execute``.
"""
