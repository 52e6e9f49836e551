"""The architecture contracts of pyproject.toml hold: ``lint-imports`` passes on each of them.

The contracts (``[tool.importlinter]``, described in docs/ARCHITECTURE.md): the purity of
core's pure modules, of riskengine and of the router's core; riskengine used through its
package's exports; core's layers; no cycles between sibling packages; storage deriving no
postings or events (it stores what the application computed). Their ``ignore_imports``
lists are debt that may only shrink.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
"""The venv's lint-imports, beside the interpreter running the tests."""

CONTRACTS = [
    "pure-core",
    "pure-core-parents",
    "pure-engine-and-routing",
    "riskengine-one-interface",
    "core-layers",
    "acyclic",
    "storage-only-stores",
]


def configured_contract_ids() -> list[str]:
    """The ids of the contracts in pyproject.toml, in order."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    return [contract["id"] for contract in config["tool"]["importlinter"]["contracts"]]


def test_every_contract_is_configured_and_checked_here() -> None:
    assert configured_contract_ids() == CONTRACTS


@pytest.mark.parametrize("contract", CONTRACTS)
def test_the_import_contract_holds(contract: str) -> None:
    # The repository root as cwd: lint-imports reads ./pyproject.toml and finds the
    # packages there. No cache: nothing is written into the tree.
    process = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", "--contract", contract],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert process.returncode == 0, process.stdout + process.stderr
    assert "1 kept, 0 broken" in process.stdout, process.stdout
