"""One SQL statement assembled from parts that each number their parameters ``$1``...

Round trips are most of paycore's work (issue 18), so writes whose results
nobody reads right away ride in the next statement as CTEs: a transaction's
pending writes (core/storage/session.py), a ledger posting
(core/storage/ledger_append.py), a batch of channel answers
(core/storage/answer_batch.py).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

_PARAMETER = re.compile(r"\$(\d+)")


class Statement:
    """One SQL statement assembled from CTEs with their own ``$1``.. numbering, and a query."""

    def __init__(self) -> None:
        self._ctes: list[str] = []
        self._args: list[Any] = []

    def add(self, ctes: Sequence[tuple[str, str]], args: Sequence[Any]) -> None:
        """CTEs sharing ``args`` (their parameters renumbered after those already added)."""
        offset = len(self._args)
        for name, sql in ctes:
            self._ctes.append(f"{name} AS ({_renumbered(sql, offset)})")
        self._args.extend(args)

    def build(self, query: str, *args: Any) -> tuple[str, list[Any]]:
        """The statement ending in ``query`` (numbered ``$1``.. over ``args``) and its arguments."""
        text = _renumbered(query, len(self._args))
        if self._ctes:
            text = f"WITH {', '.join(self._ctes)} {text}"
        return text, [*self._args, *args]


@functools.lru_cache(maxsize=1024)
def _renumbered(sql: str, offset: int) -> str:
    # Cached: the texts are the module's constants and offsets few, and the
    # substitution ran on every CTE of every statement (issue 18's profile).
    if not offset:
        return sql
    return _PARAMETER.sub(lambda match: f"${int(match.group(1)) + offset}", sql)
