"""The repository as a newcomer meets it: no import cycle in the library, and no
process talk (issue numbers, narrated history) outside CHANGELOG.md."""

from __future__ import annotations

import ast
from pathlib import Path

from unlearnlab import paths

LIBRARY = paths.REPO_ROOT / "lib" / "unlearnlab"


def _module_name(path: Path) -> str:
    parts = path.relative_to(LIBRARY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The library modules that ``path`` imports, at module level or inside functions."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            names = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
            found.update(names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("unlearnlab"))
    modules = {_module_name(p) for p in LIBRARY.rglob("*.py")}
    return {name for name in found if name in modules}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (as a path that returns to its start), or None."""
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt]
            if nxt not in state and (found := visit(nxt, trail + [nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_in_the_library():
    graph = {_module_name(p): _imports(p) for p in LIBRARY.rglob("*.py")}
    for module in graph:  # a package's submodule imports the package's __init__ first
        graph[module] = {d for d in graph[module] if not module.startswith(f"{d}.")}
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph))}"
