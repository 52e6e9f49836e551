"""The ceiling: a bare grpc.aio server on uvloop that answers PaymentService with fixed bytes.

Same stack as paycore (grpc.aio, uvloop), same method paths and message sizes
(CreatePayment, GetPayment and ListPayments answer a realistic response, built
once; ListPayments a page of ``bench.scenarios.LIST_PAGE`` payments), and no work at
all: what it serves per second is the most this stack can serve on this machine
with the same load generator. bench/harness.py compares paycore's durable
CreatePayment with it.

``--workers N`` runs N processes on the port exactly as ``paycore run --workers N``
does: forked by core.runtime.supervisor before any gRPC object exists, each with
its own event loop and server bound with SO_REUSEPORT, so the kernel spreads the
connections over them.

    python -m bench.echo_server --port 50061 [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import grpc
from google.type import money_pb2

from bench.scenarios import LIST_PAGE
from core.runtime.loop import run
from core.runtime.supervisor import run_workers
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc

PATH = "/paycore.v1.PaymentService/CreatePayment"


def sample_payment() -> pb.Payment:
    """A payment as big as paycore's answer to the load's CreatePayment."""
    now = datetime.now(UTC)
    payment = pb.Payment(
        id="pay_01JD0Z8W7X6V5T4S3R2Q1P0N9M",
        merchant_id="bench_00000000_0_0",
        state=pb.Payment.STATE_CAPTURED,
        amount=money_pb2.Money(currency_code="USD", units=10),
        amount_captured=money_pb2.Money(currency_code="USD", units=10),
        amount_refunded=money_pb2.Money(currency_code="USD"),
        capture_method=pb.CAPTURE_METHOD_AUTOMATIC,
        confirmation_method=pb.CONFIRMATION_METHOD_AUTOMATIC,
        channel="sandbox_card",
        channel_reference="sbx_01JD0Z8W7X6V5T4S3R2Q1P0N9M",
    )
    payment.payment_method.card.brand = "visa"
    payment.payment_method.card.bin = "424242"
    payment.payment_method.card.last4 = "4242"
    payment.payment_method.card.exp_month = 12
    payment.payment_method.card.exp_year = now.year + 3
    payment.payment_method.card.fingerprint = "f" * 43
    payment.risk.score = 0
    payment.create_time.FromDatetime(now)
    payment.update_time.FromDatetime(now)
    return payment


def sample_responses() -> dict[str, bytes]:
    """The fixed answer of each method the echo serves, by method name."""
    payment = sample_payment()
    return {
        "CreatePayment": svc.CreatePaymentResponse(payment=payment).SerializeToString(),
        "GetPayment": svc.GetPaymentResponse(payment=payment).SerializeToString(),
        "ListPayments": svc.ListPaymentsResponse(
            payments=[payment] * LIST_PAGE, next_page_token="n" * 40
        ).SerializeToString(),
    }


def sample_response() -> bytes:
    """A CreatePaymentResponse as big as paycore's answer to the load's request."""
    return sample_responses()["CreatePayment"]


async def serve(port: int, *, reuse_port: bool = False) -> None:
    """Serve until SIGTERM or SIGINT (``reuse_port``: one of several processes on ``port``)."""
    server = grpc.aio.server(options=[("grpc.so_reuseport", 1 if reuse_port else 0)])
    handlers = {
        method: grpc.unary_unary_rpc_method_handler(
            _answer(body), request_deserializer=None, response_serializer=None
        )
        for method, body in sample_responses().items()
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("paycore.v1.PaymentService", handlers),)
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop(0.5)


def _answer(body: bytes) -> Callable[[bytes, Any], Awaitable[bytes]]:
    async def answer(request: bytes, context: Any) -> bytes:
        return body

    return answer


def _serve_worker(port: int, workers: int, index: int) -> None:
    run(serve(port, reuse_port=workers > 1), use_uvloop=True)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m bench.echo_server --port N [--workers W]``."""
    parser = argparse.ArgumentParser(prog="python -m bench.echo_server")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1, help="server processes on the port")
    args = parser.parse_args(argv)
    sys.exit(run_workers(args.workers, functools.partial(_serve_worker, args.port, args.workers)))


if __name__ == "__main__":
    main()
