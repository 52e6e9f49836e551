"""The gRPC server: PaymentService, health checking, reflection, graceful shutdown.

The server takes what it serves from the application (``ServedServices``) and the
few settings it needs (``ServerSettings``) as values of its own: the bootstrap
(core/app/_server.py) builds both from its ``Services`` and ``Settings``, so this
adapter imports neither the wiring nor the configuration.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

import grpc
from aiohttp import web
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from core.api.access_handlers import SERVICE_NAME as ACCESS_SERVICE_NAME
from core.api.access_handlers import AccessHandlers
from core.api.access_handlers import generic_handler as access_generic_handler
from core.api.account_handlers import SERVICE_NAME as ACCOUNT_SERVICE_NAME
from core.api.account_handlers import AccountHandlers
from core.api.account_handlers import generic_handler as account_generic_handler
from core.api.customer_handlers import SERVICE_NAME as CUSTOMER_SERVICE_NAME
from core.api.customer_handlers import CustomerHandlers
from core.api.customer_handlers import generic_handler as customer_generic_handler
from core.api.dispute_handlers import SERVICE_NAME as DISPUTE_SERVICE_NAME
from core.api.dispute_handlers import DisputeHandlers
from core.api.dispute_handlers import generic_handler as dispute_generic_handler
from core.api.health import HealthService
from core.api.identity import ApiKeyIdentity, IdentityResolver
from core.api.mandate_handlers import SERVICE_NAME as MANDATE_SERVICE_NAME
from core.api.mandate_handlers import MandateHandlers
from core.api.mandate_handlers import generic_handler as mandate_generic_handler
from core.api.merchant_settings_handlers import SERVICE_NAME as SETTINGS_SERVICE_NAME
from core.api.merchant_settings_handlers import MerchantSettingsHandlers
from core.api.merchant_settings_handlers import generic_handler as settings_generic_handler
from core.api.payment_handlers import SERVICE_NAME, PaymentHandlers, generic_handler
from core.api.payout_handlers import PayoutHandlers
from core.api.reflection import enable_reflection
from core.api.risk_handlers import SERVICE_NAME as RISK_SERVICE_NAME
from core.api.risk_handlers import RiskHandlers
from core.api.risk_handlers import generic_handler as risk_generic_handler
from core.api.routing_handlers import SERVICE_NAME as ROUTING_SERVICE_NAME
from core.api.routing_handlers import RoutingHandlers
from core.api.routing_handlers import generic_handler as routing_generic_handler
from core.api.settlement_handlers import SettlementHandlers
from core.api.subscription_handlers import SERVICE_NAME as SUBSCRIPTION_SERVICE_NAME
from core.api.subscription_handlers import SubscriptionHandlers
from core.api.subscription_handlers import generic_handler as subscription_generic_handler
from core.api.vault_handlers import SERVICE_NAME as VAULT_SERVICE_NAME
from core.api.vault_handlers import CardVaultHandlers
from core.api.vault_handlers import generic_handler as vault_generic_handler
from core.api.webhook_handlers import (
    EVENT_SERVICE_NAME,
    WEBHOOK_SERVICE_NAME,
    EventHandlers,
    WebhookHandlers,
    event_generic_handler,
    webhook_generic_handler,
)
from core.auth.authenticator import Authenticator
from core.service.access import AccessService
from core.service.accounts import AccountService
from core.service.card_vault import CardVault
from core.service.customers import CustomerService
from core.service.disputes import DisputeService
from core.service.execution import RequestExecutor
from core.service.mandates.service import MandateService
from core.service.merchant_routing import MerchantRoutingService
from core.service.merchant_settings import MerchantSettingsService
from core.service.payments.service import PaymentService
from core.service.risk_back_office import RiskService
from core.service.settlement import SettlementService
from core.service.status_query import StatusQueryScheduler
from core.service.subscriptions import SubscriptionService
from core.service.webhooks import EventStreams, WebhookService
from core.telemetry import Telemetry
from core.telemetry.http import HttpEndpoint

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """What the server reads of the configuration (``Settings`` fields of the same names).

    No defaults: the bootstrap fills every field from Settings (core/app/_server.py).
    """

    host: str
    port: int
    card_fingerprint_key: str
    """The key of card fingerprints; the handlers derive fingerprints with it."""
    grpc_max_message_bytes: int
    """Largest request; replies may be 4 times as large (beyond: RESOURCE_EXHAUSTED)."""
    grpc_max_concurrent_streams: int
    grpc_max_concurrent_rpcs: int
    tls_cert_file: str | None
    """PEM certificate chain; with ``tls_key_file``, the server speaks TLS."""
    tls_key_file: str | None
    tls_client_ca_file: str | None
    """With it, only clients with a certificate signed by these CAs (mutual TLS)."""
    callbacks_enabled: bool
    """Whether to serve channel notifications over HTTP on ``callbacks_host:callbacks_port``."""
    callbacks_host: str
    callbacks_port: int
    status_queries_enabled: bool
    """Whether this process asks channels about attempts left without an answer."""


class CallbackReceiver(Protocol):
    """Something channels notify over HTTP: installed on the server's callbacks endpoint."""

    def install(self, app: web.Application) -> None:
        """Add its routes to ``app`` (before the endpoint starts)."""
        ...

    def announce(self, host: str, port: int) -> None:
        """Where the endpoint listens, for in-process simulated channels that post to it."""
        ...


class EventNotifications(Protocol):
    """Webhook endpoints and event streams (core/app/_notifications.py builds them)."""

    @property
    def webhooks(self) -> WebhookService:
        """The webhook endpoints' use cases."""
        ...

    @property
    def streams(self) -> EventStreams:
        """The event streams' use cases."""
        ...

    async def close(self) -> None:
        """End the event streams (their callers resume from their cursor elsewhere)."""
        ...


@dataclass(frozen=True, slots=True)
class ServedServices:
    """The application's services the gRPC server serves, and what it starts and drains."""

    authenticator: Authenticator
    payments: PaymentService
    vault: CardVault
    access: AccessService
    merchant_settings: MerchantSettingsService
    risk: RiskService
    accounts: AccountService
    settlement: SettlementService
    merchant_routing: MerchantRoutingService
    customers: CustomerService
    mandates: MandateService
    subscriptions: SubscriptionService
    executor: RequestExecutor
    """Drained at shutdown: operations whose callers went away run to their commit."""
    status_queries: StatusQueryScheduler
    """Run while the server serves, when ``ServerSettings.status_queries_enabled``."""
    callbacks: tuple[CallbackReceiver, ...] = ()
    """Installed on the callbacks endpoint, when ``ServerSettings.callbacks_enabled``."""
    notifications: EventNotifications | None = None
    disputes: DisputeService | None = None
    """DisputeService's use cases (their channel ingress is one of ``callbacks``)."""


def transport_security(settings: ServerSettings) -> str:
    """What the gRPC port speaks: "plaintext", "TLS" or "mutual TLS"."""
    if not settings.tls_cert_file:
        return "plaintext"
    return "mutual TLS" if settings.tls_client_ca_file else "TLS"


def server_credentials(settings: ServerSettings) -> grpc.ServerCredentials | None:
    """TLS credentials from the configured PEM files; None when TLS is not configured.

    With ``tls_client_ca_file`` the handshake refuses any client that does not
    present a certificate signed by one of those CAs (mutual TLS).
    """
    if not settings.tls_cert_file:
        return None
    if not settings.tls_key_file:  # validate() refuses this; settings built in code may not
        raise ValueError("tls_key_file must be set with tls_cert_file")
    client_ca = _read_pem(settings.tls_client_ca_file) if settings.tls_client_ca_file else None
    return grpc.ssl_server_credentials(
        [(_read_pem(settings.tls_key_file), _read_pem(settings.tls_cert_file))],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


def _read_pem(path: str) -> bytes:
    with open(path, "rb") as pem:
        return pem.read()


PAYCORE_SERVICES = (
    SERVICE_NAME,
    VAULT_SERVICE_NAME,
    ACCESS_SERVICE_NAME,
    SETTINGS_SERVICE_NAME,
    RISK_SERVICE_NAME,
    WEBHOOK_SERVICE_NAME,
    EVENT_SERVICE_NAME,
    ACCOUNT_SERVICE_NAME,
    ROUTING_SERVICE_NAME,
    CUSTOMER_SERVICE_NAME,
    MANDATE_SERVICE_NAME,
    DISPUTE_SERVICE_NAME,
    SUBSCRIPTION_SERVICE_NAME,
)
"""Every paycore gRPC service: reflected, and reported by the health service."""


class PaycoreServer:
    """One grpc.aio server process serving paycore (used by ``serve`` and the tests)."""

    def __init__(
        self,
        settings: ServerSettings,
        services: ServedServices,
        *,
        reuse_port: bool = False,
        identity: IdentityResolver | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._settings = settings
        self._services = services
        self._server = grpc.aio.server(
            options=[
                # grpc turns SO_REUSEPORT on by default; with one worker that
                # would let a second paycore silently share the port, so it is
                # on only in --workers mode.
                ("grpc.so_reuseport", 1 if reuse_port else 0),
                # Resource limits (ServerSettings.grpc_*): beyond them RESOURCE_EXHAUSTED.
                ("grpc.max_receive_message_length", settings.grpc_max_message_bytes),
                ("grpc.max_send_message_length", 4 * settings.grpc_max_message_bytes),
                ("grpc.max_concurrent_streams", settings.grpc_max_concurrent_streams),
            ],
            maximum_concurrent_rpcs=settings.grpc_max_concurrent_rpcs,
        )
        secret = settings.card_fingerprint_key.encode()
        resolver = identity or ApiKeyIdentity(services.authenticator)
        payments = PaymentHandlers(services.payments, secret)
        vault = CardVaultHandlers(services.vault, secret)
        access = AccessHandlers(services.access, secret)
        merchant_settings = MerchantSettingsHandlers(services.merchant_settings, secret)
        risk = RiskHandlers(services.risk, secret)
        self._server.add_generic_rpc_handlers(
            (
                generic_handler(payments, resolver, telemetry),
                vault_generic_handler(vault, resolver, telemetry),
                access_generic_handler(access, resolver, telemetry),
                settings_generic_handler(merchant_settings, resolver, telemetry),
                risk_generic_handler(risk, resolver, telemetry),
                account_generic_handler(
                    AccountHandlers(services.accounts, secret),
                    PayoutHandlers(services.accounts, secret),
                    SettlementHandlers(services.settlement, secret),
                    resolver,
                    telemetry,
                ),
                routing_generic_handler(
                    RoutingHandlers(services.merchant_routing, secret), resolver, telemetry
                ),
                customer_generic_handler(
                    CustomerHandlers(services.customers, secret), resolver, telemetry
                ),
                mandate_generic_handler(
                    MandateHandlers(services.mandates, secret), resolver, telemetry
                ),
                subscription_generic_handler(
                    SubscriptionHandlers(services.subscriptions, secret), resolver, telemetry
                ),
            )
        )
        if services.disputes is not None:
            self._server.add_generic_rpc_handlers(
                (
                    dispute_generic_handler(
                        DisputeHandlers(services.disputes, secret), resolver, telemetry
                    ),
                )
            )
        notifications = services.notifications
        if notifications is not None:
            self._server.add_generic_rpc_handlers(
                (
                    webhook_generic_handler(
                        WebhookHandlers(notifications.webhooks, secret), resolver, telemetry
                    ),
                    event_generic_handler(
                        EventHandlers(notifications.streams), resolver, telemetry
                    ),
                )
            )
        # Not grpc_health's servicer: its Watch streams would hold shutdown (core/api/health.py).
        self._health = HealthService()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        enable_reflection(self._server, (*PAYCORE_SERVICES, health.SERVICE_NAME))
        self.port = 0
        self._stopping = asyncio.Event()
        self._background: asyncio.Task[None] | None = None
        self._callbacks: HttpEndpoint | None = None
        self.callbacks_port = 0
        """The bound port of the channel notifications ingress (0 when not served)."""

    async def start(self) -> int:
        """Bind, start serving and report SERVING; returns the bound port."""
        address = f"{self._settings.host}:{self._settings.port}"
        credentials = server_credentials(self._settings)
        if credentials is None:
            self.port = self._server.add_insecure_port(address)
        else:
            self.port = self._server.add_secure_port(address, credentials)
        if self.port == 0:
            raise OSError(f"cannot bind {address}")
        await self._server.start()
        if self._settings.callbacks_enabled:
            endpoint = HttpEndpoint(self._settings.callbacks_host, self._settings.callbacks_port)
            for receiver in self._services.callbacks:
                receiver.install(endpoint.app)
            self.callbacks_port = await endpoint.start()
            for receiver in self._services.callbacks:
                receiver.announce(self._settings.callbacks_host, self.callbacks_port)
            self._callbacks = endpoint
        if self._settings.status_queries_enabled:
            self._background = asyncio.create_task(
                self._services.status_queries.run(self._stopping), name="status-queries"
            )
        for service in ("", *PAYCORE_SERVICES):
            await self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        log.info(
            "paycore serving on %s:%d (%s)",
            self._settings.host,
            self.port,
            transport_security(self._settings),
        )
        return self.port

    async def stop(self, grace: float) -> None:
        """Graceful stop: NOT_SERVING, refuse new RPCs, let in-flight ones finish within ``grace``.

        Operations whose callers already went away keep running to their
        commit (see PaymentService._execute); they get the same grace.
        """
        await self._health.enter_graceful_shutdown()
        if self._services.notifications is not None:
            # Event streams never finish on their own: end them now (callers
            # resume from their cursor elsewhere) instead of holding the grace.
            await self._services.notifications.close()
        # One grace for both: RPCs still running at its end are cancelled, and
        # operations whose callers went away get only what is left of it.
        loop = asyncio.get_running_loop()
        drained_by = loop.time() + grace
        await self._server.stop(grace)
        await self._services.executor.drain(max(0.0, drained_by - loop.time()))
        self._stopping.set()
        if self._background is not None:
            await self._background
        if self._callbacks is not None:
            await self._callbacks.stop()
        log.info("paycore stopped")
