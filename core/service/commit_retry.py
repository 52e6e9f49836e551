"""How long a request waits out PostgreSQL after its channel call: the commit's backoff.

The channel's answer exists only in the request's memory until transaction 2
commits (core/service/execution.py), so a brief database outage is waited out
rather than given up at once. Settings that must outlast a live request
(``status_query.started_grace_s``, core/config/_rules.py) are checked against this window.
"""

from __future__ import annotations

COMMIT_RETRY_DELAYS_S: tuple[float, ...] = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0)
"""Pauses between the tries of transaction 2 while PostgreSQL is unreachable."""

COMMIT_RETRY_WINDOW_S: float = sum(COMMIT_RETRY_DELAYS_S)
"""How long a request may keep its channel's answer waiting for PostgreSQL (16.3 s)."""
