"""The payment use cases, run by the real executor, risk screen and router over in-memory adapters.

No server: the repository, request gate, channel and risk stores are the in-memory ones of
tests/support/memory*.py, so what runs is core/service/payments/, core/service/execution.py,
core/risk/screen.py with the default rules of riskengine/, and the router's dispatch.
"""

from __future__ import annotations

import pytest

from core.config import RiskSettings
from core.domain.attempt import AttemptOutcome, ChannelResult
from core.domain.commands import CapturePayment, CardInput, CreatePayment, RefundPayment
from core.domain.errors import PaycoreError, Reason
from core.domain.money import Money
from core.domain.payment import CaptureMethod, Failure, Payment, PaymentState, Refund
from core.ledger.journal import Phase
from core.risk.rules_file import RulesFile, default_rules_path
from core.risk.screen import RiskScreen
from core.service.card_vault import CardVault
from core.service.execution import Encoder, RequestExecutor, RequestIdentity
from core.service.payments.service import PaymentService, ServiceSettings
from core.vault.keyring import Keyring
from router import Router
from tests.support.memory import MemoryChannel, MemoryRequestGate
from tests.support.memory_repository import MemoryRepository
from tests.support.memory_risk import MemoryRiskStore, MemoryVelocity
from tests.support.requests import EXP_YEAR, VISA, new_request_id

MERCHANT = "m_payments"
CARD = CardInput(VISA, 12, EXP_YEAR, cvc="123", holder_name="Ada Lovelace")

ENCODER: Encoder[Payment] = Encoder(
    success=lambda payment: f"{payment.id} {payment.state.name}".encode(),
    failure=lambda error: error.reason.name.encode(),
)
"""Replies as "<id> <state>" or the error's reason (protobuf encoding is not under test)."""

REFUND_ENCODER: Encoder[tuple[Refund, Payment]] = Encoder(
    success=lambda done: f"{done[0].id} {done[0].state.name} {done[1].state.name}".encode(),
    failure=lambda error: error.reason.name.encode(),
)


@pytest.fixture
def velocity() -> MemoryVelocity:
    """Velocity counters of the payments screened."""
    return MemoryVelocity()


@pytest.fixture
def payments(
    executor: RequestExecutor,
    repository: MemoryRepository,
    gate: MemoryRequestGate,
    channel: MemoryChannel,
    velocity: MemoryVelocity,
) -> PaymentService:
    """The payment service wired as core/app/ wires it, over the in-memory adapters."""
    vault = CardVault(
        executor=executor,
        repository=repository,
        gate=gate,
        keyring=Keyring({"k1": bytes(range(32))}, "k1"),
        fingerprint_key="test-fingerprint-key",
    )
    screen = RiskScreen(
        engine=RulesFile(default_rules_path()).engine,
        velocity=velocity,
        store=MemoryRiskStore(),
        vault=vault,
        settings=RiskSettings(),
    )
    return PaymentService(
        executor=executor,
        repository=repository,
        gate=gate,
        risk=screen,
        router=Router([channel], timeout_s=1.0),
        settings=ServiceSettings(fingerprint_key="test-fingerprint-key"),
        vault=vault,
        refund_risk=screen,
    )


def create(amount: int = 2_500, capture: CaptureMethod = CaptureMethod.AUTOMATIC) -> CreatePayment:
    """A card payment of ``amount`` cents."""
    return CreatePayment(MERCHANT, Money(amount, "USD"), CARD, capture_method=capture)


def identity(request_id: str | None = None, what: bytes = b"create") -> RequestIdentity:
    """A request's identity: its request_id and a fingerprint of what it asks."""
    return RequestIdentity(request_id or new_request_id(), what)


async def stored(repository: MemoryRepository, reply_body: bytes) -> Payment:
    """The committed payment a reply names."""
    payment = await repository.get_payment(MERCHANT, reply_body.decode().split()[0])
    assert payment is not None
    return payment


async def test_a_card_payment_is_scored_routed_and_captured_once(
    payments: PaymentService,
    repository: MemoryRepository,
    channel: MemoryChannel,
    velocity: MemoryVelocity,
) -> None:
    reply = await payments.create_payment(create(), identity(), ENCODER)

    assert reply.ok, reply.body
    payment = await stored(repository, reply.body)
    assert payment.state is PaymentState.CAPTURED
    assert payment.amount_captured == Money(2_500, "USD")
    assert payment.risk is not None and payment.risk.score >= 0
    assert [operation for operation, _ in channel.calls] == ["authorize"]
    assert sum(velocity.counted.values()) == 1


async def test_a_repeated_request_id_replays_the_reply_without_a_second_charge(
    payments: PaymentService, channel: MemoryChannel, velocity: MemoryVelocity
) -> None:
    request = identity()

    first = await payments.create_payment(create(), request, ENCODER)
    again = await payments.create_payment(create(), request, ENCODER)

    assert again == first
    assert len(channel.calls) == 1
    assert sum(velocity.counted.values()) == 1


async def test_the_same_request_id_with_other_content_is_refused(
    payments: PaymentService, channel: MemoryChannel
) -> None:
    request_id = new_request_id()
    await payments.create_payment(create(), identity(request_id), ENCODER)

    with pytest.raises(PaycoreError) as refused:
        await payments.create_payment(create(9_900), identity(request_id, b"other"), ENCODER)

    assert refused.value.reason is Reason.IDEMPOTENCY_KEY_REUSED
    assert len(channel.calls) == 1


async def test_a_declined_authorization_leaves_the_payment_declined_and_uncaptured(
    payments: PaymentService, repository: MemoryRepository, channel: MemoryChannel
) -> None:
    channel.answer = ChannelResult(
        AttemptOutcome.DECLINED, failure=Failure("card_declined", "Your card was declined.")
    )

    reply = await payments.create_payment(create(), identity(), ENCODER)

    payment = await stored(repository, reply.body)
    assert payment.state is PaymentState.DECLINED
    assert payment.amount_captured == Money(0, "USD")


async def test_a_refund_never_exceeds_what_was_captured(
    payments: PaymentService, repository: MemoryRepository, channel: MemoryChannel
) -> None:
    created = await payments.create_payment(
        create(capture=CaptureMethod.MANUAL), identity(), ENCODER
    )
    payment = await stored(repository, created.body)
    captured = await payments.capture_payment(
        CapturePayment(MERCHANT, payment.id, Money(1_000, "USD")),
        identity(what=b"capture"),
        ENCODER,
    )
    assert captured.ok, captured.body

    too_much = await payments.refund_payment(
        RefundPayment(MERCHANT, payment.id, Money(1_001, "USD")),
        identity(what=b"refund"),
        REFUND_ENCODER,
    )
    refunded = await payments.refund_payment(
        RefundPayment(MERCHANT, payment.id, Money(1_000, "USD")),
        identity(what=b"refund"),
        REFUND_ENCODER,
    )

    assert (too_much.ok, too_much.body) == (False, Reason.REFUND_EXCEEDS_CAPTURED.name.encode())
    assert refunded.ok, refunded.body
    after = await stored(repository, created.body)
    assert after.amount_refunded == Money(1_000, "USD") == after.amount_captured
    assert after.state is PaymentState.REFUNDED
    assert [operation for operation, _ in channel.calls] == ["authorize", "capture", "refund"]


async def test_a_capture_moves_its_money_and_announces_it_with_the_payment(
    payments: PaymentService, repository: MemoryRepository
) -> None:
    # The use cases hand storage each change's postings and events (core/service/
    # payment_changes.py): the in-memory repository keeps exactly what it was given.
    created = await payments.create_payment(
        create(capture=CaptureMethod.MANUAL), identity(), ENCODER
    )
    payment = await stored(repository, created.body)
    assert [(t.id, t.phase) for t in repository.state.postings] == [
        (f"{payment.id}:hold", Phase.PENDING)
    ]

    captured = await payments.capture_payment(
        CapturePayment(MERCHANT, payment.id, Money(1_000, "USD")),
        identity(what=b"capture"),
        ENCODER,
    )

    assert captured.ok, captured.body
    capture = repository.state.postings[-1]
    assert (capture.id, capture.phase, capture.pending_id) == (
        f"{payment.id}:capture",
        Phase.POST_PENDING,
        f"{payment.id}:hold",
    )
    assert sorted(entry.amount for entry in capture.entries) == [-1_000, 1_000]
    assert [(event.type, event.resource_id) for event in repository.state.events] == [
        ("payment.created", payment.id),
        ("payment.authorized", payment.id),
        ("payment.succeeded", payment.id),
    ]
    assert repository.state.events[-1].payment == await stored(repository, created.body)
