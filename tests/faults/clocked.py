"""``paycore`` with a clock the test moves: ``python -m tests.faults.clocked <file> run ...``.

The file holds a number of seconds (empty: 0) added to the system's time; the
test rewrites it to let time pass in a running server (``FaultStack.advance_clock``).
The clock is installed (core/domain/clock.py) before ``core.cli`` starts, so the
forked workers inherit it. Test code only: production has no way to move time.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

from core.cli import main
from core.domain import clock


class FileClock:
    """The system time plus the offset in ``path`` (re-read only when the file changes)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._seen: int | None = None
        self._offset = timedelta()

    def __call__(self) -> datetime:
        changed = os.stat(self._path).st_mtime_ns
        if changed != self._seen:
            text = self._path.read_text().strip()
            self._offset = timedelta(seconds=float(text or 0))
            self._seen = changed
        return clock.system_clock() + self._offset


if __name__ == "__main__":
    clock.use(FileClock(Path(sys.argv[1])))
    raise SystemExit(main(sys.argv[2:]))
