"""README's "Guarantees" section names the test that proves each line: every name there must exist, so a renamed or
deleted test cannot leave a promise without its proof."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PREFIXES = {"u": "tests/unit", "f": "tests/functional", "i": "tests/integration"}
#: `f/test_x.py::test_name`, `f/test_x.py`, or `::test_name` (same file as the reference before it)
REFERENCE = re.compile(r"`(?:(?P<layer>[ufi])/(?P<path>[\w/]+\.py))?(?:::(?P<name>\w+))?`")


def _section(title: str) -> str:
    text = (REPO / "README.md").read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def references(section: str) -> list[tuple[str, str | None]]:
    """(file, test name or None) for every test reference, ``::name`` resolved against the file before it."""
    found: list[tuple[str, str | None]] = []
    current: str | None = None
    for m in REFERENCE.finditer(section):
        if m.group("path"):
            current = f"{PREFIXES[m.group('layer')]}/{m.group('path')}"
        elif not m.group("name"):
            continue
        if current is None:
            raise AssertionError(f"{m.group(0)} names a test before any file")
        found.append((current, m.group("name")))
    return found


def test_every_test_the_guarantees_name_exists() -> None:
    refs = references(_section("Guarantees"))
    assert len(refs) >= 30  # the section is the list of proofs: it cannot quietly shrink to nothing
    missing = [
        f"{file}::{name}" if name else file
        for file, name in refs
        if not (REPO / file).exists() or (name is not None and name not in _tests_in(REPO / file))
    ]
    assert not missing, f"README Guarantees names tests that do not exist: {missing}"


def test_a_continuation_reference_uses_the_file_before_it() -> None:
    refs = references("`f/test_a.py::test_one`, `::test_two`, `i/test_b.py`")
    assert refs == [
        ("tests/functional/test_a.py", "test_one"),
        ("tests/functional/test_a.py", "test_two"),
        ("tests/integration/test_b.py", None),
    ]
