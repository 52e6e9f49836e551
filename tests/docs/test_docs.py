"""README.md and docs/ stay true: links resolve, Python examples define what they use,
and every gRPC call they show sends an API key."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .markdown import DOCS, Block, anchors, code_blocks, without_code

_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_HEREDOC = re.compile(r"python3? - <<'(\w+)'\n(.*?)^\1$", re.MULTILINE | re.DOTALL)


def test_every_relative_link_in_the_docs_points_to_a_file_or_heading_that_exists() -> None:
    broken = []
    for doc in DOCS:
        for target in _LINK.findall(without_code(doc.read_text())):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            file, _, anchor = target.partition("#")
            destination = (doc.parent / file).resolve() if file else doc
            if not destination.exists():
                broken.append(f"{doc.name}: {target} (no such file)")
            elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
                broken.append(f"{doc.name}: {target} (no such heading)")
    assert broken == []


def test_the_link_check_sees_a_missing_file_and_a_missing_heading(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("# Title\n\n## `make run`\n\n[a](#make-run) [b](#nope) [c](gone.md)\n")

    found = _LINK.findall(without_code(doc.read_text()))

    assert found == ["#make-run", "#nope", "gone.md"]
    assert anchors(doc) == {"title", "make-run"}


def python_examples() -> list[tuple[str, str]]:
    """(where, code) of every Python example: ```python blocks and `python - <<'EOF'` in shell."""
    examples = []
    for doc in DOCS:
        for block in code_blocks(doc):
            if block.language == "python":
                examples.append((block.where(), block.text))
            elif block.language == "sh":
                examples += [(block.where(), m.group(2)) for m in _HEREDOC.finditer(block.text)]
    return examples


@pytest.mark.parametrize(("where", "code"), python_examples(), ids=lambda v: str(v)[:40])
def test_every_python_example_defines_or_imports_every_name_it_uses(where: str, code: str) -> None:
    # F821: undefined name (a NameError when run); E9: syntax errors.
    checked = subprocess.run(
        [
            *(sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated"),
            *("--select", "F821,E9", "--stdin-filename", "example.py", "-"),
        ],
        input=code,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert checked.returncode == 0, f"{where}:\n{checked.stdout}"


def test_the_readme_has_python_examples_to_check() -> None:
    assert any(where.startswith("README.md") for where, _ in python_examples())


def _commands(block: Block) -> list[str]:
    """The shell commands of a block, continuation lines joined."""
    return block.text.replace("\\\n", " ").splitlines()


def _header_variables() -> dict[str, str]:
    """Shell variables the docs set to a metadata header: H="authorization: Bearer $KEY"."""
    found: dict[str, str] = {}
    for doc in DOCS:
        for block in code_blocks(doc):
            for line in _commands(block):
                for name, value in re.findall(r'^(\w+)="([^"]*?:.*)"\s*$', line):
                    found[name] = value
    return found


def grpc_calls_without_a_key() -> list[str]:
    variables = _header_variables()
    missing = []
    for doc in DOCS:
        for block in code_blocks(doc):
            if block.language == "python":
                if "metadata=" in block.text and "authorization" not in block.text:
                    missing.append(f"{block.where()}: metadata without authorization")
                continue
            for line in _commands(block):
                if not re.search(r"buf curl|grpcurl|\$B ", line) or line.lstrip().startswith("B="):
                    continue
                headers = re.findall(r'(?:-H|\$B)\s+(?:"([^"]*)"|\'([^\']*)\')', line)
                values = [
                    variables.get(v.strip("${}"), v) if v.startswith("$") else v
                    for value in headers
                    for v in value
                    if v
                ]
                if not any(v.lower().startswith("authorization: bearer ") for v in values):
                    missing.append(f"{block.where()}: {line.strip()[:80]}")
    return missing


def test_every_grpc_call_the_docs_show_sends_an_api_key() -> None:
    assert grpc_calls_without_a_key() == []


def test_the_docs_show_grpc_calls_to_check() -> None:
    calls = [
        line
        for doc in DOCS
        for block in code_blocks(doc)
        for line in _commands(block)
        if re.search(r"buf curl|\$B ", line)
    ]
    assert len(calls) > 10
