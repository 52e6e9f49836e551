"""paycore under locust: a shop's checkout traffic, with its outcomes counted and judged.

Each simulated user is a merchant's checkout and back office. Payments come
from many shoppers (bench/shoppers.py): mostly new ones, each with a card of
their own (stored in the vault first), an email, an IP and a device sent in
``risk_context``; some come back with the same card and device. A few cards
are ones the sandbox issuer declines, and a few new customers make a large
first payment, which the risk engine holds for review or declines. The rest
of the mix: capture later, refund, read, list, retry with the same request_id
(it must get the same payment back).

What a merchant would recognise, and what the run is judged by (at exit):

=====================  ==========  =========================================
outcome of creates     expected    the run fails (exit code 1) when
=====================  ==========  =========================================
captured/authorized    ~97 %
card declined          ~2 %        all declines together exceed 10 %
risk declined or held  ~1-3 %      risk declines and holds exceed 5 %
errors (any RPC)       0           there is any failure
=====================  ==========  =========================================

Every CreatePayment is reported to locust as a request named by its outcome
(``CreatePayment captured``, ``... authorized``, ``... card_declined``,
``... risk_declined``, ``... risk_held``, ``... failed``, ``... pending``), so
locust's own statistics (web UI, ``--csv`` files) count the outcomes next to
their latency; a gRPC error is a failure of the RPC's request (``CreatePayment``,
``GetPayment``...). The thresholds are options (below).

Merchants are created at the start of the run with a superadmin key
(``paycore keys bootstrap --out .data/superadmin.key`` writes one; AccessService.CreateMerchant and
CreateApiKey do the rest), so each run has fresh merchants and no data of
another run. With paycore running (``make run``)::

    PAYCORE_SUPERADMIN_KEY=$(cat .data/superadmin.key) make locust      # headless, CSVs
    PAYCORE_SUPERADMIN_KEY=$(cat .data/superadmin.key) make locust-ui   # web UI on :8089

(Not ``export``: ``paycore`` refuses to start with a ``PAYCORE_*`` variable it does not know.)

Options (flags or environment): ``--paycore-superadmin-key``
(``PAYCORE_SUPERADMIN_KEY``), ``--paycore-merchants`` (``PAYCORE_LOCUST_MERCHANTS``,
default 20), ``--paycore-max-risk-share`` (``PAYCORE_LOCUST_MAX_RISK_SHARE``,
default 0.05), ``--paycore-max-decline-share`` (``PAYCORE_LOCUST_MAX_DECLINE_SHARE``,
default 0.10).
"""

from __future__ import annotations

import logging
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

from bench.outcomes import OUTCOMES, outcome_of, verdict
from bench.shoppers import Shopper, Shoppers
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

log = logging.getLogger("paycore.locust")

CALL_TIMEOUT_S = 30.0
CREATE = "CreatePayment"

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
        "--paycore-max-risk-share",
        type=float,
        env_var="PAYCORE_LOCUST_MAX_RISK_SHARE",
        default=0.05,
        help="fail the run when more creates than this are risk declined or held",
    )
    parser.add_argument(
        "--paycore-max-decline-share",
        type=float,
        env_var="PAYCORE_LOCUST_MAX_DECLINE_SHARE",
        default=0.10,
        help="fail the run when more creates than this are declined (card or risk)",
    )


def _money(minor: int, currency: str = "USD") -> money_pb2.Money:
    return money_pb2.Money(currency_code=currency, units=minor // 100, nanos=minor % 100 * 10**7)


@events.quitting.add_listener  # type: ignore[untyped-decorator]
def _judge(environment: Environment, **_: Any) -> None:
    """Exit code 1 when requests failed or the decline rate is not what a shop sees."""
    options = environment.parsed_options
    if options is None:
        return
    # Read, not stats.get(): get() would add an empty row for each outcome not seen.
    requests = {name: entry.num_requests for (name, _), entry in environment.stats.entries.items()}
    counts = {outcome: requests.get(f"{CREATE} {outcome}", 0) for outcome in OUTCOMES}
    total = sum(counts.values())
    shares = ", ".join(f"{k} {v / total:.1%}" for k, v in counts.items() if v) if total else "-"
    log.info("CreatePayment outcomes (%d): %s", total, shares)
    reason = verdict(
        counts,
        environment.stats.total.num_failures,
        options.paycore_max_risk_share,
        options.paycore_max_decline_share,
    )
    if reason:
        log.error("paycore load run FAILED: %s", reason)
        environment.process_exit_code = 1


@events.test_start.add_listener  # type: ignore[untyped-decorator]
def _create_merchants(environment: Environment, **_: Any) -> None:
    """Fresh merchants and merchant keys for this run (in each load-generating process)."""
    options = environment.parsed_options
    superadmin = options.paycore_superadmin_key if options else ""
    if options is None or not superadmin:
        raise SystemExit(
            "set PAYCORE_SUPERADMIN_KEY (paycore keys bootstrap --out .data/superadmin.key)"
        )
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
        """Connect and pick a merchant."""
        merchant_id, key = _merchant_keys[PaycoreUser._next_merchant % len(_merchant_keys)]
        PaycoreUser._next_merchant += 1
        self.merchant_id = merchant_id
        self.metadata = (("authorization", f"Bearer {key}"),)
        self.channel = grpc.insecure_channel(self.host or "127.0.0.1:50051")
        self.payments = payment_service_pb2_grpc.PaymentServiceStub(self.channel)
        self.vault = card_vault_service_pb2_grpc.CardVaultServiceStub(self.channel)
        self.shoppers = Shoppers(random.Random())
        self.tokens: dict[str, str] = {}
        """Card token of each shopper's stored card, by card number (bounded below)."""
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
        if name == CREATE and response is not None:
            name = f"{CREATE} {outcome_of(response.payment)}"
            self._remember(response.payment)
        self.environment.events.request.fire(
            request_type="grpc",
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=response.ByteSize() if response is not None else 0,
            exception=failure,
            context={"merchant": self.merchant_id},
        )
        return response

    def _token(self, shopper: Shopper) -> str:
        """The shopper's stored card (tokenized at their first checkout)."""
        token = self.tokens.get(shopper.card_number)
        if token is None:
            request = vault.TokenizeCardRequest(
                request_id=str(uuid.uuid4()),
                card=pb.CardData(
                    number=shopper.card_number,
                    exp_month=12,
                    exp_year=datetime.now(UTC).year + 3,
                ),
            )
            response = self._call("TokenizeCard", self.vault.TokenizeCard, request)
            token = str(response.token.id) if response is not None else ""
            if len(self.tokens) >= 1000:  # forgotten shoppers' cards
                self.tokens.pop(next(iter(self.tokens)))
            self.tokens[shopper.card_number] = token
        return token

    def _create(self, shopper: Shopper | None = None, **fields: Any) -> svc.CreatePaymentRequest:
        if shopper is None:
            shopper, _ = self.shoppers.next()
        defaults: dict[str, Any] = {
            "request_id": str(uuid.uuid4()),
            "amount": _money(self.shoppers.amount_minor()),
            "payment_method": pb.PaymentMethodData(card_token=self._token(shopper)),
            "customer_id": shopper.customer_id,
            "risk_context": pb.RiskContext(
                customer_email=shopper.email,
                ip_address=shopper.ip_address,
                ip_country=shopper.ip_country,
                device_id=shopper.device_id,
            ),
        }
        return svc.CreatePaymentRequest(**{**defaults, **fields})

    def _remember(self, payment: pb.Payment) -> None:
        self.recent.append(payment.id)
        if payment.state == pb.Payment.STATE_CAPTURED:
            self.captured.append(payment.id)

    # --- the mix ----------------------------------------------------------------

    @task(60)
    def create_captured_at_once(self) -> None:
        """Checkout: authorize and capture in one call."""
        self._call(CREATE, self.payments.CreatePayment, self._create())

    @task(20)
    def create_then_capture(self) -> None:
        """Ship later: authorize now, capture after."""
        request = self._create(capture_method=pb.CAPTURE_METHOD_MANUAL)
        created = self._call(CREATE, self.payments.CreatePayment, request)
        if created is None or created.payment.state != pb.Payment.STATE_AUTHORIZED:
            return
        capture = svc.CapturePaymentRequest(
            request_id=str(uuid.uuid4()), payment_id=created.payment.id
        )
        self._call("CapturePayment", self.payments.CapturePayment, capture)

    @task(5)
    def refund_part(self) -> None:
        """Customer service: refund 1.00 of a captured payment."""
        if not self.captured:
            return
        request = svc.RefundPaymentRequest(
            request_id=str(uuid.uuid4()), payment_id=self.captured.popleft(), amount=_money(100)
        )
        self._call("RefundPayment", self.payments.RefundPayment, request)

    @task(30)
    def get_payment(self) -> None:
        """Order page: read a recent payment."""
        if self.recent:
            request = svc.GetPaymentRequest(payment_id=random.choice(self.recent))
            self._call("GetPayment", self.payments.GetPayment, request)

    @task(5)
    def list_payments(self) -> None:
        """Back office: the newest payments."""
        self._call(
            "ListPayments", self.payments.ListPayments, svc.ListPaymentsRequest(page_size=20)
        )

    @task(5)
    def retry_with_the_same_request_id(self) -> None:
        """A client retry: the same request twice must answer the same payment."""
        request = self._create()
        first = self._call(CREATE, self.payments.CreatePayment, request)
        again = self._call(f"{CREATE} (retry)", self.payments.CreatePayment, request)
        if first is not None and again is not None and first.payment.id != again.payment.id:
            self.environment.events.request.fire(
                request_type="check",
                name="retry returned another payment",
                response_time=0,
                response_length=0,
                exception=AssertionError(f"{first.payment.id} != {again.payment.id}"),
            )

    @task(1)
    def large_first_payment(self) -> None:
        """Risky traffic: a new customer's first payment of 2,500.00 or more (held or declined)."""
        request = self._create(
            self.shoppers.new(), amount=_money(random.randrange(2_500_00, 9_000_00))
        )
        self._call(CREATE, self.payments.CreatePayment, request)
