"""No two files of jepa_kit import each other, directly or through others.

The layers contract (``[tool.importlinter]`` in pyproject.toml, run by ``lint-imports``) keeps
packages in order; this test keeps files apart inside a package too. It reads the import graph
with grimp (import-linter's own graph library; imports inside functions count) and leaves out
the imports the contract ignores.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest
import tomllib

grimp = pytest.importorskip("grimp")

ROOT = Path(__file__).resolve().parents[1]
#: Cycles being taken apart (each a set of modules), to drop from here once gone.
KNOWN: list[set[str]] = [
]


def _ignored() -> list[tuple[str, str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    pairs = []
    for contract in config["contracts"]:
        for line in contract.get("ignore_imports", []):
            importer, _, imported = line.partition(" -> ")
            pairs.append((importer.strip(), imported.strip()))
    return pairs


def _matches(pattern: str, module: str) -> bool:
    # import-linter's wildcards: "*" one segment, "**" any number of them.
    return fnmatch.fnmatchcase(module, pattern.replace("**", "*")) if "**" in pattern else (
        len(pattern.split(".")) == len(module.split("."))
        and fnmatch.fnmatchcase(module, pattern))


def cycles(graph: object, ignored: list[tuple[str, str]]) -> list[list[str]]:
    """Every set of two or more modules that import each other (strongly connected
    components of the import graph without the ignored imports), each sorted."""
    modules = sorted(graph.modules)  # type: ignore[attr-defined]
    edges = {m: sorted(t for t in graph.find_modules_directly_imported_by(m)  # type: ignore[attr-defined]
                       if not any(_matches(a, m) and _matches(b, t) for a, b in ignored))
             for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in modules:  # Tarjan's algorithm, iterative (the graph is deep)
        if start in index:
            continue
        work = [(start, iter(edges[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycles_are_found_and_named() -> None:
    graph = grimp.ImportGraph()
    for name in ("a", "a.x", "a.y", "a.z"):
        graph.add_module(name)
    graph.add_import(importer="a.x", imported="a.y")
    graph.add_import(importer="a.y", imported="a.z")
    graph.add_import(importer="a.z", imported="a.x")
    assert cycles(graph, []) == [["a.x", "a.y", "a.z"]]
    assert cycles(graph, [("a.z", "a.x")]) == []
    assert cycles(graph, [("a.*", "a.x")]) == []


def test_no_two_files_import_each_other() -> None:
    graph = grimp.build_graph("jepa_kit")
    found = [c for c in cycles(graph, _ignored()) if set(c) not in KNOWN]
    assert not found, "import cycles between files: " + "; ".join(
        " <-> ".join(c) for c in found)


def test_every_module_stays_readable_at_one_sitting() -> None:
    """No module of jepa_kit reaches 400 lines: a longer one holds more than one concept."""
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "jepa_kit").rglob("*.py")
            if (n := len(p.read_text().splitlines())) >= 400}
    assert not long, f"modules of 400 lines or more (split them): {long}"
