"""loop.run picks uvloop when it is enabled and importable, else asyncio's loop."""

from __future__ import annotations

import asyncio
import logging
import sys

import pytest

from core.runtime.loop import run


async def loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_run_uses_uvloop_when_enabled() -> None:
    pytest.importorskip("uvloop")

    assert run(loop_module(), use_uvloop=True).startswith("uvloop")


def test_run_uses_asyncio_when_uvloop_is_disabled() -> None:
    assert run(loop_module(), use_uvloop=False).startswith("asyncio")


def test_run_falls_back_to_asyncio_when_uvloop_is_missing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # makes `import uvloop` fail
    caplog.set_level(logging.INFO, logger="core.runtime.loop")

    assert run(loop_module(), use_uvloop=True).startswith("asyncio")
    assert "uvloop is not installed" in caplog.text
