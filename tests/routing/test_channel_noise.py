"""An ambiguous channel ending is an expected outcome: one WARNING line, never an ERROR.

A connection reset before the answer, or an HTTP 5xx after processing, leaves
the attempt UNKNOWN for a status query to settle. Operators see one WARNING
naming the attempt and the payment, and no traceback: tracebacks are for bugs.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from core.config import Settings
from paycore.v1 import payment_pb2 as pb
from router.channels.simulated import ACQUIRER_A, SimulatedAcquirer
from router.simulator.app import ChannelSimulator, HttpFaults
from tests.routing.conftest import serve_over_simulator
from tests.support.requests import usd

SECRET = b"simulator-secret"
RESET_AFTER_CHARGE = usd(999, 5)


def _paycore_side(record: logging.LogRecord) -> bool:
    # The simulator runs in this process too; only paycore's own lines count.
    return record.name.startswith(("core.", "router.")) and not record.name.startswith(
        "router.simulator"
    )


@pytest.mark.parametrize(
    ("amount", "error_5xx_rate"),
    [(RESET_AFTER_CHARGE, 0.0), (usd(10), 1.0)],
    ids=["connection-reset", "http-5xx"],
)
async def test_a_reset_or_a_5xx_at_the_channel_logs_one_warning_and_no_traceback(
    settings: Settings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    amount: object,
    error_5xx_rate: float,
) -> None:
    simulator = ChannelSimulator(
        SimulatedAcquirer(ACQUIRER_A), SECRET, faults=HttpFaults(error_5xx_rate=error_5xx_rate)
    )
    async with serve_over_simulator(
        settings, simulator, tmp_path / "routing.toml", SECRET, notify=False
    ) as served:
        caplog.clear()
        caplog.set_level(logging.DEBUG)
        payment = await served.api.create(amount=amount)
        logged = [r for r in caplog.records if _paycore_side(r)]

    assert payment.state == pb.Payment.STATE_PENDING  # unknown: a status query settles it
    loud = [(r.levelname, r.getMessage()) for r in logged if r.levelno >= logging.WARNING]
    assert len(loud) == 1, loud
    assert loud[0][0] == "WARNING" and payment.id in loud[0][1]
    assert not [r.getMessage() for r in logged if r.exc_info], "a traceback was logged"
