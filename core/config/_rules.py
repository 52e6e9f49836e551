"""``validate``: the rules a typed Settings value must still meet to work.

pydantic has converted every value to its type; these rules are about ranges and
about fields that only make sense together (a pool's bounds, TLS files in pairs,
a status-query grace longer than a live request). Each message names the field.
They run in ``load_settings`` and again after CLI flags are applied, and on any
Settings built in code (``build_telemetry`` checks its own).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from core.config._base import ConfigError, seconds
from core.config._settings import Settings
from core.config._tables import LedgerSettings, StatusQuerySettings
from core.domain.invoices import DunningSchedule
from core.events.schedule import parse_schedule
from core.service.commit_retry import COMMIT_RETRY_WINDOW_S
from core.vault.keyring import KeyringError
from core.vault.keyring import parse_config as parse_vault_config

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TRACE_EXPORTERS = ("none", "console", "otlp")
METRICS_EXPORTERS = ("none", "prometheus", "console", "otlp")


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
    _validate_billing(settings)
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


MAX_SETTLEMENT_GRACE_S = 21_600.0
"""Six hours: a business day of 9999-12-30 still closes at a time a datetime can hold."""


def _validate_ledger(ledger: LedgerSettings) -> None:
    if not 0 <= ledger.fee_bps <= 10_000 or ledger.fee_fixed_minor < 0:
        raise ConfigError("ledger.fee_bps must be 0..10000 and ledger.fee_fixed_minor >= 0")
    if ledger.dispute_fee_minor < 0:
        raise ConfigError("ledger.dispute_fee_minor must be >= 0")
    if ledger.dispute_poll_interval_s < 0:
        raise ConfigError("ledger.dispute_poll_interval_s must be >= 0")
    if ledger.settlement_poll_interval_s < 0:
        raise ConfigError("ledger.settlement_poll_interval_s must be >= 0")
    if not 0 <= ledger.settlement_grace_s <= MAX_SETTLEMENT_GRACE_S:
        raise ConfigError(f"ledger.settlement_grace_s must be 0 to {MAX_SETTLEMENT_GRACE_S}")
    if ledger.payout_settle_after_s < 0:
        raise ConfigError("ledger.payout_settle_after_s must be >= 0")
    try:
        delays = ledger.payout_query_delays_s
    except ValueError:
        schedule = ledger.payout_query_schedule_s
        raise ConfigError(f"ledger.payout_query_schedule_s: cannot use {schedule!r}") from None
    if not delays or min(delays) < 0 or ledger.payout_poll_interval_s < 0:
        raise ConfigError(
            "ledger.payout_query_schedule_s needs at least one delay, none negative;"
            " ledger.payout_poll_interval_s must be >= 0"
        )


def _validate_status_query(status: StatusQuerySettings) -> None:
    for name in ("schedule_s", "pending_schedule_s"):
        try:
            delays = seconds(getattr(status, name))
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


def _validate_billing(settings: Settings) -> None:
    if settings.billing_poll_s < 0 or settings.billing_lease_s <= 0:
        raise ConfigError("billing_poll_s must be >= 0 and billing_lease_s > 0")
    try:
        DunningSchedule.of(settings.billing_dunning_days)
    except ValueError as error:
        raise ConfigError(f"billing_dunning_days: {error}") from None
