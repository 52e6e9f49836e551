"""bench/RESULTS.md: each figure with the date, the commit and the command that produced it."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
REPOSITORY = Path(__file__).resolve().parent.parent


def git_revision() -> str:
    """The checked-out commit's short hash, ``-dirty`` when tracked files have changes."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=7"],
            cwd=REPOSITORY,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return described.stdout.strip() or "unknown"


def command_line(module: str, argv: Sequence[str]) -> str:
    """How to run ``python -m module argv`` again from the repository root."""
    words = ["python", "-m", module, *argv]
    python_path = os.environ.get("PYTHONPATH")
    prefix = f"PYTHONPATH={shlex.quote(python_path)} " if python_path else ""
    return prefix + shlex.join(words)


def markdown_row(cells: Sequence[str]) -> str:
    """One table row; a ``|`` inside a cell is escaped."""
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def append_row(heading: str, row: str, path: Path = RESULTS) -> None:
    """Add ``row`` after the last row of the first table below ``heading`` (a whole line)."""
    lines = path.read_text().splitlines()
    try:
        at = lines.index(heading) + 1
    except ValueError:
        raise ValueError(f"{path}: no line {heading!r}") from None
    while at < len(lines) and not lines[at].startswith("|"):
        at += 1
    if at == len(lines):
        raise ValueError(f"{path}: no table below {heading!r}")
    while at < len(lines) and lines[at].startswith("|"):
        at += 1
    lines.insert(at, row)
    path.write_text("\n".join(lines) + "\n")


def append_result(
    heading: str,
    module: str,
    argv: Sequence[str],
    cells: Sequence[str],
    path: Path = RESULTS,
    *,
    revision: str | None = None,
) -> None:
    """Append a row of today's date, this commit, the command and then ``cells``.

    ``revision``: the commit measured, when taken before the run wrote any file
    (its plot, an earlier row), which would make ``git_revision()`` say ``-dirty``.
    """
    row = [
        datetime.now(UTC).date().isoformat(),
        f"`{revision or git_revision()}`",
        f"`{command_line(module, argv)}`",
        *cells,
    ]
    append_row(heading, markdown_row(row), path)
