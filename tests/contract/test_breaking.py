"""protos/ stays compatible with the last release (protos/last-release.txt).

``buf breaking`` (FILE rules, buf.yaml) compares the working tree with the
release commit read from the repository's own history, so a fresh clone needs
no tags; only a shallow clone lacks the commit, and then the check is skipped
with the command that deepens it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.buf import output, run_buf

REPO = Path(__file__).resolve().parents[2]
LAST_RELEASE = REPO / "protos" / "last-release.txt"


def last_release() -> tuple[str, str]:
    """(tag, full commit) of the last release."""
    (line,) = [
        line for line in LAST_RELEASE.read_text().splitlines() if line and not line.startswith("#")
    ]
    tag, commit = line.split()
    return tag, commit


def test_the_last_release_is_named_by_a_full_commit() -> None:
    tag, commit = last_release()
    assert tag.startswith("v") and tag.count(".") == 2, tag
    assert len(commit) == 40 and all(c in "0123456789abcdef" for c in commit), commit


def test_protos_have_no_breaking_change_since_the_last_release() -> None:
    tag, commit = last_release()
    present = subprocess.run(
        ["git", "cat-file", "-e", f"{commit}^{{commit}}"],
        cwd=REPO,
        capture_output=True,
        check=False,
    )
    if present.returncode != 0:
        pytest.skip(
            f"release {tag} ({commit}) is not in this clone's history (a shallow clone?); "
            "`git fetch --unshallow` makes it available"
        )
    process = run_buf("breaking", "--against", f".git#ref={commit}", cwd=REPO)
    assert process.returncode == 0, f"breaking changes since {tag}:\n{output(process)}"
