"""``Settings``: everything paycore reads at start-up, one frozen value.

Its flat fields (``PAYCORE_<FIELD>``) are declared by area, a model each, so that
a reader finds the server's, the vault's or the webhooks' settings together; the
nested tables (``PAYCORE_<TABLE>__<FIELD>``) are in core/config/_tables.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.config._base import ConfigError, FrozenModel, OptionalText, Texts, describe_errors
from core.config._tables import (
    AuthSettings,
    ChannelSettings,
    LedgerSettings,
    RateLimitSettings,
    RiskSettings,
    StatusQuerySettings,
)

DEV_FINGERPRINT_KEY = "paycore-dev-fingerprint-key-change-me"
"""The public default of ``card_fingerprint_key``: for development and tests only."""

DEFAULT_WEBHOOK_RETRY_SCHEDULE: tuple[str, ...] = (
    "1m", "5m", "10m", "10m", "10m", "1h", "1h", "1h", "1h", "1h", "6h", "6h", "6h",
)  # fmt: skip
"""1 m, 5 m, 10 m x 3, 1 h x 5, 6 h x 3: 14 attempts over about 23.6 hours
(core/events/schedule.py reads the units)."""


class ServerFields(FrozenModel):
    """The gRPC server and its processes, and logging."""

    host: str = "127.0.0.1"
    port: int = 50051
    workers: int = 1
    """Server processes sharing the port through SO_REUSEPORT."""
    use_uvloop: bool = True
    grace_period_s: float = 10.0
    """On SIGTERM: how long in-flight RPCs may finish before the server stops."""
    grpc_max_message_bytes: int = 1 << 20
    """Largest request accepted (replies may be 4x); a larger one is refused
    RESOURCE_EXHAUSTED before it is buffered. Payment requests are a few hundred bytes."""
    grpc_max_concurrent_rpcs: int = 1000
    """RPCs one worker runs at once; the next is refused RESOURCE_EXHAUSTED at once
    rather than queued, so a flood (or slow clients) cannot pin memory without bound."""
    grpc_max_concurrent_streams: int = 500
    """Calls one client connection (HTTP/2) may have open at once; more wait client-side.
    Generous: a burst above it on a new connection, before the client has the limit,
    is refused UNAVAILABLE (HTTP/2 REFUSED_STREAM)."""
    log_level: str = "INFO"
    log_format: str = "auto"
    """"text" for people, "json" for log pipelines; "auto" is json unless stderr, where
    the logs go, is a terminal (so a container or a service manager gets json)."""


class StorageFields(FrozenModel):
    """PostgreSQL: where it is, or where the embedded one keeps its data, and the pool."""

    postgres_dsn: OptionalText = None
    """External PostgreSQL; None starts the embedded one."""
    data_dir: Path = Path(".data")
    """Where the embedded PostgreSQL and Redis keep their data."""
    pg_pool_min: int = 2
    pg_pool_max: int = 20
    pg_acquire_timeout_s: float = 5.0
    """Longest wait for a free PostgreSQL connection; then the request is refused
    UNAVAILABLE with RetryInfo (retrying with the same request_id is safe), never left hanging."""
    pg_refuse_nested_acquire: bool = False
    """Fail (NestedAcquireError) when a task holding a pooled connection asks for a second
    one, the shape that deadlocks a busy pool. For tests and staging (the test suite turns
    it on); off, it costs nothing."""
    pg_group_commit: bool = True
    """Commit the first transaction of concurrent CreatePayments together, one statement
    per batch (issue 18); off, each request commits its own (the behaviour before)."""


class RedisFields(FrozenModel):
    """Redis: where it is, and how paycore carries on while it is unreachable."""

    redis_url: OptionalText = None
    """External Redis; None starts the embedded one."""
    redis_cluster: bool = False
    """Treat ``redis_url`` as a seed node of a Redis Cluster."""
    redis_timeout_s: float = 0.5
    """Connect and command timeout for Redis; beyond it paycore carries on without Redis."""
    redis_retry_interval_s: float = 1.0
    """After a Redis failure, how long paycore works without Redis before trying it again."""


class PaymentFields(FrozenModel):
    """Channels, routing, notifications, idempotency and card fingerprints."""

    channel_timeout_s: float = 10.0
    """How long paycore waits for a channel's answer before treating it as unknown."""
    routing_file: OptionalText = None
    """TOML file with each merchant's routing strategies (docs/ROUTING.md)."""
    routing_refresh_s: float = 5.0
    """How often each process reloads merchants' own routing chains (RoutingService): a change
    applies in every process within this time (at once in the one that made it). 0: only at
    start-up and on changes made in this process."""
    callbacks_enabled: bool = False
    """Serve the channel notifications ingress (``POST /callbacks/<channel>``)."""
    callbacks_host: str = "127.0.0.1"
    callbacks_port: int = 9480
    """Notifications ingress port of worker 0; worker ``i`` uses ``+ i``. 0: any free port."""
    idempotency_ttl_s: int = 24 * 3600
    """How long a request_id is remembered (at least 24 h)."""
    request_lease_s: float = 60.0
    """After this long, an unfinished request with the same request_id is treated as crashed."""
    card_fingerprint_key: str = DEV_FINGERPRINT_KEY
    """Secret keying card fingerprints and stored request fingerprints (HMAC-SHA256).

    Set it in production, and keep it: changing it changes every fingerprint.
    """


class VaultFields(FrozenModel):
    """The card vault's key-encryption keys (core/vault/keyring.py checks them)."""

    vault_keys: Texts = ()
    """Card vault key-encryption keys, ``"<key_id>:<base64 of 32 bytes>"`` each (secret).

    Empty: a public development key ``dev`` is used (with a warning).
    """
    vault_active_key_id: OptionalText = None
    """The key of ``vault_keys`` that seals new cards; ``paycore vault rotate`` moves the rest."""


class TelemetryFields(FrozenModel):
    """Traces, metrics and the HTTP port that serves ``/metrics`` and ``/healthz``."""

    trace_exporter: str = "none"
    """Where spans go: "none", "console" (stdout) or "otlp" (``otlp_endpoint``)."""
    trace_sample_ratio: float = 0.1
    """Share of new traces recorded (0..1); a sampled incoming traceparent is always followed."""
    metrics_exporter: str = "prometheus"
    """How metrics leave: "none", "prometheus" (``/metrics`` on the HTTP port), "console" or
    "otlp"."""
    otlp_endpoint: str = "http://127.0.0.1:4317"
    """OTLP/gRPC receiver (a Collector); ``http://`` is plaintext, ``https://`` uses TLS."""
    http_host: str = "127.0.0.1"
    """Address of the HTTP port (``/metrics``, ``/healthz``)."""
    http_port: int = 9464
    """HTTP port of worker 0; worker ``i`` listens on ``http_port + i``. 0 picks free ports."""
    service_name: str = "paycore"
    """OpenTelemetry ``service.name`` of every span and metric."""


class TlsFields(FrozenModel):
    """Transport security of the gRPC port: TLS, or mutual TLS with a client CA."""

    tls_cert_file: OptionalText = None
    """PEM certificate chain of the gRPC server; with ``tls_key_file``, the server speaks TLS."""
    tls_key_file: OptionalText = None
    """PEM private key of ``tls_cert_file`` (the path is shown, the key never)."""
    tls_client_ca_file: OptionalText = None
    """PEM CA certificates; when set, clients must present a certificate they signed (mTLS)."""


class WebhookFields(FrozenModel):
    """Webhook delivery and the event stream."""

    webhook_relay: bool = True
    """Run a webhook relay worker in each server process (any number may run at once)."""
    webhook_retry_schedule: Texts = DEFAULT_WEBHOOK_RETRY_SCHEDULE
    """Delays between webhook attempts (``30s``, ``5m``, ``6h``...); after the last, dead letter."""
    webhook_timeout_s: float = 10.0
    """How long one webhook POST may take, connect to last byte."""
    webhook_endpoint_concurrency: int = 4
    """Webhook POSTs in flight per endpoint, across all processes."""
    webhook_max_in_flight: int = 64
    """Webhook POSTs in flight per process."""
    webhook_poll_interval_s: float = 1.0
    """How often an idle relay worker looks for due deliveries."""
    webhook_require_https: bool = True
    """Refuse webhook URLs that are not https:// (turn off for local development)."""
    webhook_allow_private_networks: bool = False
    """Deliver to loopback, private and link-local addresses too (local development only)."""
    webhook_secret_overlap_s: int = 24 * 3600
    """Default time the previous secret keeps signing after RotateWebhookSecret."""
    event_stream_poll_s: float = 0.2
    """How often each process checks for new events of the merchants it streams to."""


class BillingFields(FrozenModel):
    """Subscriptions' billing (core/service/billing.py)."""

    billing_test_clocks: bool = False
    """Offer AdvanceTestClock: merchants move their own billing time (test servers only)."""
    billing_dunning_days: tuple[int, ...] = (1, 3, 5, 7)
    """Days after an invoice's first failed charge when it is charged again."""
    billing_poll_s: float = 10.0
    """How often each process bills the subscriptions due (any number may run); 0: never."""
    billing_lease_s: float = 120.0
    """How long a runner holds a subscription it bills; a crashed runner's expire after it."""


class Settings(
    # pydantic puts the fields of the last base first: the areas are listed bottom-up
    # so that ``paycore config`` prints them top-down, the server first.
    BillingFields,
    WebhookFields,
    TlsFields,
    TelemetryFields,
    VaultFields,
    PaymentFields,
    RedisFields,
    StorageFields,
    ServerFields,
):
    """Everything paycore reads at start-up: the fields of every area, then the tables."""

    risk: RiskSettings = RiskSettings()
    rate_limits: RateLimitSettings = RateLimitSettings()
    auth: AuthSettings = AuthSettings()
    status_query: StatusQuerySettings = StatusQuerySettings()
    channels: ChannelSettings = ChannelSettings()
    ledger: LedgerSettings = LedgerSettings()

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (CLI flags use this); ConfigError for a bad type.

        The values are converted like any other (a str ``data_dir`` becomes a Path);
        ``validate`` still decides whether the result can work.
        """
        try:
            return self.model_validate({**dict(self), **changes})
        except ValidationError as exc:
            raise ConfigError(describe_errors(exc.errors())) from None
