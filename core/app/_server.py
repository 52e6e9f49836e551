"""The gRPC server of a process, built from its ``Settings`` and ``Services``.

core/api/server.py takes values of its own (``ServerSettings``, ``ServedServices``)
so that the adapter imports neither the configuration nor this wiring; this module
is the one place that fills them.
"""

from __future__ import annotations

from core.api.identity import IdentityResolver
from core.api.server import PaycoreServer, ServedServices, ServerSettings
from core.app._services import Services
from core.config import Settings
from core.telemetry import Telemetry


def server_settings(settings: Settings) -> ServerSettings:
    """The fields of ``settings`` the gRPC server reads."""
    return ServerSettings(
        host=settings.host,
        port=settings.port,
        card_fingerprint_key=settings.card_fingerprint_key,
        grpc_max_message_bytes=settings.grpc_max_message_bytes,
        grpc_max_concurrent_streams=settings.grpc_max_concurrent_streams,
        grpc_max_concurrent_rpcs=settings.grpc_max_concurrent_rpcs,
        tls_cert_file=settings.tls_cert_file,
        tls_key_file=settings.tls_key_file,
        tls_client_ca_file=settings.tls_client_ca_file,
        callbacks_enabled=settings.callbacks_enabled,
        callbacks_host=settings.callbacks_host,
        callbacks_port=settings.callbacks_port,
        status_queries_enabled=settings.status_query.enabled,
    )


def served_services(services: Services) -> ServedServices:
    """What of ``services`` the gRPC server serves, starts and drains."""
    return ServedServices(
        authenticator=services.authenticator,
        payments=services.payments,
        vault=services.vault,
        access=services.access,
        merchant_settings=services.merchant_settings,
        risk=services.risk,
        accounts=services.accounts,
        settlement=services.settlement,
        merchant_routing=services.merchant_routing,
        customers=services.customers,
        mandates=services.mandates,
        subscriptions=services.subscriptions,
        executor=services.executor,
        status_queries=services.status_queries,
        # Channels' notifications (payments, disputes), the bank's answers to payouts,
        # and the 3-D Secure pages.
        callbacks=(
            services.callbacks,
            services.payouts,
            *((services.disputes.ingress,) if services.disputes else ()),
            *services.three_ds,
        ),
        notifications=services.notifications,
        disputes=services.disputes.service if services.disputes else None,
    )


def paycore_server(
    settings: Settings,
    services: Services,
    *,
    reuse_port: bool = False,
    identity: IdentityResolver | None = None,
    telemetry: Telemetry | None = None,
) -> PaycoreServer:
    """A gRPC server (not started) serving ``services`` as ``settings`` say."""
    return PaycoreServer(
        server_settings(settings),
        served_services(services),
        reuse_port=reuse_port,
        identity=identity,
        telemetry=telemetry,
    )
