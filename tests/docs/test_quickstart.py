"""The README's quickstart and the API guide's examples, run as written against paycore."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from .conftest import DocsPaycore
from .markdown import REPO_ROOT, code_blocks, marked

pytestmark = pytest.mark.slow

README = REPO_ROOT / "README.md"
API_GUIDE = REPO_ROOT / "docs" / "API_GUIDE.md"
LEDGER = REPO_ROOT / "docs" / "LEDGER.md"


def printed_as_shown(shown: str) -> list[re.Pattern[str]]:
    """The lines a block of output shows, as patterns: ``...`` stands for an id."""
    return [
        re.compile(re.escape(line.rstrip()).replace(re.escape("..."), r"\w+") + r"\s*")
        for line in shown.strip().splitlines()
    ]


def assert_prints(stdout: str, shown: str) -> None:
    lines = stdout.strip().splitlines()
    patterns = printed_as_shown(shown)
    assert len(lines) == len(patterns), stdout
    for line, pattern in zip(lines, patterns, strict=True):
        assert pattern.fullmatch(line), f"{line!r} is not what the docs show ({pattern.pattern})"


def test_the_readme_quickstart_runs_as_written_and_prints_what_the_readme_shows(
    docs_paycore: DocsPaycore,
) -> None:
    quickstart = marked(README, "quickstart")
    assert quickstart.language == "sh"

    done = docs_paycore.shell(quickstart.text)

    assert done.returncode == 0, done.stderr
    assert_prints(done.stdout, marked(README, "quickstart-output").text)


def test_the_quickstart_runs_again_on_the_same_database(docs_paycore: DocsPaycore) -> None:
    """A reader who pastes it twice gets a second payment, not an error."""
    first = docs_paycore.shell(marked(README, "quickstart").text)
    again = docs_paycore.shell(marked(README, "quickstart").text)

    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert first.stdout.split()[1] != again.stdout.split()[1]  # two payments


def _api_guide_key_and_python() -> tuple[str, str]:
    blocks = code_blocks(API_GUIDE)
    key = next(b for b in blocks if b.language == "sh" and "keys create" in b.text)
    python = next(b for b in blocks if b.language == "python" and "PaycoreClient" in b.text)
    return key.text, python.text


def test_the_api_guides_python_example_runs_after_its_shell_commands(
    docs_paycore: DocsPaycore,
) -> None:
    key, python = _api_guide_key_and_python()

    done = docs_paycore.shell(f"{key}\npython - <<'PYTHON'\n{python}PYTHON\n")

    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"STATE_CAPTURED pay_\w+\s*", done.stdout), done.stdout


def _buf_installed(paycore: DocsPaycore) -> None:
    if shutil.which("buf", path=str(paycore.workdir / ".venv" / "bin")) is None:
        pytest.skip("buf is not installed beside this Python (it comes with the dev extra)")


def _journey(path: Path, name: str) -> tuple[str, str]:
    """The block marked ``<!-- doc-test: name -->`` and the output block after it."""
    journey = marked(path, f"doc-test: {name}")
    shown = next(b for b in code_blocks(path) if b.language == "text" and b.line > journey.line)
    return journey.text, shown.text


def test_the_api_guides_buf_curl_journey_runs_with_ids_flowing_between_commands(
    docs_paycore: DocsPaycore,
) -> None:
    _buf_installed(docs_paycore)
    key, _ = _api_guide_key_and_python()
    journey, shown = _journey(API_GUIDE, "buf-curl")

    done = docs_paycore.shell(f"{key}\n{journey}")

    assert done.returncode == 0, done.stderr
    assert_prints(done.stdout, shown)


def test_the_ledger_guides_wallet_journey_runs_after_the_api_guides(
    docs_paycore: DocsPaycore,
) -> None:
    _buf_installed(docs_paycore)
    key, _ = _api_guide_key_and_python()
    card_journey, _ = _journey(API_GUIDE, "buf-curl")
    wallet_journey, shown = _journey(LEDGER, "wallet")

    done = docs_paycore.shell(f"{key}\n{card_journey}\n{wallet_journey}")

    assert done.returncode == 0, done.stderr
    lines = iter(done.stdout.splitlines()[3:])  # after the card journey's own three lines
    for pattern in printed_as_shown(shown):  # in this order, between the JSON answers
        assert any(pattern.fullmatch(line) for line in lines), (pattern.pattern, done.stdout)
