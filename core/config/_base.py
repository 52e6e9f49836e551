"""What every settings model shares: the frozen base, the types read from text, ConfigError.

Values arrive as TOML values or as environment text; pydantic converts them to the
declared types. Two conversions are paycore's own: a list may be written as
comma-separated text (``PAYCORE_RISK__BLOCKED_BINS=411111,522222``), and an empty
text unsets an optional string (``PAYCORE_POSTGRES_DSN=`` means "not set").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic_core import ErrorDetails
from pydantic_settings import NoDecode


class ConfigError(ValueError):
    """The configuration file or environment holds an invalid value."""


class FrozenModel(BaseModel):
    """An immutable settings model that refuses keys it does not declare.

    Numbers are accepted where text is expected (``schedule_s = 60`` reads as ``"60"``),
    and each field's docstring becomes its description.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", coerce_numbers_to_str=True, use_attribute_docstrings=True
    )


def _comma_separated(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _empty_is_unset(value: Any) -> Any:
    return None if value == "" else value


Texts = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_comma_separated)]
"""A list of strings: a TOML array, or comma-separated text (not JSON) in the environment."""

OptionalText = Annotated[str | None, BeforeValidator(_empty_is_unset)]
"""A string that may be unset: None by default, and an empty value unsets it."""


def seconds(schedule: str) -> tuple[float, ...]:
    """A comma-separated schedule (``"60,300"``) as numbers; ValueError if one is not."""
    return tuple(float(part) for part in schedule.split(",") if part.strip())


def describe_errors(errors: Iterable[ErrorDetails], source: str = "") -> str:
    """pydantic's errors as one line each, naming the field (prefixed by ``source``)."""
    return "; ".join(describe_error(error, source) for error in errors)


def describe_error(error: ErrorDetails, source: str = "") -> str:
    """One error: ``<source>.<field>: cannot use <value>: <why>``, or an unknown key."""
    loc = [str(part) for part in error["loc"]]
    if error["type"] == "extra_forbidden":
        where = ".".join([source, *loc[:-1]] if source else loc[:-1])
        return f"{where or 'settings'}: unknown setting {loc[-1]!r}"
    field = ".".join([source, *loc] if source else loc)
    return f"{field}: cannot use {error['input']!r}: {error['msg']}"
