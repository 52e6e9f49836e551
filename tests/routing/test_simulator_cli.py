"""``paycore simulator``: the channel simulator as its own process, reached over a real socket."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from core.domain.attempt import AttemptOutcome
from router import Router
from router.channels.http_acquirer import HttpAcquirer
from router.channels.simulated import ACQUIRER_B
from tests.routing.test_channels import VISA, authorize


async def test_the_simulator_command_serves_signed_requests_until_sigterm() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "core.cli",
        "simulator",
        "--port",
        "0",
        "--channel",
        "acquirer_b",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "CHANNEL_SIMULATOR_SECRET": "cli-secret"},
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        port = int(line.decode().rsplit(" ", 1)[1])
        adapter = HttpAcquirer(ACQUIRER_B.profile, f"http://127.0.0.1:{port}", b"cli-secret")
        try:
            result = await Router([adapter], timeout_s=5).execute(authorize("acquirer_b"), VISA)
        finally:
            await adapter.close()
        assert result.outcome is AttemptOutcome.SUCCEEDED
        assert result.reference.startswith("aqb_")
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0


async def test_the_simulator_command_refuses_to_start_without_a_secret() -> None:
    environment = {k: v for k, v in os.environ.items() if k != "CHANNEL_SIMULATOR_SECRET"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "core.cli",
        "simulator",
        stderr=asyncio.subprocess.PIPE,
        env=environment,
    )
    _, err = await asyncio.wait_for(process.communicate(), 30)

    assert process.returncode == 2
    assert b"CHANNEL_SIMULATOR_SECRET" in err
