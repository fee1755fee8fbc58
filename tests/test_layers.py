"""The package's layers (ARCHITECTURE.md, "The tree"): a subpackage imports
only from its own layer and the ones below it, and no two modules import each
other at load time, directly or around a loop. Imports for annotations only
(under ``if TYPE_CHECKING:``) are not run and do not count."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "assistant"
LAYERS = ["core", "audio", "store", "speech", "listen", "remote", "llm", "skills", "daemon", "cli"]  # lowest first


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, bool]]:
    """(module imported, at load time) for every import of the package's own
    modules in ``path``; at load time: at the module's top level, not inside a
    function or an ``if TYPE_CHECKING:`` block."""
    tree = ast.parse(path.read_text())
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and getattr(child.test, "id", "") == "TYPE_CHECKING":
                continue
            if isinstance(child, ast.ImportFrom) and child.level:
                raise AssertionError(f"{path}: a relative import (absolute ones say which layer they reach)")
            if isinstance(child, ast.ImportFrom) and (child.module or "").startswith("assistant"):
                module = child.module or ""
                for alias in child.names:  # "from assistant.skills import timers" imports a module
                    candidate = f"{module}.{alias.name}"
                    named = (PACKAGE.parent / candidate.replace(".", "/")).with_suffix(".py")
                    found.append((candidate if named.exists() else module, top))
            elif isinstance(child, ast.Import):
                found.extend((a.name, top) for a in child.names if a.name.startswith("assistant"))
            inner = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(child, inner)

    visit(tree, True)
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else -1  # assistant/__init__: below all


def test_every_module_lives_in_a_layer():
    loose = [m for m in MODULES if layer(m) < 0 and m != "assistant"]
    assert not loose, f"modules outside the layers: {loose}"
    assert {m.split(".")[1] for m in MODULES if m != "assistant"} == set(LAYERS)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_runs_upward(module):
    upward = [(target, LAYERS[layer(target)]) for target, _ in imports(MODULES[module])
              if layer(target) > layer(module)]
    assert not upward, f"{module} ({LAYERS[layer(module)]}) imports from above: {upward}"


def test_no_import_cycle_at_load_time():
    graph = {m: {t for t, top in imports(p) if top and t in MODULES and t != m} for m, p in MODULES.items()}
    done: set[str] = set()

    def walk(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(module):] + [module]))
        if module in done:
            return
        for target in sorted(graph[module]):
            walk(target, path + [module])
        done.add(module)

    for module in sorted(graph):
        walk(module, [])


def test_the_checker_sees_an_upward_import(tmp_path):
    """The rules above can fail: an import from a higher layer is found, one
    under TYPE_CHECKING or inside a function is told apart."""
    sample = tmp_path / "sample.py"
    sample.write_text("from typing import TYPE_CHECKING\nfrom assistant.skills import timers\n"
                      "if TYPE_CHECKING:\n    from assistant.daemon.app import Assistant\n"
                      "def f():\n    from assistant.cli import main\n")
    found = imports(sample)
    assert found == [("assistant.skills.timers", True), ("assistant.cli", False)]
    assert layer("assistant.skills.timers") > layer("assistant.core.events")


MAX_LINES = 400


def test_no_module_is_over_400_lines():
    """A module that grows past this is doing two jobs: split it where the code says."""
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"over {MAX_LINES} lines: {long}"
