"""A ``paycore run`` process on the test databases, its output read as JSON log lines."""

from __future__ import annotations

import json
import re
from typing import Any

from .processes import Background, Spawn, start_paycore


def start_operated(
    spawn: Spawn, postgres_dsn: str, redis_url: str, **variables: str
) -> tuple[Background, int]:
    """paycore serving on the test PostgreSQL and Redis, writing its log to a file.

    The log format is left to paycore: ``auto`` writes JSON, the output being a file.
    """
    return start_paycore(
        spawn,
        data_dir=None,  # the databases are the test's, not embedded ones
        PAYCORE_POSTGRES_DSN=postgres_dsn,
        PAYCORE_REDIS_URL=redis_url,
        PAYCORE_LOG_FORMAT="auto",
        **variables,
    )


def log_lines(server: Background) -> list[dict[str, Any]]:
    """Every line of the server's output (stdout and stderr), each parsed as JSON.

    A line that is not JSON (a gRPC C-core message, a stray print) fails the test.
    """
    lines = []
    for line in server.output().splitlines():
        if not line.strip():
            continue
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"a line that is not a JSON log line: {line!r}") from None
    return lines


def http_port(server: Background) -> int:
    """The port of the server's HTTP endpoint (/metrics), from its log."""
    for line in log_lines(server):
        found = re.search(r"http endpoint on [\d.]+:(\d+)", line["message"])
        if found:
            return int(found.group(1))
    raise AssertionError(f"no http endpoint in the log:\n{server.output()}")
