"""The benchmarks import what the package's faces export (they run rarely, so a
rename would otherwise surface only when someone measures)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _lakehouse_imports(path: Path) -> list[tuple[str, str]]:
    tree = ast.parse(path.read_text())
    return [
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lakehouse")
        for alias in node.names
    ]


@pytest.mark.parametrize("script", sorted(BENCH.glob("*.py")), ids=lambda p: p.name)
def test_bench_names_exist_and_faces_export_them(script: Path) -> None:
    problems = []
    for module_name, name in _lakehouse_imports(script):
        module = importlib.import_module(module_name)
        if not hasattr(module, name):
            problems.append(f"{module_name} has no {name}")
        elif module.__name__.count(".") == 1 and name not in getattr(module, "__all__", ()):
            # a wing's face: only its public names (a submodule of the same name is not one)
            problems.append(f"{module_name} does not export {name}")
    assert not problems, f"{script.name}: {'; '.join(problems)}"
