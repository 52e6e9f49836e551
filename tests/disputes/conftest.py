"""A paycore of the test's own over one simulated acquirer that notifies disputes.

``DisputeStack.notify`` posts a dispute notification signed with the
acquirer's callback secret to the real ingress, exactly as the channel would
(router/channels/acquirer_wire.py); the merchant's DisputeService,
AccountService and WebhookService stubs talk to the same server.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiohttp import ClientSession

from core.auth.policy import Role
from core.config import Settings
from core.domain.disputes import ChannelVerdict, DisputeKind, DisputeNotice
from core.domain.money import Money
from core.telemetry import Telemetry
from paycore.v1 import account_service_pb2 as acc
from paycore.v1 import account_service_pb2_grpc, dispute_service_pb2_grpc
from paycore.v1 import dispute_service_pb2 as dsvc
from paycore.v1 import payment_pb2 as pb
from router.channels.acquirer_wire import dispute_notice_to_wire
from router.channels.simulated import ACQUIRER_A, SimulatedAcquirer
from router.signing import SIGNATURE_HEADER, sign
from tests.routing.conftest import CALLBACK_SECRET, Served, renamed, serve
from tests.support.auth import Metadata, merchant_metadata
from tests.support.requests import cents


@dataclass
class DisputeStack:
    """One test's paycore, its acquirer, and the merchant's stubs."""

    served: Served
    acquirer: SimulatedAcquirer
    disputes: Any
    """DisputeService stub."""
    accounts: Any
    """AccountService stub."""
    channel: grpc.aio.Channel
    """The gRPC channel of the stubs (for more of them)."""

    @property
    def metadata(self) -> Any:
        """The merchant's call metadata."""
        return self.served.api.metadata

    async def notify(
        self,
        payment: pb.Payment,
        verdict: str = "opened",
        *,
        amount: int | None = None,
        kind: str = "chargeback",
        reference: str = "",
        event_id: str = "",
        secret: bytes = CALLBACK_SECRET,
        attempt_id: str = "",
        due_in: timedelta = timedelta(days=7),
    ) -> tuple[int, str]:
        """POST the acquirer's signed dispute notification about ``payment``."""
        notice = DisputeNotice(
            event_id=event_id or f"evt_{uuid.uuid4().hex}",
            attempt_id=attempt_id or payment.attempts[0].id,
            reference=reference or f"ch_dp_{payment.id}",
            kind=DisputeKind(kind),
            verdict=ChannelVerdict(verdict),
            amount=Money(cents(payment.amount) if amount is None else amount, "USD"),
            reason="fraudulent",
            evidence_due_at=datetime.now(UTC).replace(microsecond=0) + due_in,
        )
        body = json.dumps(dispute_notice_to_wire(notice)).encode()
        url = f"{self.served.callbacks_url}/callbacks/{self.acquirer.name}/disputes"
        headers = {SIGNATURE_HEADER: sign(secret, body, int(time.time()))}
        async with ClientSession() as session, session.post(url, data=body, headers=headers) as r:
            return r.status, await r.text()

    async def disputes_of(self, payment_id: str) -> list[Any]:
        """ListDisputes of one payment."""
        request = dsvc.ListDisputesRequest(payment_id=payment_id)
        return list((await self.disputes.ListDisputes(request, metadata=self.metadata)).disputes)

    async def balance(self, account_id: str) -> int:
        """An account's posted balance in cents (0 for an account never opened)."""
        request = acc.GetAccountRequest(account_id=account_id)
        try:
            account = (await self.accounts.GetAccount(request, metadata=self.metadata)).account
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.NOT_FOUND  # never opened: nothing on it
            return 0
        return cents(account.balance.posted)


@asynccontextmanager
async def dispute_stack(
    settings: Settings, tmp_path: Path, telemetry: Telemetry | None = None
) -> AsyncIterator[DisputeStack]:
    """paycore over one acquirer named for this test, its callbacks ingress on a free port."""
    acquirer = SimulatedAcquirer(
        renamed(ACQUIRER_A, f"dsp_{uuid.uuid4().hex[:8]}"), callback_secret=CALLBACK_SECRET
    )
    routing = tmp_path / "routing.toml"
    routing.write_text('[default]\nstrategies = ["health"]\n')
    # The due date job runs when a test says so (DisputeDeadlines.run_once).
    no_deadline_job = settings.ledger.model_copy(update={"dispute_poll_interval_s": 0})
    async with (
        serve(settings, [acquirer], routing, {"ledger": no_deadline_job}, telemetry) as served,
        grpc.aio.insecure_channel(served.target) as channel,
    ):
        yield DisputeStack(
            served,
            acquirer,
            dispute_service_pb2_grpc.DisputeServiceStub(channel),
            account_service_pb2_grpc.AccountServiceStub(channel),
            channel,
        )


@pytest.fixture
async def stack(settings: Settings, tmp_path: Path) -> AsyncIterator[DisputeStack]:
    """The test's own paycore and acquirer (``dispute_stack``)."""
    async with dispute_stack(settings, tmp_path) as built:
        yield built


@pytest.fixture
def admin_metadata_of(stack: DisputeStack) -> Callable[[str], Awaitable[Metadata]]:
    """An admin key of a merchant of the stack's paycore."""

    async def make(merchant_id: str) -> Metadata:
        return await merchant_metadata(stack.served.services.pool, merchant_id, Role.ADMIN)

    return make
