"""Secrets shown once: added to the reply of the call that made them, never stored."""

from __future__ import annotations

from google.protobuf.message import Message

from core.service.execution import Reply


def reveal_once(reply: Reply, response_type: type[Message], secret: str | None) -> Reply:
    """The reply with its ``secret`` field set, when this very call made the secret.

    Secrets (API keys, webhook signing secrets) are left out of stored replies,
    so a replay of the request_id never shows them again; the call that made
    one gets it added here, once. ``secret`` is None for replays.
    """
    if secret is None or not reply.ok:
        return reply
    response = response_type.FromString(reply.body)
    response.secret = secret  # type: ignore[attr-defined]
    return Reply(True, response.SerializeToString(deterministic=True))
