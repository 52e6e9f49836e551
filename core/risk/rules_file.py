"""The rules file on disk: load at start, reload without restart, keep the old rules on error.

``RulesFile.reload()`` reads and compiles the file and swaps it into the
engine, or logs every problem and keeps the rules in use. ``poll()`` reloads
when the file's modification time or size changed; ``watch()`` polls every
``interval_s`` (a task of the server process), and SIGHUP calls ``reload()``
(see core/app.py). Tests call ``reload()``/``poll()`` directly: deterministic,
no sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import os
from importlib import resources
from pathlib import Path

from riskengine.engine import RiskEngine
from riskengine.rules import RulesError, RuleSet, parse_rules

log = logging.getLogger(__name__)


def default_rules_path() -> Path:
    """The rules shipped with paycore (riskengine/default_rules.toml)."""
    return Path(str(resources.files("riskengine") / "default_rules.toml"))


def load_rules(path: Path) -> RuleSet:
    """Read and compile a rules file; RulesError (or OSError) if it cannot be used."""
    return parse_rules(path.read_text(encoding="utf-8"), source=str(path))


class RulesFile:
    """One rules file feeding one engine."""

    def __init__(self, path: Path, engine: RiskEngine | None = None) -> None:
        self.path = path
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
        """Poll forever (cancel the task to stop)."""
        while True:
            await asyncio.sleep(interval_s)
            self.poll()
