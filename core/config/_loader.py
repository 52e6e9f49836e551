"""``load_settings``: Settings from defaults, a TOML file and ``PAYCORE_*`` variables.

Precedence, lowest to highest: defaults < the TOML file (``--config`` or
``PAYCORE_CONFIG``) < ``PAYCORE_*`` environment variables (< CLI flags, applied by
core/cli.py with ``Settings.replace``). pydantic-settings reads the two sources;
their values are merged, table by table, converted by the Settings models, and then
checked by ``validate``. Every failure is a ConfigError naming the file or the
variable, the field, and why.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)
from pydantic_settings.sources.utils import parse_env_vars

from core.config._base import ConfigError, describe_error
from core.config._rules import validate
from core.config._settings import Settings

ENV_PREFIX = "PAYCORE_"
NESTED_DELIMITER = "__"
CONFIG_VARIABLE = ENV_PREFIX + "CONFIG"
"""Names the TOML file when ``--config`` does not."""

TOML_ONLY = frozenset({("rate_limits", "merchants")})
"""Settings keyed by merchant id: ids are case-sensitive, variable names are not."""


class _SettingsSchema(Settings, BaseSettings):
    """Settings as pydantic-settings' sources look it up (never instantiated)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=NESTED_DELIMITER, case_sensitive=False
    )


class _EnvironmentSource(EnvSettingsSource):
    """``PAYCORE_*`` variables from ``environ`` (``os.environ``, or a test's own mapping).

    Only names starting with ``PAYCORE_`` as written count, as they always have;
    after the prefix, case does not matter.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = {name: value for name, value in environ.items() if is_paycore(name)}
        super().__init__(_SettingsSchema)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # pydantic-settings reads os.environ here; this source reads the mapping it was given.
        return parse_env_vars(self._environ, self.case_sensitive)


def is_paycore(variable: str) -> bool:
    """Whether ``variable`` is one of paycore's setting variables (``PAYCORE_CONFIG`` is not)."""
    return variable.startswith(ENV_PREFIX) and variable != CONFIG_VARIABLE


def load_settings(
    config_file: Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build Settings from defaults, an optional TOML file and ``PAYCORE_*`` variables.

    Environment names are the field names upper-cased (``PAYCORE_PORT``,
    ``PAYCORE_POSTGRES_DSN``); nested table fields use ``PAYCORE_RISK__NAME``.
    Raises ConfigError for an unreadable file, an unknown key or variable, a value
    of the wrong type, or settings that ``validate`` refuses.
    """
    env = os.environ if environ is None else environ
    path = config_file or (Path(env[CONFIG_VARIABLE]) if env.get(CONFIG_VARIABLE) else None)
    from_file = _file_values(path) if path is not None else {}
    _refuse_unknown_variables(env)
    try:
        from_env = _EnvironmentSource(env)()
    except SettingsError as exc:  # a value it could not decode; the cause names it
        raise ConfigError(f"environment: {exc}: {exc.__cause__}") from None
    try:
        settings = Settings.model_validate(_merged(from_file, from_env))
    except ValidationError as exc:
        messages = (_describe(error, from_env, path) for error in exc.errors())
        raise ConfigError("; ".join(messages)) from None
    validate(settings)
    return settings


def _file_values(path: Path) -> dict[str, Any]:
    """The TOML file's tables and values, as read by pydantic-settings' TOML source."""
    if not path.is_file():  # the source would skip a missing file without a word
        raise ConfigError(f"{path}: no such file")
    try:
        return TomlConfigSettingsSource(_SettingsSchema, toml_file=path)()
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _refuse_unknown_variables(environ: Mapping[str, str]) -> None:
    """ConfigError for a ``PAYCORE_*`` variable that names no setting (a typo goes unnoticed
    otherwise: pydantic-settings looks up the names it knows and ignores the rest)."""
    tables = {
        name: field.annotation
        for name, field in Settings.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
    }
    for variable in filter(is_paycore, environ):
        key = variable.removeprefix(ENV_PREFIX).lower()
        table, nested, sub = key.partition(NESTED_DELIMITER)
        if not nested and key in Settings.model_fields and key not in tables:
            continue
        model = tables.get(table)
        if model is None or not nested:
            if key in tables:
                raise ConfigError(f"environment: [{key}] must be a table: set {variable}__<FIELD>")
            raise ConfigError(f"environment: unknown setting {key!r} ({variable})")
        if sub not in model.model_fields or (table, sub) in TOML_ONLY:
            raise ConfigError(f"environment.{table}: unknown setting {sub!r} ({variable})")


def _merged(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``over``'s values winning, tables merged key by key."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(error: ErrorDetails, from_env: Mapping[str, Any], path: Path | None) -> str:
    """The error, naming the variable when the environment gave the value, else the file."""
    loc = [str(part) for part in error["loc"]]
    if _holds(from_env, loc):
        variable = ENV_PREFIX + NESTED_DELIMITER.join(loc).upper()
        return f"{variable} ({'.'.join(loc)}): cannot use {error['input']!r}: {error['msg']}"
    return describe_error(error, str(path) if path is not None else "settings")


def _holds(values: Mapping[str, Any], loc: list[str]) -> bool:
    for part in loc:
        if not isinstance(values, Mapping) or part not in values:
            return False
        values = values[part]
    return True
