"""Citations point at public standards or at docs/ (issue #14 "Citations"; docs/sources.md).

The developers' reference notes (pboc-purse, health-card, host-clearing, pcsc-vpcd and vpcd-latency, each a ``.md``
file) are not part of this repository, so a docstring or comment citing them sends a reader nowhere. Every ``.py`` file
of the project is scanned; generated gRPC code is included because it carries the .proto comments.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_NOTES = ("pboc-purse", "health-card", "host-clearing", "pcsc-vpcd", "vpcd-latency")
# A note's file name, or the short forms once used for two of them ("PB" and "HC" followed by a section sign).
FORBIDDEN = re.compile(r"\b(?:" + "|".join(re.escape(n) for n in _NOTES) + r")\.md\b|\b(?:PB|HC) ?§")
_SKIPPED_DIRS = {".venv", ".git", "__pycache__", "build", "dist", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
_THIS_FILE = Path(__file__).resolve()


def _project_py_files() -> list[Path]:
    return [
        p
        for p in ROOT.rglob("*.py")
        if not (_SKIPPED_DIRS & set(p.relative_to(ROOT).parts)) and p.resolve() != _THIS_FILE
    ]


def offending_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of each line citing one of the out-of-repository notes."""
    return [(n, line) for n, line in enumerate(text.splitlines(), 1) if FORBIDDEN.search(line)]


def test_the_pattern_catches_each_form_of_citation() -> None:
    for cited in (
        "(pboc-purse.md §2.6)",
        "see health-card.md",
        "[pcsc-vpcd.md](x)",
        "vpcd-latency.md:",
        "host-clearing.md §3",
        "PB §7.1",
        "HC §5",
    ):
        assert offending_lines(f'"""x {cited} y"""'), cited
    for fine in (
        "JR/T 0025.1 GET TRANSACTION PROVE",
        "docs/sources.md F5",
        "ISO/IEC 7816-4 §11.3.5",
        "docs/health-cards.md",
        "the health-card layer",
        "P2 §",
    ):
        assert not offending_lines(fine), fine


def test_no_python_file_cites_the_reference_notes() -> None:
    files = _project_py_files()
    assert len(files) > 100  # the scan sees the project, not an empty directory
    found = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in files for n, line in offending_lines(p.read_text())]
    assert not found, "cite the public standard or docs/sources.md instead:\n" + "\n".join(found)


def test_sources_md_defines_every_entry_the_code_cites() -> None:
    doc = (ROOT / "docs" / "sources.md").read_text()
    cited = {
        m.group(1) for p in _project_py_files() for m in re.finditer(r"sources\.md ([A-Z]\d+(?:\.\d+)?)", p.read_text())
    }
    assert cited  # the code does cite entries
    missing = []
    for entry in sorted(cited):
        letter, number = entry[0], entry[1:]
        main, _, sub = number.partition(".")
        if letter == "O":
            ok = re.search(rf"^{main}\. ", doc, re.M) is not None
        else:
            ok = f"**{letter}{main} " in doc and (not sub or re.search(rf"^  {sub}\. ", doc, re.M) is not None)
        if not ok:
            missing.append(entry)
    assert not missing, f"docs/sources.md lacks {missing}"


def test_no_vector_file_cites_the_reference_notes() -> None:
    """The known-answer vector copies (tests/vectors/*.json) name their sources too."""
    files = sorted((ROOT / "tests" / "vectors").glob("*.json"))
    assert files
    found = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()[:100]}" for p in files for n, line in offending_lines(p.read_text())
    ]
    assert not found, "cite the public standard or docs/sources.md instead:\n" + "\n".join(found)
