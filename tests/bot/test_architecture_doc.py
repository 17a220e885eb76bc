"""docs/architecture.md sends a newcomer to files and functions by name: every one it cites
must exist, or the reading order and the two walks lead nowhere."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
# `bot/dialogue/conductor.py`, `engine/ballots.py:record_rating`, `Conductor.handle` after a
# path, `engine/stats/`: a cited path, optionally with the names defined in it.
CITED = re.compile(r"`((?:bot|adapters|engine|tests|bench|migrations|docs)/[\w/.]*)"
                   r"(?::([\w.]+))?`")
# `Conductor.handle` alone: a method named by its class, defined somewhere in the code.
METHOD = re.compile(r"`([A-Z]\w+\.\w+)`")


def citations() -> list[tuple[str, str | None]]:
    return [(path, name) for path, name in CITED.findall(DOC.read_text(encoding="utf-8"))]


def defined_names(source: Path) -> set[str]:
    """Top-level functions, classes and assignments; ``Class.name`` for methods and fields."""
    names: set[str] = set()
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.add(node.name)
            names.update(f"{node.name}.{item.name}" for item in node.body
                         if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef))
            names.update(f"{node.name}.{item.target.id}" for item in node.body
                         if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name))
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_the_architecture_doc_cites_files_and_functions() -> None:
    assert len(citations()) > 40


def test_every_cited_path_exists() -> None:
    missing = sorted({path for path, _ in citations() if not (ROOT / path).exists()})
    assert missing == []


def test_every_cited_function_is_defined_where_the_doc_says() -> None:
    missing = sorted(f"{path}:{name}" for path, name in citations()
                     if name and path.endswith(".py") and (ROOT / path).exists()
                     and name not in defined_names(ROOT / path))
    assert missing == []


def test_every_method_named_by_its_class_exists() -> None:
    everywhere: set[str] = set()
    for package in ("bot", "adapters", "engine"):
        for source in (ROOT / package).rglob("*.py"):
            everywhere |= defined_names(source)
    named = set(METHOD.findall(DOC.read_text(encoding="utf-8")))
    assert named and sorted(named - everywhere) == []


def test_readme_and_internals_link_the_architecture() -> None:
    assert "docs/architecture.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "architecture.md" in (ROOT / "docs" / "internals.md").read_text(encoding="utf-8")
