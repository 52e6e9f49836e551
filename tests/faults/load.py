"""Load for fault scenarios: concurrent clients that keep request_ids and retry, and a journal.

Each client runs payment journeys one after another until told to stop: create
(automatic or manual capture; some cards are declined), then for a manual one a
capture (full or partial) or a cancel, then for a captured one a refund or two,
sometimes asking for more than is left. Every call carries a request_id, and a call
that gets no answer (UNAVAILABLE while paycore is down, a deadline, ABORTED while
the request is in progress, ...) is sent again, the same request with the same
request_id, until it is answered or ``retry_for_s`` runs out.

The ``Journal`` keeps every answer of every request_id, and the last state of each
payment as an answer acknowledged it; tests/faults/books.py checks PostgreSQL
against it. ``replay`` sends every answered request once more, after the fault:
the same bytes must come back.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
from google.protobuf.message import Message

from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from tests.support.answers import Answer, answer_of, rpc_name
from tests.support.auth import Metadata
from tests.support.requests import (
    CARD_DECLINED,
    VISA,
    card,
    create_request,
    manual_capture,
    new_request_id,
    usd,
)

S = pb.Payment
RETRIED = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
    }
)
"""Codes that are no answer: the same request is sent again. UNKNOWN and INTERNAL are
counted too, and the books check refuses them (a fault is never the client's fault)."""


@dataclass
class Journal:
    """What the clients sent and what came back."""

    requests: dict[str, Message] = field(default_factory=dict)
    """Every request by its request_id."""
    answers: dict[str, list[Answer]] = field(default_factory=dict)
    """Every answer of each request_id, in arrival order (retries included)."""
    acknowledged: dict[str, pb.Payment] = field(default_factory=dict)
    """Each payment as the last OK answer that carried it showed it."""
    codes: Counter[str] = field(default_factory=Counter)
    """Every answer's gRPC code name."""
    unanswered: set[str] = field(default_factory=set)
    """Request ids whose retries ran out without an answer."""
    replayed: int = 0

    def answered(self, request_id: str) -> list[Answer]:
        """The answers of ``request_id`` that are answers (not "try again")."""
        return [a for a in self.answers.get(request_id, []) if a.code not in RETRIED]

    def record(self, request_id: str, answer: Answer) -> None:
        """Keep ``answer``; an OK one updates the payment it acknowledges."""
        self.answers.setdefault(request_id, []).append(answer)
        self.codes[answer.code.name] += 1
        if answer.ok:
            payment = _payment_of(self.requests[request_id], answer)
            self.acknowledged[payment.id] = payment

    async def send(
        self,
        channel: grpc.aio.Channel,
        metadata: Metadata,
        request: Message,
        *,
        call_timeout_s: float,
        retry_for_s: float,
    ) -> Answer | None:
        """Send ``request`` until answered (None if ``retry_for_s`` runs out first)."""
        request_id = request_id_of(request)
        self.requests[request_id] = request
        deadline = time.monotonic() + retry_for_s
        delay = 0.05
        while True:
            answer = await answer_of(channel, metadata, request, deadline_s=call_timeout_s)
            self.record(request_id, answer)
            if answer.code not in RETRIED:
                self.unanswered.discard(request_id)
                return answer
            if time.monotonic() + delay > deadline:
                self.unanswered.add(request_id)
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def replay(
        self, channel: grpc.aio.Channel, metadata: Metadata, *, retry_for_s: float = 30.0
    ) -> None:
        """Send every answered request again (16 at a time); answers are recorded."""
        answered = [r for rid, r in self.requests.items() if self.answered(rid)]
        await self.send_all(channel, metadata, answered, retry_for_s=retry_for_s)

    async def send_all(
        self,
        channel: grpc.aio.Channel,
        metadata: Metadata,
        requests: list[Message],
        *,
        retry_for_s: float = 30.0,
    ) -> None:
        """Send each of ``requests`` until answered, 16 at a time (counted as replayed)."""
        limit = asyncio.Semaphore(16)

        async def again(request: Message) -> None:
            async with limit:
                await self.send(
                    channel, metadata, request, call_timeout_s=10.0, retry_for_s=retry_for_s
                )
                self.replayed += 1

        await asyncio.gather(*(again(request) for request in requests))


def request_id_of(request: Message) -> str:
    """The request_id every mutating request carries."""
    request_id: str = getattr(request, "request_id")  # noqa: B009 (Message does not declare it)
    return request_id


def _payment_of(request: Message, answer: Answer) -> pb.Payment:
    kind = {
        "CreatePayment": svc.CreatePaymentResponse,
        "CapturePayment": svc.CapturePaymentResponse,
        "CancelPayment": svc.CancelPaymentResponse,
        "RefundPayment": svc.RefundPaymentResponse,
    }[rpc_name(request)]
    payment: pb.Payment = answer.response(kind).payment
    return payment


@dataclass(frozen=True)
class LoadShape:
    """How hard and how patiently the clients push."""

    clients: int = 4
    call_timeout_s: float = 5.0
    """Each call's gRPC deadline."""
    retry_for_s: float = 20.0
    """How long one request is retried before the client gives up on it."""
    card_numbers: tuple[str, ...] = (VISA, VISA, VISA, VISA, CARD_DECLINED)
    amounts_minor: tuple[int, ...] = (1000, 2500, 4999)


@dataclass
class Load:
    """Clients running journeys in the background until ``stop()``."""

    channel: grpc.aio.Channel
    metadata: Metadata
    shape: LoadShape = field(default_factory=LoadShape)
    journal: Journal = field(default_factory=Journal)
    seed: int = 0
    journeys: int = 0
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> Load:
        """Start the clients."""
        for index in range(self.shape.clients):
            rng = random.Random(self.seed * 1000 + index)
            self._tasks.append(asyncio.create_task(self._client(rng), name=f"client-{index}"))
        return self

    async def stop(self) -> Journal:
        """Let every journey under way finish (its retries included), then return the journal."""
        self._stopping.set()
        await asyncio.gather(*self._tasks)
        return self.journal

    async def until_journeys(self, count: int, within_s: float = 60.0) -> None:
        """Wait until ``count`` journeys have finished since the start."""
        deadline = time.monotonic() + within_s
        while self.journeys < count:
            for task in self._tasks:
                if task.done():
                    task.result()  # a client that failed fails the scenario
            assert time.monotonic() < deadline, f"{self.journeys} journeys in {within_s} s"
            await asyncio.sleep(0.05)

    async def _client(self, rng: random.Random) -> None:
        while not self._stopping.is_set():
            await self.journey(rng)
            self.journeys += 1

    async def _send(self, request: Message) -> Answer | None:
        shape = self.shape
        return await self.journal.send(
            self.channel,
            self.metadata,
            request,
            call_timeout_s=shape.call_timeout_s,
            retry_for_s=shape.retry_for_s,
        )

    async def journey(self, rng: random.Random) -> None:
        """One payment from creation to its last refund; stops at the first unanswered call."""
        amount = rng.choice(self.shape.amounts_minor)
        fields = {
            "amount": usd(amount // 100, amount % 100),
            "payment_method": card(rng.choice(self.shape.card_numbers)),
        }
        created = await self._send(
            create_request(**(manual_capture(**fields) if rng.random() < 0.5 else fields))
        )
        if created is None or not created.ok:
            return
        payment = created.response(svc.CreatePaymentResponse).payment
        if payment.state == S.STATE_AUTHORIZED:
            if rng.random() < 0.3:
                await self._send(
                    svc.CancelPaymentRequest(request_id=new_request_id(), payment_id=payment.id)
                )
                return
            partial = rng.random() < 0.5
            captured = await self._send(
                svc.CapturePaymentRequest(
                    request_id=new_request_id(),
                    payment_id=payment.id,
                    amount=usd(amount // 200, 0) if partial and amount >= 200 else None,
                )
            )
            if captured is None or not captured.ok:
                return
            payment = captured.response(svc.CapturePaymentResponse).payment
        if payment.state != S.STATE_CAPTURED:
            return
        await self.refunds(payment, rng)

    async def refunds(self, payment: pb.Payment, rng: random.Random) -> None:
        """A third of the captured amount, then (sometimes) all of it again: one is refused."""
        captured = payment.amount_captured.units * 100 + payment.amount_captured.nanos // 10**7
        third = max(captured // 3, 1)
        plans: list[Callable[[], int]] = [lambda: third]
        if rng.random() < 0.5:
            plans.append(lambda: captured)  # more than is left: FAILED_PRECONDITION, replayed
        for plan in plans:
            minor = plan()
            answer = await self._send(
                svc.RefundPaymentRequest(
                    request_id=new_request_id(),
                    payment_id=payment.id,
                    amount=usd(minor // 100, minor % 100),
                )
            )
            if answer is None:
                return
