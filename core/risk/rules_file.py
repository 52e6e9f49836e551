"""The rules file on disk: load at start, reload without restart, keep the old rules on error.

``RulesFile.reload()`` reads and compiles the file and swaps it into the
engine, or logs every problem and keeps the rules in use. ``poll()`` reloads
when the file's modification time or size changed; ``watch()`` polls every
``interval_s`` (a task of the server process), and SIGHUP calls ``reload()``
(see core/app/_services.py and core/runtime/serve.py). Tests call
``reload()``/``poll()`` directly: deterministic, no sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from core.domain.audit import Actor, AuditRecord
from riskengine import RiskEngine, RulesError, RuleSet, parse_rules

log = logging.getLogger(__name__)


def default_rules_path() -> Path:
    """The rules shipped with paycore (riskengine/default_rules.toml)."""
    return Path(str(resources.files("riskengine") / "default_rules.toml"))


def load_rules(path: Path) -> RuleSet:
    """Read and compile a rules file; RulesError (or OSError) if it cannot be used."""
    return parse_rules(path.read_text(encoding="utf-8"), source=str(path))


def rules_view(rules: RuleSet) -> dict[str, object]:
    """A rule set as an audit snapshot: thresholds and every rule's id, weight and mode."""
    return {
        "source": rules.source,
        "step_up_threshold": rules.step_up_threshold,
        "review_threshold": rules.review_threshold,
        "decline_threshold": rules.decline_threshold,
        "rules": [
            {
                "id": rule.id,
                "score": rule.score,
                "action": rule.action.name.lower(),
                "shadow": rule.shadow,
            }
            for rule in rules.rules
        ],
    }


RulesChanged = Callable[[RuleSet, RuleSet], Awaitable[None]]
"""Called with (before, after) once a reload put new rules in use (the audit trail)."""


AuditAppender = Callable[[AuditRecord], Awaitable[None]]
"""Appends one record to the audit trail on its own (core/storage/audit.py's ``append_to``)."""


def audit_to(append: AuditAppender) -> RulesChanged:
    """An ``on_change`` that appends each rules change to the audit trail (actor ``system``).

    Every server process adopts a changed file on its own, so each appends
    its own row (``details.pid`` says which): the trail shows when every
    process started using which rules.
    """

    async def record(before: RuleSet, after: RuleSet) -> None:
        await append(
            AuditRecord(
                actor=Actor(role="system", key_id=None, merchant_id=None),
                action="risk_rules.reload",
                resource_type="risk_rules",
                resource_id=after.source,
                merchant_id=None,
                at=datetime.now(UTC),
                before=rules_view(before),
                after=rules_view(after),
                details={"pid": os.getpid()},
            ),
        )

    return record


class RulesFile:
    """One rules file feeding one engine."""

    def __init__(
        self,
        path: Path,
        engine: RiskEngine | None = None,
        on_change: RulesChanged | None = None,
    ) -> None:
        self.path = path
        self._on_change = on_change
        self._stamp = self._stat()
        # Start-up: a file that does not load is a configuration error.
        rules = load_rules(path)
        self.engine = engine or RiskEngine(rules)
        self.engine.replace(rules)
        self.last_error = ""
        log.info("risk rules: %d rules from %s", len(rules.rules), path)

    def _stat(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def reload(self) -> bool:
        """Load the file again; True if the new rules are in use, False if the old ones stay."""
        self._stamp = self._stat()
        try:
            rules = load_rules(self.path)
        except (RulesError, OSError, UnicodeDecodeError) as exc:
            self.last_error = str(exc)
            log.error("risk rules in %s NOT reloaded, the previous rules stay: %s", self.path, exc)
            return False
        self.engine.replace(rules)
        self.last_error = ""
        log.info("risk rules reloaded: %d rules from %s", len(rules.rules), self.path)
        return True

    def poll(self) -> bool | None:
        """Reload if the file changed since the last look; None when it did not change."""
        if self._stat() == self._stamp:
            return None
        return self.reload()

    async def watch(self, interval_s: float) -> None:
        """Poll forever (cancel the task to stop); report every change to ``on_change``."""
        while True:
            await asyncio.sleep(interval_s)
            await self.poll_and_report()

    async def poll_and_report(self) -> bool | None:
        """``poll``, then hand a successful change to ``on_change`` (errors logged, not raised)."""
        return await self._reported(self.poll)

    async def reload_and_report(self) -> None:
        """``reload`` (SIGHUP), then hand a successful change to ``on_change``."""
        await self._reported(self.reload)

    async def _reported(self, load: Callable[[], bool | None]) -> bool | None:
        before = self.engine.rules
        changed = load()
        if changed and self._on_change is not None:
            try:
                await self._on_change(before, self.engine.rules)
            except Exception:
                # The new rules are in use either way; a missing audit row is
                # worth an ERROR line, not a crashed watcher.
                log.exception("risk rules reloaded but the change was not audited")
        return changed
