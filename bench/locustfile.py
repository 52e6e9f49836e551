"""paycore under locust: gRPC users with a realistic mix of payment traffic.

Each simulated user is a merchant's checkout: it tokenizes a few sandbox cards
when it starts, then, with weights, creates payments captured at once, creates
and later captures, refunds, reads, lists, repeats a create with the same
request_id (a client retry: it must get the same payment back) and sends
risky traffic (a large first payment of a new customer, which the risk engine
holds for review or declines). Every call is reported to locust as a request
of type ``grpc`` named by its RPC, so the web UI and the CSV files show
per-RPC latency and failures.

Merchants are created at the start of the run with a superadmin key
(``paycore keys bootstrap`` prints one; AccessService.CreateMerchant and
CreateApiKey do the rest), so each run has fresh merchants and no data of
another run. Headless, writing CSVs (the service must be running, e.g. ``make run``)::

    .venv/bin/paycore keys bootstrap > .data/superadmin.key   # once per database: refused later
    PAYCORE_SUPERADMIN_KEY=$(cat .data/superadmin.key) .venv/bin/locust -f bench/locustfile.py \\
        --headless -u 50 -r 10 -t 60s -H 127.0.0.1:50051 --csv bench/out/locust

(Not ``export``: ``paycore`` refuses to start with a ``PAYCORE_*`` variable it does not know.)

``make locust`` runs exactly that (``LOCUST_ARGS`` overrides users, rate, time).
Options (flags or environment): ``--paycore-superadmin-key``
(``PAYCORE_SUPERADMIN_KEY``), ``--paycore-merchants`` (``PAYCORE_LOCUST_MERCHANTS``,
default 20), ``--paycore-customers`` (per merchant, default 500).
"""

from __future__ import annotations

import random
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import grpc
import grpc.experimental.gevent as grpc_gevent  # type: ignore[import-not-found]  # no stubs
from google.protobuf.message import Message
from google.type import money_pb2

# locust patches the standard library for gevent on import; grpc must then be
# told to cooperate with gevent before any channel exists.
from locust import User, between, events, task
from locust.env import Environment

from paycore.v1 import access_service_pb2 as access
from paycore.v1 import (
    access_service_pb2_grpc,
    card_vault_service_pb2_grpc,
    payment_service_pb2_grpc,
)
from paycore.v1 import card_vault_service_pb2 as vault
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc

grpc_gevent.init_gevent()

CARDS = ("4242424242424242", "5555555555554444", "378282246310005")
DECLINED_CARD = "4000000000000002"
CALL_TIMEOUT_S = 30.0

_merchant_keys: list[tuple[str, str]] = []
"""(merchant id, API key) of the merchants of this run, made at test start."""


@events.init_command_line_parser.add_listener  # type: ignore[untyped-decorator]
def _options(parser: Any) -> None:
    parser.add_argument(
        "--paycore-superadmin-key",
        env_var="PAYCORE_SUPERADMIN_KEY",
        default="",
        help="a superadmin API key, to create this run's merchants and their keys",
    )
    parser.add_argument(
        "--paycore-merchants",
        type=int,
        env_var="PAYCORE_LOCUST_MERCHANTS",
        default=20,
        help="merchants created for the run (users share them round robin)",
    )
    parser.add_argument(
        "--paycore-customers",
        type=int,
        env_var="PAYCORE_LOCUST_CUSTOMERS",
        default=500,
        help="customers per merchant",
    )


def _money(minor: int, currency: str = "USD") -> money_pb2.Money:
    return money_pb2.Money(currency_code=currency, units=minor // 100, nanos=minor % 100 * 10**7)


@events.test_start.add_listener  # type: ignore[untyped-decorator]
def _create_merchants(environment: Environment, **_: Any) -> None:
    """Fresh merchants and merchant keys for this run (in each load-generating process)."""
    options = environment.parsed_options
    superadmin = options.paycore_superadmin_key if options else ""
    if options is None or not superadmin:
        raise SystemExit("set PAYCORE_SUPERADMIN_KEY (paycore keys bootstrap prints one)")
    run = uuid.uuid4().hex[:8]
    metadata = (("authorization", f"Bearer {superadmin}"),)
    with grpc.insecure_channel(environment.host or "127.0.0.1:50051") as channel:
        stub = access_service_pb2_grpc.AccessServiceStub(channel)
        for index in range(options.paycore_merchants):
            merchant_id = f"load_{run}_{index}"
            stub.CreateMerchant(
                access.CreateMerchantRequest(
                    request_id=f"{merchant_id}-create",
                    merchant_id=merchant_id,
                    display_name=f"Load test merchant {index}",
                ),
                metadata=metadata,
                timeout=CALL_TIMEOUT_S,
            )
            key = stub.CreateApiKey(
                access.CreateApiKeyRequest(
                    request_id=f"{merchant_id}-key",
                    merchant_id=merchant_id,
                    role=access.ApiKey.ROLE_MERCHANT,
                    description="locust",
                ),
                metadata=metadata,
                timeout=CALL_TIMEOUT_S,
            )
            _merchant_keys.append((merchant_id, key.secret))


class PaycoreUser(User):
    """One merchant's checkout and back office, calling paycore's gRPC API."""

    wait_time = between(0.05, 0.2)
    _next_merchant = 0

    def on_start(self) -> None:
        """Connect, pick a merchant, store its cards."""
        merchant_id, key = _merchant_keys[PaycoreUser._next_merchant % len(_merchant_keys)]
        PaycoreUser._next_merchant += 1
        self.merchant_id = merchant_id
        self.metadata = (("authorization", f"Bearer {key}"),)
        self.channel = grpc.insecure_channel(self.host or "127.0.0.1:50051")
        self.payments = payment_service_pb2_grpc.PaymentServiceStub(self.channel)
        self.vault = card_vault_service_pb2_grpc.CardVaultServiceStub(self.channel)
        options = self.environment.parsed_options
        self.customers = options.paycore_customers if options else 500
        self.tokens = [self._tokenize(number) for number in CARDS]
        self.declining_token = self._tokenize(DECLINED_CARD)
        self.captured: deque[str] = deque(maxlen=200)
        self.recent: deque[str] = deque(maxlen=200)

    def on_stop(self) -> None:
        """Close the channel."""
        self.channel.close()

    # --- calls, reported to locust ----------------------------------------------

    def _call(self, name: str, method: Callable[..., Any], request: Message) -> Any:
        started = time.perf_counter()
        response: Any = None
        failure: Exception | None = None
        try:
            response = method(request, metadata=self.metadata, timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as error:
            failure = error
        self.environment.events.request.fire(
            request_type="grpc",
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=response.ByteSize() if response is not None else 0,
            exception=failure,
            context={"merchant": self.merchant_id},
        )
        return response

    def _tokenize(self, number: str) -> str:
        request = vault.TokenizeCardRequest(
            request_id=str(uuid.uuid4()),
            card=pb.CardData(number=number, exp_month=12, exp_year=datetime.now(UTC).year + 3),
        )
        response = self._call("TokenizeCard", self.vault.TokenizeCard, request)
        return str(response.token.id) if response is not None else ""

    def _create(self, **fields: Any) -> svc.CreatePaymentRequest:
        customer = f"cus_{random.randrange(self.customers)}"
        defaults: dict[str, Any] = {
            "request_id": str(uuid.uuid4()),
            "amount": _money(random.randrange(500, 20_000)),
            "payment_method": pb.PaymentMethodData(card_token=random.choice(self.tokens)),
            "customer_id": customer,
            "risk_context": pb.RiskContext(
                customer_email=f"{customer}@example.com",
                ip_address=f"203.0.113.{random.randrange(1, 255)}",
                device_id=f"dev_{customer}",
            ),
        }
        return svc.CreatePaymentRequest(**{**defaults, **fields})

    def _remember(self, payment: pb.Payment | None) -> None:
        if payment is None:
            return
        self.recent.append(payment.id)
        if payment.state == pb.Payment.STATE_CAPTURED:
            self.captured.append(payment.id)

    # --- the mix ----------------------------------------------------------------

    @task(6)
    def create_captured_at_once(self) -> None:
        """Checkout: authorize and capture in one call."""
        response = self._call("CreatePayment", self.payments.CreatePayment, self._create())
        self._remember(response.payment if response else None)

    @task(2)
    def create_then_capture(self) -> None:
        """Ship later: authorize now, capture after."""
        request = self._create(capture_method=pb.CAPTURE_METHOD_MANUAL)
        created = self._call("CreatePayment", self.payments.CreatePayment, request)
        if created is None or created.payment.state != pb.Payment.STATE_AUTHORIZED:
            return
        capture = svc.CapturePaymentRequest(
            request_id=str(uuid.uuid4()), payment_id=created.payment.id
        )
        captured = self._call("CapturePayment", self.payments.CapturePayment, capture)
        self._remember(captured.payment if captured else None)

    @task(1)
    def refund_part(self) -> None:
        """Customer service: refund 1.00 of a captured payment."""
        if not self.captured:
            return
        request = svc.RefundPaymentRequest(
            request_id=str(uuid.uuid4()), payment_id=self.captured.popleft(), amount=_money(100)
        )
        self._call("RefundPayment", self.payments.RefundPayment, request)

    @task(3)
    def get_payment(self) -> None:
        """Order page: read a recent payment."""
        if self.recent:
            request = svc.GetPaymentRequest(payment_id=random.choice(self.recent))
            self._call("GetPayment", self.payments.GetPayment, request)

    @task(1)
    def list_payments(self) -> None:
        """Back office: the newest payments."""
        self._call(
            "ListPayments", self.payments.ListPayments, svc.ListPaymentsRequest(page_size=20)
        )

    @task(1)
    def retry_with_the_same_request_id(self) -> None:
        """A client retry: the same request twice must answer the same payment."""
        request = self._create()
        first = self._call("CreatePayment", self.payments.CreatePayment, request)
        again = self._call("CreatePayment (retry)", self.payments.CreatePayment, request)
        if first is not None and again is not None and first.payment.id != again.payment.id:
            self.environment.events.request.fire(
                request_type="check",
                name="retry returned another payment",
                response_time=0,
                response_length=0,
                exception=AssertionError(f"{first.payment.id} != {again.payment.id}"),
            )

    @task(1)
    def risky_or_declined(self) -> None:
        """Risky traffic: a new customer's large payment, or a card the issuer declines."""
        if random.random() < 0.5:
            request = self._create(
                amount=_money(random.randrange(300_000, 900_000)),
                customer_id=f"new_{uuid.uuid4().hex[:10]}",
            )
        else:
            request = self._create(
                payment_method=pb.PaymentMethodData(card_token=self.declining_token)
            )
        self._call("CreatePayment (risky)", self.payments.CreatePayment, request)
