"""Service configuration: one frozen Settings value, from a TOML file and the environment.

Precedence, lowest to highest: defaults < TOML file (``--config`` or
``PAYCORE_CONFIG``) < ``PAYCORE_*`` environment variables < CLI flags. Every
field is documented where it is declared; ``docs/CONFIGURATION.md`` lists them.

With neither ``postgres_dsn`` nor ``redis_url`` set, ``paycore run`` starts an
embedded PostgreSQL and Redis from pip wheels, keeping their data under
``data_dir`` (see core/runtime/embedded.py).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from core.events.schedule import DEFAULT_SCHEDULE, parse_schedule
from core.service.commit_retry import COMMIT_RETRY_WINDOW_S
from core.vault.keyring import KeyringError
from core.vault.keyring import parse_config as parse_vault_config

ENV_PREFIX = "PAYCORE_"

DEV_FINGERPRINT_KEY = "paycore-dev-fingerprint-key-change-me"


class ConfigError(ValueError):
    """The configuration file or environment holds an invalid value."""


@dataclass(frozen=True, slots=True)
class RiskSettings:
    """Rules of the inline risk engine (grows with the risk issue)."""

    max_amount_minor: int = 1_000_000_00
    """Hard limit per payment, in minor units of any currency (default 1,000,000.00)."""
    review_amount_minor: int = 10_000_00
    """Payments above this add to the risk score (default 10,000.00)."""
    blocked_card_fingerprints: tuple[str, ...] = ()
    blocked_bins: tuple[str, ...] = ()
    blocked_customer_ids: tuple[str, ...] = ()
    rules_file: str | None = None
    """The rules file (TOML, see riskengine/README.md); unset: the shipped default rules."""
    rules_poll_interval_s: float = 2.0
    """How often the rules file's modification time is checked for a reload (0: never)."""


@dataclass(frozen=True, slots=True)
class LedgerSettings:
    """Fees and settlement of the ledger (core/ledger, issue 6)."""

    fee_bps: int = 290
    """Default fee on a capture, in basis points of its amount (290: 2.9 %)."""
    fee_fixed_minor: int = 30
    """Default fixed fee on a capture, in minor units of its currency (30: 0.30 USD)."""
    settlement_poll_interval_s: float = 300.0
    """How often the settlement job looks for closed days with unsettled items (0: never)."""
    settlement_grace_s: float = 300.0
    """How long after its end (midnight UTC) a business day stays open: it can be settled only
    then, so that a capture stamped just before midnight has committed (0 to 21600)."""
    payout_settle_after_s: float = 2.0
    """When the (simulated) bank answers a withdrawal's payout (router/channels/bank_payouts.py)."""
    payout_query_schedule_s: str = "60,300,3600,21600,86400"
    """Seconds before each status query of a withdrawal whose bank notification has not
    come: the first after it was sent, each next after the previous query; when the last
    one still cannot tell, the withdrawal is marked for manual attention."""
    payout_poll_interval_s: float = 5.0
    """How often payout status queries look for due withdrawals (0: never)."""

    @property
    def payout_query_delays_s(self) -> tuple[float, ...]:
        """``payout_query_schedule_s`` as numbers."""
        return _seconds(self.payout_query_schedule_s)


@dataclass(frozen=True, slots=True)
class RateLimitSettings:
    """Requests per second (average) and burst, per merchant and RPC class.

    ``merchants`` overrides any of the four numbers for one merchant, from the
    TOML file: ``[rate_limits.merchants.acme] writes_per_s = 500``.
    """

    writes_per_s: float = 100.0
    """Mutating RPCs (create, confirm, capture, cancel, refund, update) per second."""
    writes_burst: int = 20
    reads_per_s: float = 500.0
    """GetPayment and ListPayments per second."""
    reads_burst: int = 100
    merchants: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def for_merchant(self, merchant_id: str) -> RateLimitSettings:
        """The limits of one merchant: the defaults with its overrides applied."""
        overrides = self.merchants.get(merchant_id)
        if not overrides:
            return self
        return dataclasses.replace(self, merchants={}, **overrides)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """API key authentication: caching of verified keys and the guess throttle.

    The throttle counts failed authentications only and refuses failed ones
    only: a key that verifies is always accepted (core/auth/authenticator.py).
    """

    key_cache_s: float = 5.0
    """How long a process trusts a verified key without reading it again (never past its expiry).

    Revocations and rotations are broadcast to every process over Redis and
    take effect within a round trip; this is the bound only while a process's
    subscription to that broadcast is down.
    """
    lockout_failures: int = 10
    """Failed authentications from one source address (or with one key prefix) that lock it."""
    lockout_window_s: float = 60.0
    """The window in which those failures are counted."""
    lockout_s: float = 300.0
    """How long a locked source or key prefix gets RESOURCE_EXHAUSTED for its *failed* keys."""


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """Where the built-in acquirers run: in process (default) or behind a channel simulator."""

    acquirer_a_url: str | None = None
    """Base URL of a ``paycore simulator --channel acquirer_a``; None: simulated in process."""
    acquirer_b_url: str | None = None
    """The same for ``acquirer_b``."""
    http_secret: str | None = None
    """Shared HMAC secret of those simulators (requests and notifications); required with a URL."""
    bank_settle_after_s: float = 2.0
    """When the simulated bank (channel ``bank_transfer``) reports a transfer: this long after
    it was registered; the notification reaches paycore only with ``callbacks_enabled``."""


@dataclass(frozen=True, slots=True)
class StatusQuerySettings:
    """The scheduler that asks channels about attempts that ended unknown."""

    enabled: bool = True
    """Run the scheduler in every server process (leases keep workers from colliding)."""
    schedule_s: str = "60,300,300,300,300,300"
    """Seconds before each status query of an attempt: the first after the attempt ended
    unknown, each next after the previous query; when the last one still cannot tell,
    the attempt is marked for manual attention."""
    pending_schedule_s: str = "3600,21600,86400,86400,86400"
    """The same for attempts an asynchronous channel answered "pending" (bank transfers):
    they settle by notification, and these queries catch a notification that never came."""
    started_grace_s: float = 120.0
    """An attempt with no recorded answer at all (its process died mid-call) is first
    queried this long after it was recorded. Must exceed ``channel_timeout_s`` plus the
    commit retries (``minimum_started_grace_s``): a shorter grace lets a status query
    settle an attempt whose request is still waiting for the channel or for PostgreSQL."""
    lease_s: float = 30.0
    """How long a worker holds the attempts it picked (another worker takes them after)."""
    batch_size: int = 50
    poll_interval_s: float = 5.0
    """How often the scheduler looks for due attempts when the last batch was not full."""

    @property
    def delays_s(self) -> tuple[float, ...]:
        """``schedule_s`` as numbers."""
        return _seconds(self.schedule_s)

    @property
    def pending_delays_s(self) -> tuple[float, ...]:
        """``pending_schedule_s`` as numbers."""
        return _seconds(self.pending_schedule_s)


def _seconds(schedule: str) -> tuple[float, ...]:
    return tuple(float(part) for part in schedule.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything paycore reads at start-up."""

    host: str = "127.0.0.1"
    port: int = 50051
    workers: int = 1
    """Server processes sharing the port through SO_REUSEPORT."""
    use_uvloop: bool = True
    postgres_dsn: str | None = None
    """External PostgreSQL; None starts the embedded one."""
    redis_url: str | None = None
    """External Redis; None starts the embedded one."""
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
    channel_timeout_s: float = 10.0
    """How long paycore waits for a channel's answer before treating it as unknown."""
    routing_file: str | None = None
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
    vault_keys: tuple[str, ...] = ()
    """Card vault key-encryption keys, ``"<key_id>:<base64 of 32 bytes>"`` each (secret).

    Empty: a public development key ``dev`` is used (with a warning).
    """
    vault_active_key_id: str | None = None
    """The key of ``vault_keys`` that seals new cards; ``paycore vault rotate`` moves the rest."""
    log_level: str = "INFO"
    log_format: str = "auto"
    """"text" for people, "json" for log pipelines; "auto" is json unless stderr, where
    the logs go, is a terminal (so a container or a service manager gets json)."""
    risk: RiskSettings = field(default_factory=RiskSettings)
    rate_limits: RateLimitSettings = field(default_factory=RateLimitSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    status_query: StatusQuerySettings = field(default_factory=StatusQuerySettings)
    channels: ChannelSettings = field(default_factory=ChannelSettings)
    ledger: LedgerSettings = field(default_factory=LedgerSettings)
    redis_cluster: bool = False
    """Treat ``redis_url`` as a seed node of a Redis Cluster."""
    redis_timeout_s: float = 0.5
    """Connect and command timeout for Redis; beyond it paycore carries on without Redis."""
    redis_retry_interval_s: float = 1.0
    """After a Redis failure, how long paycore works without Redis before trying it again."""
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
    tls_cert_file: str | None = None
    """PEM certificate chain of the gRPC server; with ``tls_key_file``, the server speaks TLS."""
    tls_key_file: str | None = None
    """PEM private key of ``tls_cert_file`` (the path is shown, the key never)."""
    tls_client_ca_file: str | None = None
    """PEM CA certificates; when set, clients must present a certificate they signed (mTLS)."""

    webhook_relay: bool = True
    """Run a webhook relay worker in each server process (any number may run at once)."""
    webhook_retry_schedule: tuple[str, ...] = DEFAULT_SCHEDULE
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

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (CLI flags use this)."""
        return dataclasses.replace(self, **changes)


def _coerce(name: str, raw: Any, target: Any) -> Any:
    """Convert a TOML or environment value to the type of the field's default."""
    try:
        if isinstance(target, bool):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(text)
        if isinstance(target, int):
            if isinstance(raw, bool):
                raise ValueError(raw)
            return int(raw)
        if isinstance(target, float):
            return float(raw)
        if isinstance(target, Path):
            return Path(str(raw))
        if isinstance(target, tuple):
            if isinstance(raw, str):
                return tuple(part.strip() for part in raw.split(",") if part.strip())
            return tuple(str(item) for item in raw)
        if raw is None or raw == "":
            return None
        return str(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: cannot use {raw!r}") from None


def _apply(base: Any, values: Mapping[str, Any], where: str) -> Any:
    known = {f.name: f for f in dataclasses.fields(base)}
    changes: dict[str, Any] = {}
    for key, raw in values.items():
        if key not in known:
            raise ConfigError(f"{where}: unknown setting {key!r}")
        current = getattr(base, key)
        if key == "merchants" and isinstance(base, RateLimitSettings):
            changes[key] = _merchant_limits(raw, f"{where}.{key}")
        elif dataclasses.is_dataclass(current):
            if not isinstance(raw, Mapping):
                raise ConfigError(f"{where}: [{key}] must be a table")
            changes[key] = _apply(current, raw, f"{where}.{key}")
        else:
            # Optional strings default to None; coerce them as strings.
            changes[key] = _coerce(f"{where}.{key}", raw, "" if current is None else current)
    return dataclasses.replace(base, **changes)


_MERCHANT_LIMIT_FIELDS = ("writes_per_s", "writes_burst", "reads_per_s", "reads_burst")


def _merchant_limits(raw: Any, where: str) -> Mapping[str, Mapping[str, float]]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a table of merchant tables")
    parsed: dict[str, Mapping[str, float]] = {}
    defaults = RateLimitSettings()
    for merchant_id, table in raw.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where}.{merchant_id} must be a table")
        values: dict[str, float] = {}
        for name, value in table.items():
            if name not in _MERCHANT_LIMIT_FIELDS:
                raise ConfigError(f"{where}.{merchant_id}: unknown setting {name!r}")
            values[name] = _coerce(f"{where}.{merchant_id}.{name}", value, getattr(defaults, name))
        parsed[str(merchant_id)] = values
    return parsed


def load_settings(
    config_file: Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build Settings from defaults, an optional TOML file and ``PAYCORE_*`` variables.

    Environment names are the field names upper-cased (``PAYCORE_PORT``,
    ``PAYCORE_POSTGRES_DSN``); nested risk fields use ``PAYCORE_RISK__NAME``.
    """
    env = os.environ if environ is None else environ
    settings = Settings()
    path = config_file or (
        Path(env[ENV_PREFIX + "CONFIG"]) if env.get(ENV_PREFIX + "CONFIG") else None
    )
    if path is not None:
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
        settings = _apply(settings, data, str(path))
    from_env: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if "__" in key:
            table, _, sub = key.partition("__")
            from_env.setdefault(table, {})[sub] = value
        else:
            from_env[key] = value
    settings = _apply(settings, from_env, "environment")
    validate(settings)
    result: Settings = settings
    return result


def validate(settings: Settings) -> None:
    """Reject settings that cannot work, with a message naming the field."""
    if not 0 <= settings.port <= 65535:
        raise ConfigError("port must be between 0 and 65535")
    if settings.workers < 1:
        raise ConfigError("workers must be at least 1")
    if settings.pg_pool_min < 1 or settings.pg_pool_max < settings.pg_pool_min:
        raise ConfigError("pg_pool_min must be >= 1 and <= pg_pool_max")
    if settings.pg_acquire_timeout_s <= 0:
        raise ConfigError("pg_acquire_timeout_s must be > 0")
    if settings.idempotency_ttl_s < 24 * 3600:
        raise ConfigError("idempotency_ttl_s must be at least 86400 (24 h)")
    if settings.log_format not in {"auto", "text", "json"}:
        raise ConfigError('log_format must be "auto", "text" or "json"')
    if (
        min(
            settings.grpc_max_message_bytes,
            settings.grpc_max_concurrent_rpcs,
            settings.grpc_max_concurrent_streams,
        )
        < 1
    ):
        raise ConfigError("grpc_max_message_bytes, _concurrent_rpcs, _concurrent_streams: >= 1")
    if settings.grace_period_s < 0 or settings.channel_timeout_s <= 0:
        raise ConfigError("grace_period_s must be >= 0 and channel_timeout_s > 0")
    _validate_status_query(settings.status_query)
    _validate_started_grace(settings)
    channels = settings.channels
    if (channels.acquirer_a_url or channels.acquirer_b_url) and not channels.http_secret:
        raise ConfigError("channels.http_secret is required with a channel simulator URL")
    if settings.port == 0 and settings.workers > 1:
        raise ConfigError("port 0 (any free port) needs workers = 1: each worker would get its own")
    if settings.log_level.upper() not in LOG_LEVELS:
        raise ConfigError(f"log_level must be one of {', '.join(LOG_LEVELS)}")
    if settings.redis_timeout_s <= 0 or settings.redis_retry_interval_s < 0:
        raise ConfigError("redis_timeout_s must be > 0 and redis_retry_interval_s >= 0")
    auth = settings.auth
    if auth.key_cache_s < 0 or auth.lockout_failures < 1:
        raise ConfigError("auth.key_cache_s must be >= 0 and auth.lockout_failures >= 1")
    if auth.lockout_window_s <= 0 or auth.lockout_s <= 0:
        raise ConfigError("auth.lockout_window_s and auth.lockout_s must be positive")
    _validate_ledger(settings.ledger)
    _validate_telemetry(settings)
    _validate_webhooks(settings)
    _validate_vault(settings)
    _validate_tls(settings)
    limits = settings.rate_limits
    for merchant in ("", *limits.merchants):
        own = limits.for_merchant(merchant)
        where = f"rate_limits.merchants.{merchant}" if merchant else "rate_limits"
        if own.writes_per_s <= 0 or own.reads_per_s <= 0:
            raise ConfigError(f"{where}: *_per_s must be positive")
        if own.writes_burst < 1 or own.reads_burst < 1:
            raise ConfigError(f"{where}: *_burst must be at least 1")


TRACE_EXPORTERS = ("none", "console", "otlp")
METRICS_EXPORTERS = ("none", "prometheus", "console", "otlp")


MAX_SETTLEMENT_GRACE_S = 21_600.0
"""Six hours: a business day of 9999-12-30 still closes at a time a datetime can hold."""


def _validate_ledger(ledger: LedgerSettings) -> None:
    if not 0 <= ledger.fee_bps <= 10_000 or ledger.fee_fixed_minor < 0:
        raise ConfigError("ledger.fee_bps must be 0..10000 and ledger.fee_fixed_minor >= 0")
    if ledger.settlement_poll_interval_s < 0:
        raise ConfigError("ledger.settlement_poll_interval_s must be >= 0")
    if not 0 <= ledger.settlement_grace_s <= MAX_SETTLEMENT_GRACE_S:
        raise ConfigError(f"ledger.settlement_grace_s must be 0 to {MAX_SETTLEMENT_GRACE_S}")
    if ledger.payout_settle_after_s < 0:
        raise ConfigError("ledger.payout_settle_after_s must be >= 0")
    delays = ledger.payout_query_delays_s
    if not delays or min(delays) < 0 or ledger.payout_poll_interval_s < 0:
        raise ConfigError(
            "ledger.payout_query_schedule_s needs at least one delay, none negative;"
            " ledger.payout_poll_interval_s must be >= 0"
        )


def _validate_status_query(status: StatusQuerySettings) -> None:
    for name in ("schedule_s", "pending_schedule_s"):
        try:
            delays = _seconds(getattr(status, name))
        except ValueError:
            raise ConfigError(
                f"status_query.{name}: cannot use {getattr(status, name)!r}"
            ) from None
        if not delays or min(delays) < 0:
            raise ConfigError(f"status_query.{name} needs at least one delay, none negative")
    if status.lease_s <= 0 or status.batch_size < 1 or status.poll_interval_s <= 0:
        raise ConfigError("status_query: lease_s and poll_interval_s > 0, batch_size >= 1")


def minimum_started_grace_s(settings: Settings) -> float:
    """The shortest ``status_query.started_grace_s`` that no live request can race.

    A live request keeps its attempt 'started' while it waits for the channel
    (up to ``channel_timeout_s``) and then while it retries its commit through a
    PostgreSQL outage (``COMMIT_RETRY_WINDOW_S``).
    """
    return settings.channel_timeout_s + COMMIT_RETRY_WINDOW_S


def _validate_started_grace(settings: Settings) -> None:
    grace, floor = settings.status_query.started_grace_s, minimum_started_grace_s(settings)
    if not grace > floor:  # also refuses NaN
        raise ConfigError(
            f"status_query.started_grace_s ({grace:g} s) must exceed channel_timeout_s plus"
            f" the commit retries ({settings.channel_timeout_s:g} + {COMMIT_RETRY_WINDOW_S:g}"
            f" = {floor:g} s): a status query would race a request still waiting for its"
            " channel's answer"
        )


def _validate_telemetry(settings: Settings) -> None:
    if settings.trace_exporter not in TRACE_EXPORTERS:
        raise ConfigError(f"trace_exporter must be one of {', '.join(TRACE_EXPORTERS)}")
    if not 0.0 <= settings.trace_sample_ratio <= 1.0:  # also refuses NaN
        raise ConfigError("trace_sample_ratio must be between 0 and 1")
    if settings.metrics_exporter not in METRICS_EXPORTERS:
        raise ConfigError(f"metrics_exporter must be one of {', '.join(METRICS_EXPORTERS)}")
    try:
        endpoint = urlsplit(settings.otlp_endpoint)
        # .port raises ValueError when out of range; None (the default port) is fine.
        usable = endpoint.scheme in {"http", "https"} and bool(endpoint.hostname)
        usable = usable and endpoint.port != 0
    except ValueError:
        usable = False
    if not usable:
        raise ConfigError("otlp_endpoint must be an http:// or https:// URL with a host")
    last_http_port = settings.http_port + settings.workers - 1
    if settings.http_port < 0 or last_http_port > 65535:
        raise ConfigError("http_port must be >= 0, and http_port + workers - 1 at most 65535")
    if settings.http_port and settings.http_port <= settings.port <= last_http_port:
        raise ConfigError(f"http_port: the workers' HTTP ports would include port {settings.port}")
    if not settings.service_name.strip():
        raise ConfigError("service_name must not be empty")


def _validate_webhooks(settings: Settings) -> None:
    try:
        parse_schedule(settings.webhook_retry_schedule)
    except ValueError as exc:
        raise ConfigError(f"webhook_retry_schedule: {exc}") from None
    if settings.webhook_timeout_s <= 0 or settings.webhook_poll_interval_s <= 0:
        raise ConfigError("webhook_timeout_s and webhook_poll_interval_s must be > 0")
    if settings.webhook_endpoint_concurrency < 1 or settings.webhook_max_in_flight < 1:
        raise ConfigError("webhook_endpoint_concurrency and webhook_max_in_flight must be >= 1")
    if settings.webhook_secret_overlap_s < 0 or settings.event_stream_poll_s <= 0:
        raise ConfigError("webhook_secret_overlap_s must be >= 0 and event_stream_poll_s > 0")


def _validate_tls(settings: Settings) -> None:
    if bool(settings.tls_cert_file) != bool(settings.tls_key_file):
        missing = "tls_key_file" if settings.tls_cert_file else "tls_cert_file"
        raise ConfigError(f"{missing} must be set too: tls_cert_file and tls_key_file go together")
    if settings.tls_client_ca_file and not settings.tls_cert_file:
        raise ConfigError(
            "tls_client_ca_file needs tls_cert_file and tls_key_file: mutual TLS is TLS first"
        )
    for name, marker in _TLS_PEM_MARKERS.items():
        path = getattr(settings, name)
        if not path:
            continue
        # The path only: a key file's contents never reach a message or a log.
        try:
            with open(path, "rb") as pem:
                content = pem.read()
        except OSError as exc:
            raise ConfigError(f"{name}: cannot read {path!r} ({exc.strerror})") from None
        # grpc would only say "Failed to bind" for a file that is not PEM.
        if marker not in content:
            raise ConfigError(f"{name}: {path!r} holds no PEM {marker.decode().strip('-')}")


_TLS_PEM_MARKERS = {
    "tls_cert_file": b"-----BEGIN CERTIFICATE-----",
    "tls_key_file": b"PRIVATE KEY-----",
    "tls_client_ca_file": b"-----BEGIN CERTIFICATE-----",
}


def _validate_vault(settings: Settings) -> None:
    # The keyring's own checks, so that a bad key stops start-up with exit code 2.
    try:
        parse_vault_config(settings.vault_keys, settings.vault_active_key_id or "")
    except KeyringError as exc:
        raise ConfigError(str(exc)) from None


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Fields whose value is never shown: any name ending in one of these.
_SECRET_SUFFIXES = ("_key", "_keys", "_secret", "_password", "_token")
_PASSWORD_PARAMETER = re.compile(r"(?i)(\bpassword=)[^&]*")


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for logs and ``paycore config``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<not a URL; not shown>"
    if password is not None:
        user, _, host = parts.netloc.rpartition("@")
        url = urlunsplit(parts._replace(netloc=f"{user.partition(':')[0]}:***@{host}"))
    return _PASSWORD_PARAMETER.sub(r"\1***", url)


def settings_as_toml(settings: Settings) -> str:
    """The settings as a TOML file that ``load_settings`` reads, with secrets redacted.

    Unset optional fields become comments. Passwords in DSNs and URLs read ``***``,
    and fields named like secrets ``<redacted>``.
    """
    lines: list[str] = []
    tables: list[str] = []
    for item in dataclasses.fields(settings):
        value = getattr(settings, item.name)
        if dataclasses.is_dataclass(value):
            tables += ["", f"[{item.name}]"]
            subtables: list[str] = []
            for sub in dataclasses.fields(value):
                sub_value = getattr(value, sub.name)
                if isinstance(sub_value, Mapping):  # rate_limits.merchants: one table each
                    for name, table in sub_value.items():
                        subtables += ["", f"[{item.name}.{sub.name}.{_toml_value(name)}]"]
                        subtables += [_toml_line(k, v) for k, v in table.items()]
                else:
                    tables.append(_toml_line(sub.name, sub_value))
            tables += subtables
        else:
            lines.append(_toml_line(item.name, value))
    return "\n".join(lines + tables) + "\n"


def _toml_line(name: str, value: Any) -> str:
    if value is None:
        return f"# {name} is not set"
    if name.endswith(_SECRET_SUFFIXES) and value:  # an empty one reveals nothing, reads back
        value = "<redacted>"
    elif isinstance(value, str) and name.endswith(("_dsn", "_url")):
        value = redact_url(value)
    return f"{name} = {_toml_value(value)}"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    # A JSON string is a TOML basic string (ensure_ascii=False: TOML has no surrogates).
    return json.dumps(str(value), ensure_ascii=False)
