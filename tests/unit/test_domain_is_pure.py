"""The domain imports no I/O, transport or generated code, so it is tested without servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

DOMAIN_MODULES = [
    "core.domain.money",
    "core.domain.payment",
    "core.domain.lifecycle",
    "core.domain.errors",
    "core.domain.attempt",
    "core.domain.commands",
    "core.domain.reconciliation",
    # Merchant notifications' decisions (issue 7).
    "core.events.derive",
    "core.events.model",
    "core.events.schedule",
    "core.events.signing",
]

FORBIDDEN = (
    "grpc",
    "google.protobuf",
    "google.rpc",
    "paycore",  # generated protobuf code
    "asyncpg",
    "redis",
    "aiohttp",
    "asyncio",
    "core.api",
    "core.storage",
    "router",
    "riskengine",
)


@pytest.mark.parametrize("module", DOMAIN_MODULES)
def test_domain_module_imports_no_io_or_protobuf(module: str) -> None:
    # A fresh interpreter, so modules imported by other tests do not count.
    script = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    process = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert process.returncode == 0, process.stderr
    loaded = json.loads(process.stdout)
    assert module in loaded
    bad = [m for m in loaded if any(m == f or m.startswith(f"{f}.") for f in FORBIDDEN)]
    assert not bad, f"{module} pulls in {bad}"
