"""The locust scenario runs headless against a real server and every call succeeds.

Counts, not speed: a few seconds of a few users, then the CSV locust wrote
must show the mix's RPCs with requests and no failures. This is what a load
tester's first command does (bench/locustfile.py's docstring).
"""

from __future__ import annotations

import asyncio
import csv
import os
import sys
from pathlib import Path

import pytest

from core.api.server import PaycoreServer
from core.app import Services
from tests.support.auth import platform_metadata

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


async def test_the_locust_mix_runs_headless_and_writes_csvs(
    server: PaycoreServer, services: Services, tmp_path: Path
) -> None:
    superadmin = (await platform_metadata(services.pool))[0][1].removeprefix("Bearer ")
    env = {
        **os.environ,
        "PAYCORE_SUPERADMIN_KEY": superadmin,
        "PAYCORE_LOCUST_MERCHANTS": "3",
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "clients" / "python")]),
    }
    # The server runs on this test's event loop: locust must be an asyncio subprocess.
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "locust",
        "-f", str(REPO / "bench" / "locustfile.py"),
        "--headless", "-u", "6", "-r", "6", "-t", "5s",
        "-H", f"127.0.0.1:{server.port}",
        "--csv", str(tmp_path / "run"),
        "--only-summary",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)

    assert process.returncode == 0, output.decode()[-3000:]
    with (tmp_path / "run_stats.csv").open() as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats)}
    assert int(rows["CreatePayment"]["Request Count"]) > 0
    assert int(rows["TokenizeCard"]["Request Count"]) == 6 * 4  # 4 cards per user
    assert int(rows["Aggregated"]["Failure Count"]) == 0, output.decode()[-3000:]
    merchants = await services.pool.fetchval(
        "SELECT count(*) FROM merchants WHERE id LIKE 'load\\_%'"
    )
    assert merchants >= 3
