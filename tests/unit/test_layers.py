"""The shape of u7s (docs/architecture.md): no import from a higher floor, no import circle, no module over 300 lines.

Every import counts, the ones inside functions too: they are put off for speed, not to hide a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "u7s"
FLOORS = {
    "errors": 1, "ui": 1,
    "config": 2,
    "render": 3, "run": 3,
    "facts": 4, "node": 4,
    "session": 5,
    "checks": 6, "netcheck": 6,
    "steps": 7,
    "tasks": 8,
    "program": 9, "fab": 9, "__main__": 9,
    "": 1,  # u7s/__init__.py: the version, importing nothing
}


def module_of(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_of(p): p for p in PACKAGE.rglob("*.py")}


def imports(name: str) -> set[str]:
    """The modules of u7s that `name` imports (a name imported from a package counts as its module if it is one)."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "u7s":
            for alias in node.names:
                whole = f"{node.module}.{alias.name}"
                found.add(whole if whole in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "u7s")
    return found & set(MODULES)


def floor(name: str) -> int:
    return FLOORS[(name.split(".") + [""])[1]]


def test_every_folder_has_a_floor():
    assert {(m.split(".") + [""])[1] for m in MODULES} <= set(FLOORS)


def test_no_import_from_a_higher_floor():
    upward = [f"{m} (floor {floor(m)}) imports {t} (floor {floor(t)})"
              for m in sorted(MODULES) for t in sorted(imports(m)) if floor(t) > floor(m)]
    assert upward == []


def test_no_import_circle():
    graph = {m: imports(m) for m in MODULES}
    circles = []
    done: set[str] = set()

    def visit(m: str, path: list[str]) -> None:
        if m in path:
            circles.append(path[path.index(m):] + [m])
            return
        if m in done:
            return
        for t in sorted(graph[m]):
            visit(t, path + [m])
        done.add(m)

    for m in sorted(graph):
        visit(m, [])
    assert circles == []


def test_no_module_over_300_lines_and_no_folder_named_build():
    # ruff and black skip folders named build by default, and drawing tools take them for output.
    assert [m for m, p in MODULES.items() if len(p.read_text().splitlines()) > 300] == []
    assert [p for p in PACKAGE.rglob("build") if p.is_dir()] == []
