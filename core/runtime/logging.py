"""Process-wide logging from ``Settings.log_level`` and ``Settings.log_format``.

``text`` is for people::

    2025-01-02 03:04:05,678 INFO [4711] core.runtime.embedded: PostgreSQL: embedded in ...

``json`` is one object per line for log pipelines, with ``time`` (ISO 8601, UTC),
``level``, ``logger``, ``message``, ``pid``, every field passed as
``logger.info(..., extra={...})``, and ``exception`` when there is one.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from core.config import Settings

# The attributes every LogRecord has; anything else on a record came from ``extra``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class _PaycoreHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler configure_logging installs, told apart from anyone else's."""


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(settings: Settings) -> None:
    """Send all logging to stderr at ``settings.log_level`` in ``settings.log_format``.

    Calling it again replaces the handler it installed before (and only that one:
    handlers others attached to the root logger, such as pytest's, stay).
    """
    handler = _PaycoreHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s")
        )
    root = logging.getLogger()
    for old in root.handlers[:]:
        if isinstance(old, _PaycoreHandler):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
