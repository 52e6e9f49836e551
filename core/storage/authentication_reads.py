"""A payment's authentication row (``payment_authentications``, as JSON) -> domain values."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from core.domain.authentication import (
    Authentication,
    AuthenticationFlow,
    AuthenticationStatus,
    NextAction,
    RedirectToUrl,
)

_FLOWS = {flow.value: flow for flow in AuthenticationFlow}
_STATUSES = {status.value: status for status in AuthenticationStatus}


def authentication_from_json(row: Mapping[str, Any] | None) -> dict[str, Any]:
    """``Payment``'s ``authentication``, and ``next_action`` while a challenge is open."""
    if row is None:
        return {}
    status = _STATUSES[row["status"]]
    fields: dict[str, Any] = {
        "authentication": Authentication(
            _FLOWS[row["flow"]], status, row["eci"], row["liability_shift"]
        )
    }
    if status is AuthenticationStatus.CHALLENGE_PENDING:
        fields["next_action"] = NextAction(
            RedirectToUrl(row["redirect_url"], row["return_url"]),
            datetime.fromisoformat(row["expire_time"]),
        )
    return fields
