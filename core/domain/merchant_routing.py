"""A merchant's own routing chain, as set through RoutingService. Pure data.

``chain`` is the merchant's table of the routing file in JSON-ready form
(``{"strategies": [...], "rules": [...], "split": {...}, "health": {...}}``);
router/config.py's ``parse_chain`` turns it into strategies, for the file and
for these alike. None: the merchant routes by the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class MerchantRouting:
    """The merchant's own chain (None: the routing file's) and when it last changed."""

    merchant_id: str
    chain: Mapping[str, Any] | None = None
    updated_at: datetime | None = None

    def snapshot(self) -> dict[str, Any]:
        """What the audit trail keeps of it (before and after a change)."""
        return {"custom": self.chain is not None, "chain": self.chain}
