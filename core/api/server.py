"""The gRPC server: PaymentService, health checking, reflection, graceful shutdown."""

from __future__ import annotations

import asyncio
import logging

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from core.api.access_handlers import SERVICE_NAME as ACCESS_SERVICE_NAME
from core.api.access_handlers import AccessHandlers
from core.api.access_handlers import generic_handler as access_generic_handler
from core.api.account_handlers import SERVICE_NAME as ACCOUNT_SERVICE_NAME
from core.api.account_handlers import AccountHandlers
from core.api.account_handlers import generic_handler as account_generic_handler
from core.api.dispute_handlers import SERVICE_NAME as DISPUTE_SERVICE_NAME
from core.api.dispute_handlers import DisputeHandlers
from core.api.dispute_handlers import generic_handler as dispute_generic_handler
from core.api.health import HealthService
from core.api.identity import ApiKeyIdentity, IdentityResolver
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
from core.app import Services
from core.config import Settings
from core.telemetry import Telemetry
from core.telemetry.http import HttpEndpoint

log = logging.getLogger(__name__)


def transport_security(settings: Settings) -> str:
    """What the gRPC port speaks: "plaintext", "TLS" or "mutual TLS"."""
    if not settings.tls_cert_file:
        return "plaintext"
    return "mutual TLS" if settings.tls_client_ca_file else "TLS"


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS credentials from the configured PEM files; None when TLS is not configured.

    With ``tls_client_ca_file`` the handshake refuses any client that does not
    present a certificate signed by one of those CAs (mutual TLS).
    """
    if not settings.tls_cert_file:
        return None
    if not settings.tls_key_file:  # validate() refuses this; Settings built in code may not
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
    DISPUTE_SERVICE_NAME,
)
"""Every paycore gRPC service: reflected, and reported by the health service."""


class PaycoreServer:
    """One grpc.aio server process serving paycore (used by ``serve`` and the tests)."""

    def __init__(
        self,
        settings: Settings,
        services: Services,
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
                # Resource limits (Settings.grpc_*): beyond them RESOURCE_EXHAUSTED.
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
            )
        )
        if services.disputes is not None:
            self._server.add_generic_rpc_handlers(
                (
                    dispute_generic_handler(
                        DisputeHandlers(services.disputes.service, secret), resolver, telemetry
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
            self._services.callbacks.install(endpoint.app)
            self._services.payouts.install(endpoint.app)  # the bank's payout answers
            if self._services.disputes is not None:  # the channels' dispute notifications
                self._services.disputes.ingress.install(endpoint.app)
            self.callbacks_port = await endpoint.start()
            self._services.callbacks.announce(self._settings.callbacks_host, self.callbacks_port)
            self._services.payouts.notify_to(self._settings.callbacks_host, self.callbacks_port)
            self._callbacks = endpoint
        if self._settings.status_query.enabled:
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
