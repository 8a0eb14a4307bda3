"""The repository as a newcomer meets it: no import cycle in the library, and no
process talk (issue numbers, narrated history) outside CHANGELOG.md."""

from __future__ import annotations

import ast
import re
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


#: Process talk: issue numbers, the people or machines behind the work, narrated history.
#: (Written in pieces so that this file does not read as process talk itself.)
PROCESS_TALK = re.compile("|".join((
    r"\b[Ii]ssues? #?\d+", r"\bsteer" + r"ing\b", r"\bthis (VM|session)\b", r"\b[Ss]essions?\b",
    "when this was " + "written", r"\b[Ee]arlier " + "version", r"\blent " + r"to\b",
    r"\bpreviously\b", r"\bused to\b")))
#: Where the project speaks of itself (CHANGELOG.md is the one place for history).
SPOKEN = ("README.md", "CONTRIBUTING.md", "docs", "lib", "tests", "Makefile", "pyproject.toml",
          "environment.yml", "notebooks", ".ci", "data/README.md")


def _spoken_files() -> list[Path]:
    """The committed files under :data:`SPOKEN` (``git ls-files``; outside a checkout,
    every file there but build output), images and data left out."""
    import subprocess

    listed = subprocess.run(["git", "ls-files", *SPOKEN], cwd=paths.REPO_ROOT, capture_output=True, text=True)
    if listed.returncode == 0 and listed.stdout.strip():
        candidates = [paths.REPO_ROOT / line for line in listed.stdout.splitlines()]
    else:
        candidates = [p for name in SPOKEN for p in ([paths.REPO_ROOT / name] if (paths.REPO_ROOT / name).is_file()
                      else sorted((paths.REPO_ROOT / name).rglob("*"))) if p.is_file()]
    return [p for p in candidates if p.is_file() and p.suffix not in (".pyc", ".png", ".pdf", ".json")
            and "egg-info" not in p.parts and p != Path(__file__)]


def test_the_process_talk_pattern_sees_what_it_must():
    for text in ("as iss" + "ue 10 asks", "left to the steer" + "ing", "on th" + "is VM",
                 "an earl" + "ier version used", "No GPU was len" + "t to this project's sess" + "ions",
                 "when this was writ" + "ten", "this us" + "ed to be"):
        assert PROCESS_TALK.search(text), text
    for text in ("the reissued 3-class request", "scope=\"module\"", "sessionless"):
        assert not PROCESS_TALK.search(text), text


def test_the_project_speaks_of_itself_as_it_is():
    """No issue numbers, no word of the people or machines behind the work, no narrated
    history outside CHANGELOG.md: comments and documents explain the code as it is."""
    hits = []
    for path in _spoken_files():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            cleaned = line.replace('scope="session"', "")  # pytest's fixture scope is not talk
            if PROCESS_TALK.search(cleaned):
                hits.append(f"{path.relative_to(paths.REPO_ROOT)}:{number}: {line.strip()[:100]}")
    assert not hits, "process talk:\n" + "\n".join(hits)


def test_the_repository_has_its_licence_citation_and_changelog():
    for name in ("LICENSE", "CITATION.cff", "CHANGELOG.md", "CONTRIBUTING.md", "docs/papers.bib"):
        assert (paths.REPO_ROOT / name).is_file(), name
    assert "MIT License" in (paths.REPO_ROOT / "LICENSE").read_text()


def test_the_readme_is_a_guide_of_at_most_15_kb():
    assert len((paths.REPO_ROOT / "README.md").read_bytes()) <= 15 * 1024


def test_every_number_the_readme_quotes_from_a_results_table_is_results_md_s():
    """The README's generated section quotes the leaderboard; each mean ± std there must
    be RESULTS.md's string for it, so the two can never disagree."""
    from unlearnlab import report

    readme = (paths.REPO_ROOT / "README.md").read_text()
    generated = readme.split(report.README_START, 1)[1].split(report.README_END, 1)[0]
    quoted = re.findall(r"\d+\.\d{3} ± \d+\.\d{3}|\d+\.\d{3}(?= \|)", generated)
    results = (paths.REPO_ROOT / "RESULTS.md").read_text()
    missing = [q for q in quoted if q not in results]
    assert not missing, f"numbers in the README that RESULTS.md does not print: {missing}"
