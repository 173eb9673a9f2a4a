"""Domain modules return data; the jobs, the launcher and the CLI print."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.harness.env import ROOT

DOMAIN = ("core", "config", "decode", "lake", "quality", "stream", "batch", "ops")


def prints_outside_main(path: Path) -> list[int]:
    """Lines of ``print(...)`` calls that are not inside a function named ``main``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    allowed: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "main":
            allowed.update(id(n) for n in ast.walk(node))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "print"
        and id(node) not in allowed
    ]


def test_no_domain_module_prints():
    found = {
        str(path.relative_to(ROOT)): lines
        for wing in DOMAIN
        for path in sorted((ROOT / "lib" / "lakehouse" / wing).rglob("*.py"))
        if (lines := prints_outside_main(path))
    }
    assert found == {}, "print in domain code (hand lines back, e.g. a `tell` callback)"
