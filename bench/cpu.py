"""CPU time of processes, read from /proc: what a benchmark's server used over its window."""

from __future__ import annotations

import bisect
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path


def process_tree(pid: int) -> list[int]:
    """``pid`` and every descendant, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop(0)
        found.append(current)
        todo += sorted(children.get(current, []))
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    """CPU time (user + system) of ``pids`` so far, in seconds, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / ticks


class CpuSamples:
    """The CPU time of some processes, sampled every ``every_s`` by a thread meanwhile.

    The load runs in other processes whose windows start after their own start-up and
    warm-up; sampling lets the server's CPU be read over exactly those windows.

    ``tree_of``: instead of fixed ``pids``, that process and its descendants at each
    sample (PostgreSQL starts a backend per connection as a pool grows); a process
    that exits keeps counting with its last reading.
    """

    def __init__(
        self, pids: Sequence[int] = (), every_s: float = 0.1, *, tree_of: int | None = None
    ) -> None:
        self._pids = list(pids)
        self._tree_of = tree_of
        self._last: dict[int, float] = {}
        self._every_s = every_s
        self._samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> CpuSamples:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _cpu(self) -> float:
        if self._tree_of is None:
            return cpu_seconds(self._pids)
        for pid in process_tree(self._tree_of):
            self._last[pid] = max(self._last.get(pid, 0.0), cpu_seconds([pid]))
        return sum(self._last.values())

    def _sample(self) -> None:
        while True:
            self._samples.append((time.time(), self._cpu()))
            if self._stop.wait(self._every_s):
                self._samples.append((time.time(), self._cpu()))
                return

    def at(self, when: float) -> float:
        """CPU seconds at ``when`` (seconds since the epoch), linearly interpolated."""
        times = [t for t, _ in self._samples]
        i = min(max(bisect.bisect_left(times, when), 1), len(times) - 1)
        (t0, c0), (t1, c1) = self._samples[i - 1], self._samples[i]
        return c0 + (c1 - c0) * (when - t0) / (t1 - t0) if t1 > t0 else c1
