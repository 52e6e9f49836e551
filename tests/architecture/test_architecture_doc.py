"""docs/ARCHITECTURE.md stays true: the files it names exist, it covers every package of core/
and names every import-linter contract of pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "ARCHITECTURE.md"

_PATH = re.compile(r"(?<![\w./-])((?:core|router|riskengine|tests|docs)/(?:[\w./-]*[\w/])?)")
"""A repository path as the doc writes them: core/service/payments.py, core/ledger/."""


def named_paths(text: str) -> set[str]:
    """Every repository path ``text`` names, in prose, tables, pictures and links."""
    return set(_PATH.findall(text.replace("](../", "](")))


def test_every_path_the_architecture_doc_names_exists() -> None:
    missing = sorted(p for p in named_paths(DOC.read_text()) if not (REPO / p).exists())
    assert missing == []


def test_the_path_check_finds_paths_in_prose_pictures_and_links() -> None:
    text = "see core/api/handlers.py, [x](../tests/architecture/a.py)\n  core/ledger/  riskengine/"
    assert named_paths(text) == {
        "core/api/handlers.py",
        "tests/architecture/a.py",
        "core/ledger/",
        "riskengine/",
    }


def test_the_architecture_doc_places_every_package_and_module_of_core() -> None:
    named = named_paths(DOC.read_text())
    parts = [
        f"core/{p.name}/" if p.is_dir() else f"core/{p.name}"
        for p in sorted((REPO / "core").iterdir())
        if (p.is_dir() and (p / "__init__.py").exists())
        or (p.suffix == ".py" and p.name != "__init__.py")
    ]
    assert [p for p in parts if not any(n.startswith(p) for n in named)] == []


def test_the_architecture_doc_names_every_contract() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    ids = [c["id"] for c in config["tool"]["importlinter"]["contracts"]]
    text = DOC.read_text()
    assert [i for i in ids if f"`{i}`" not in text] == []
