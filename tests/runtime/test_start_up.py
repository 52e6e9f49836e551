"""A start-up that fails half way leaves nothing open behind it (core/app/)."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from core.app import open_services
from core.app._connections import open_pool
from core.config import Settings
from riskengine.rules import RulesError


async def test_a_start_up_that_fails_half_way_closes_the_pool_it_opened(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text("this is [not toml")
    broken = settings.replace(risk=settings.risk.model_copy(update={"rules_file": str(rules)}))
    opened: list[asyncpg.Pool] = []

    async def recording(own: Settings) -> asyncpg.Pool:
        pool = await open_pool(own)
        opened.append(pool)
        return pool

    monkeypatch.setattr("core.app.open_pool", recording)  # the name open_services calls

    with pytest.raises(RulesError):
        await open_services(broken)

    # The rules file is read after the pool, Redis and the router are open.
    assert len(opened) == 1
    assert opened[0].is_closing()
