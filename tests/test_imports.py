"""No import cycle in the project: every module under retrieval/, bot/ and config/ is parsed
(ast, not imported) and the graph of the project modules they import must be acyclic. Every
import counts, with no exclusions: those inside functions (a cycle hidden in one is still a
cycle, and the first refactor that moves it to the top breaks the import) and those under
``if TYPE_CHECKING:`` (a cycle the type checker needs is still two modules that know each other:
the bot and its cogs meet through ``bot.services`` instead)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("retrieval", "bot", "config")


def module_name(path: Path) -> str:
    """The installed name: the top-level folders are packages under ``citebot`` (pyproject.toml)."""
    parts = ["citebot", *path.relative_to(ROOT).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports (``from pkg import mod`` names the submodule)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in found if m in known and m != name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (as a path that ends where it starts), or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_checker_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_in_the_project() -> None:
    modules = project_modules()
    assert {"citebot.retrieval.library", "citebot.retrieval.snapshot", "citebot.bot.cli", "citebot.config.settings"} <= set(modules)
    known = set(modules)
    graph = {name: imported(name, path, known) for name, path in modules.items()}
    assert graph["citebot.retrieval.library"] >= {"citebot.retrieval.snapshot", "citebot.retrieval.cache"}
    assert graph["citebot.bot.cogs.ask"] >= {"citebot.bot.services"} and "citebot.bot.client" not in graph["citebot.bot.cogs.ask"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])
