"""The Markdown of README.md and docs/: fenced code blocks, links and headings' anchors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
_MARKER = re.compile(r"<!--\s*([\w:-]+(?:\s+[\w:-]+)*)\s*-->\s*\n\s*$")


@dataclass(frozen=True)
class Block:
    """A fenced code block: its language, text, the marker comment just above it, where."""

    language: str
    text: str
    marker: str
    path: Path
    line: int

    def where(self) -> str:
        return f"{self.path.relative_to(REPO_ROOT)}:{self.line}"


def code_blocks(path: Path) -> list[Block]:
    """Every fenced block of ``path``, with the ``<!-- marker -->`` line right before it."""
    text = path.read_text()
    blocks = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()]
        marker = _MARKER.search(before)
        blocks.append(
            Block(
                language=match.group(1),
                text=match.group(2),
                marker=marker.group(1) if marker else "",
                path=path,
                line=before.count("\n") + 1,
            )
        )
    return blocks


def marked(path: Path, marker: str) -> Block:
    """The one block of ``path`` marked ``<!-- marker -->``."""
    found = [block for block in code_blocks(path) if block.marker == marker]
    assert len(found) == 1, f"{path.name} has {len(found)} blocks marked <!-- {marker} -->"
    return found[0]


def without_code(text: str) -> str:
    """``text`` with fenced blocks and inline code removed (links there are not links)."""
    text = _FENCE.sub("", text)
    return re.sub(r"`[^`\n]*`", "", text)


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of ``path``."""
    found = set()
    for heading in re.findall(r"^#{1,6} (.+)$", _FENCE.sub("", path.read_text()), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found
