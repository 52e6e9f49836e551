"""Ledger soak: the random-sequence invariant test (tests/ledger/test_invariants.py) at scale.

The suite runs a dozen short sequences; this runs many more and longer ones
against a fresh embedded PostgreSQL and Redis (pytest's own fixtures), and
appends the outcome to bench/RESULTS.md: examples, operations, failures and
the wall time. It is a correctness soak, not a speed benchmark: the time is
there to say what the run cost, not to be compared.

    PYTHONPATH=clients/python:. python -m bench.ledger_soak --examples 400 --steps 40
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.record import REPOSITORY, append_result

HEADING = "## Ledger soak"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak; 0 when every sequence kept every invariant."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=400, help="random sequences to run")
    parser.add_argument("--steps", type=int, default=40, help="at most this many operations each")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        stats = Path(scratch) / "stats"
        env = {
            **os.environ,
            "LEDGER_EXAMPLES": str(args.examples),
            "LEDGER_STEPS": str(args.steps),
            "LEDGER_STATS_FILE": str(stats),
        }
        started = time.perf_counter()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "--timeout=0",  # the suite's per-test limit is for the suite's sizes
                "tests/ledger/test_invariants.py::test_random_sequences_keep_every_ledger_invariant",
            ],
            cwd=REPOSITORY,
            env=env,
            check=False,
        )
        elapsed = time.perf_counter() - started
        counts = [int(line) for line in stats.read_text().split()] if stats.exists() else []
    outcome = "pass" if result.returncode == 0 else f"FAIL (exit {result.returncode})"
    print(f"{outcome}: {len(counts)} sequences, {sum(counts)} operations, {elapsed:.1f} s")
    if not args.no_record:
        append_result(
            HEADING,
            "bench.ledger_soak",
            list(argv if argv is not None else sys.argv[1:]),
            [
                str(len(counts)),
                str(sum(counts)),
                outcome,
                f"{elapsed:.1f} s",
                "hypothesis sequences (and shrinking, on failure) incl. pytest start-up",
            ],
        )
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
