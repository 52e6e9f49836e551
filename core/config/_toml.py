"""``settings_as_toml`` (what ``paycore config`` prints) and ``redact_url``.

The TOML reads back through ``load_settings``; secrets never appear in it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel

from core.config._settings import Settings

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
    for name, value in settings:
        if isinstance(value, BaseModel):
            tables += ["", f"[{name}]"]
            subtables: list[str] = []
            for sub_name, sub_value in value:
                if isinstance(sub_value, Mapping):  # rate_limits.merchants: one table each
                    for key, table in sub_value.items():
                        subtables += ["", f"[{name}.{sub_name}.{_toml_value(key)}]"]
                        subtables += [_toml_line(k, v) for k, v in table.items()]
                else:
                    tables.append(_toml_line(sub_name, sub_value))
            tables += subtables
        else:
            lines.append(_toml_line(name, value))
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
