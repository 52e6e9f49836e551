"""Service configuration: one frozen Settings value, from a TOML file and the environment.

Precedence, lowest to highest: defaults < TOML file (``--config`` or
``PAYCORE_CONFIG``) < ``PAYCORE_*`` environment variables < CLI flags. Every
field is documented where it is declared; ``docs/CONFIGURATION.md`` lists them.

- ``_settings``: ``Settings``, its flat fields grouped by area (``PAYCORE_<FIELD>``);
- ``_tables``: its nested tables (``[risk]``, ``PAYCORE_RISK__<FIELD>``...);
- ``_base``: the frozen base model, the types read from text, ``ConfigError``;
- ``_loader``: ``load_settings``, on pydantic-settings' environment and TOML sources;
- ``_rules``: ``validate``, the ranges and combinations a typed value must still meet;
- ``_toml``: ``settings_as_toml`` (``paycore config``) and ``redact_url``.

With neither ``postgres_dsn`` nor ``redis_url`` set, ``paycore run`` starts an
embedded PostgreSQL and Redis from pip wheels, keeping their data under
``data_dir`` (see core/runtime/embedded/).
"""

from core.config._base import ConfigError
from core.config._loader import ENV_PREFIX, load_settings
from core.config._rules import (
    LOG_LEVELS,
    METRICS_EXPORTERS,
    TRACE_EXPORTERS,
    minimum_started_grace_s,
    validate,
)
from core.config._settings import DEV_FINGERPRINT_KEY, Settings
from core.config._tables import (
    AuthSettings,
    ChannelSettings,
    LedgerSettings,
    MerchantLimits,
    RateLimitSettings,
    RiskSettings,
    StatusQuerySettings,
)
from core.config._toml import redact_url, settings_as_toml

__all__ = [
    "DEV_FINGERPRINT_KEY",
    "ENV_PREFIX",
    "LOG_LEVELS",
    "METRICS_EXPORTERS",
    "TRACE_EXPORTERS",
    "AuthSettings",
    "ChannelSettings",
    "ConfigError",
    "LedgerSettings",
    "MerchantLimits",
    "RateLimitSettings",
    "RiskSettings",
    "Settings",
    "StatusQuerySettings",
    "load_settings",
    "minimum_started_grace_s",
    "redact_url",
    "settings_as_toml",
    "validate",
]
