"""A real grpc.aio PaymentService whose answers each test scripts.

The server runs in its own thread and event loop, so the blocking client can
call it from the test's thread and the asyncio client from pytest's loop alike.
Unscripted calls succeed with a plausible answer; scripted ones fail with a
rich google.rpc.Status built the way paycore builds them, or stall.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.rpc.error_details_pb2 import BadRequest, ErrorInfo, RetryInfo
from google.rpc.status_pb2 import Status
from grpc_status import rpc_status

from paycore.v1 import merchant_settings_service_pb2 as settings_pb
from paycore.v1 import merchant_settings_service_pb2_grpc, payment_service_pb2_grpc
from paycore.v1 import payment_service_pb2 as pb
from paycore.v1.payment_pb2 import Payment, Refund

_Context = grpc.aio.ServicerContext[Any, Any]


def paycore_status(
    code: grpc.StatusCode,
    reason: str,
    message: str = "scripted failure",
    *,
    metadata: dict[str, str] | None = None,
    violations: tuple[tuple[str, str], ...] = (),
    retry_delay: float | None = None,
) -> grpc.Status:
    """A failure as paycore sends it: ErrorInfo, plus BadRequest and RetryInfo when given."""
    status = Status(code=code.value[0], message=message)
    status.details.add().Pack(ErrorInfo(reason=reason, domain="paycore", metadata=metadata))
    if violations:
        bad_request = BadRequest()
        for path, description in violations:
            bad_request.field_violations.add(field=path, description=description)
        status.details.add().Pack(bad_request)
    if retry_delay is not None:
        delay = Duration()
        delay.FromTimedelta(timedelta(seconds=retry_delay))
        status.details.add().Pack(RetryInfo(retry_delay=delay))
    return rpc_status.to_status(status)


def unavailable(message: str = "database unreachable") -> grpc.Status:
    """UNAVAILABLE SERVICE_UNAVAILABLE, as when paycore's database is down."""
    return paycore_status(grpc.StatusCode.UNAVAILABLE, "SERVICE_UNAVAILABLE", message)


@dataclass(frozen=True)
class Stall:
    """Answer only after ``seconds``, to run past the client's deadline."""

    seconds: float


Outcome = grpc.Status | Stall


@dataclass(frozen=True)
class ReceivedCall:
    """One request as the server saw it."""

    method: str
    request: Any
    metadata: dict[str, str | bytes]


@dataclass
class ScriptedPaymentService(
    payment_service_pb2_grpc.PaymentServiceServicer,
    merchant_settings_service_pb2_grpc.MerchantSettingsServiceServicer,
):
    """PaymentService (and MerchantSettingsService) answering from a script.

    Records every request it receives.
    """

    calls: list[ReceivedCall] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    """What ListPayments pages through, newest first."""
    _script: defaultdict[str, deque[Outcome]] = field(default_factory=lambda: defaultdict(deque))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        """Forget calls, scripts and payments."""
        with self._lock:
            self.calls.clear()
            self.payments.clear()
            self._script.clear()

    def script(self, method: str, *outcomes: Outcome) -> None:
        """Answer the next calls of ``method`` with ``outcomes``, in order; then succeed."""
        with self._lock:
            self._script[method].extend(outcomes)

    def requests(self, method: str) -> list[Any]:
        """The requests ``method`` received, oldest first."""
        with self._lock:
            return [call.request for call in self.calls if call.method == method]

    async def _play(self, method: str, request: Message, context: _Context) -> None:
        with self._lock:
            metadata = dict(context.invocation_metadata() or ())
            self.calls.append(ReceivedCall(method, request, metadata))
            queued = self._script[method]
            outcome = queued.popleft() if queued else None
        if isinstance(outcome, Stall):
            await asyncio.sleep(outcome.seconds)
        elif outcome is not None:
            await context.abort(outcome.code, outcome.details, outcome.trailing_metadata)

    async def CreatePayment(
        self, request: pb.CreatePaymentRequest, context: _Context
    ) -> pb.CreatePaymentResponse:
        await self._play("CreatePayment", request, context)
        payment = Payment(id="pay_created", amount=request.amount, state=Payment.STATE_AUTHORIZED)
        return pb.CreatePaymentResponse(payment=payment)

    async def GetPayment(
        self, request: pb.GetPaymentRequest, context: _Context
    ) -> pb.GetPaymentResponse:
        await self._play("GetPayment", request, context)
        return pb.GetPaymentResponse(payment=Payment(id=request.payment_id))

    async def ListPayments(
        self, request: pb.ListPaymentsRequest, context: _Context
    ) -> pb.ListPaymentsResponse:
        await self._play("ListPayments", request, context)
        start = int(request.page_token or 0)
        end = start + (request.page_size or 20)
        return pb.ListPaymentsResponse(
            payments=self.payments[start:end],
            next_page_token=str(end) if end < len(self.payments) else "",
        )

    async def UpdatePayment(
        self, request: pb.UpdatePaymentRequest, context: _Context
    ) -> pb.UpdatePaymentResponse:
        await self._play("UpdatePayment", request, context)
        payment = Payment(id=request.payment_id, description=request.description)
        return pb.UpdatePaymentResponse(payment=payment)

    async def ConfirmPayment(
        self, request: pb.ConfirmPaymentRequest, context: _Context
    ) -> pb.ConfirmPaymentResponse:
        await self._play("ConfirmPayment", request, context)
        payment = Payment(id=request.payment_id, state=Payment.STATE_AUTHORIZED)
        return pb.ConfirmPaymentResponse(payment=payment)

    async def CapturePayment(
        self, request: pb.CapturePaymentRequest, context: _Context
    ) -> pb.CapturePaymentResponse:
        await self._play("CapturePayment", request, context)
        payment = Payment(id=request.payment_id, state=Payment.STATE_CAPTURED)
        return pb.CapturePaymentResponse(payment=payment)

    async def CancelPayment(
        self, request: pb.CancelPaymentRequest, context: _Context
    ) -> pb.CancelPaymentResponse:
        await self._play("CancelPayment", request, context)
        payment = Payment(id=request.payment_id, state=Payment.STATE_CANCELED)
        return pb.CancelPaymentResponse(payment=payment)

    async def VerifyPaymentCode(
        self, request: pb.VerifyPaymentCodeRequest, context: _Context
    ) -> pb.VerifyPaymentCodeResponse:
        await self._play("VerifyPaymentCode", request, context)
        payment = Payment(id=request.payment_id, state=Payment.STATE_CAPTURED)
        return pb.VerifyPaymentCodeResponse(payment=payment)

    async def RefundPayment(
        self, request: pb.RefundPaymentRequest, context: _Context
    ) -> pb.RefundPaymentResponse:
        await self._play("RefundPayment", request, context)
        return pb.RefundPaymentResponse(
            refund=Refund(id="re_1", payment_id=request.payment_id, amount=request.amount),
            payment=Payment(id=request.payment_id, state=Payment.STATE_REFUNDED),
        )

    async def ListRefunds(
        self, request: pb.ListRefundsRequest, context: _Context
    ) -> pb.ListRefundsResponse:
        await self._play("ListRefunds", request, context)
        return pb.ListRefundsResponse(
            refunds=[Refund(id="re_1", state=Refund.STATE_PENDING_REVIEW)]
        )

    async def ApproveRefund(
        self, request: pb.ApproveRefundRequest, context: _Context
    ) -> pb.ApproveRefundResponse:
        await self._play("ApproveRefund", request, context)
        return pb.ApproveRefundResponse(
            refund=Refund(id=request.refund_id, state=Refund.STATE_SUCCEEDED),
            payment=Payment(id="pay_1", state=Payment.STATE_REFUNDED),
        )

    async def RejectRefund(
        self, request: pb.RejectRefundRequest, context: _Context
    ) -> pb.RejectRefundResponse:
        await self._play("RejectRefund", request, context)
        return pb.RejectRefundResponse(
            refund=Refund(
                id=request.refund_id,
                state=Refund.STATE_REJECTED,
                rejection_reason=request.reason,
            ),
            payment=Payment(id="pay_1", state=Payment.STATE_CAPTURED),
        )

    async def GetMerchantSettings(
        self, request: settings_pb.GetMerchantSettingsRequest, context: _Context
    ) -> settings_pb.GetMerchantSettingsResponse:
        await self._play("GetMerchantSettings", request, context)
        return settings_pb.GetMerchantSettingsResponse(settings=settings_pb.MerchantSettings())

    async def UpdateMerchantSettings(
        self, request: settings_pb.UpdateMerchantSettingsRequest, context: _Context
    ) -> settings_pb.UpdateMerchantSettingsResponse:
        await self._play("UpdateMerchantSettings", request, context)
        return settings_pb.UpdateMerchantSettingsResponse(settings=request.settings)


class ServerThread:
    """Runs a grpc.aio server on 127.0.0.1 (any free port) in a thread of its own."""

    def __init__(self, servicer: ScriptedPaymentService) -> None:
        self._servicer = servicer
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scripted-paycore", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self.port = 0

    def start(self) -> str:
        """Start serving; returns the target to dial."""
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise RuntimeError("the scripted paycore server did not start")
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        server = grpc.aio.server()
        payment_service_pb2_grpc.add_PaymentServiceServicer_to_server(self._servicer, server)
        merchant_settings_service_pb2_grpc.add_MerchantSettingsServiceServicer_to_server(
            self._servicer, server
        )
        self.port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._ready.set()
        await self._stopping.wait()
        await server.stop(None)
