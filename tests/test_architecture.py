"""The package's imports point one way: layer by layer, with no cycle (docs/ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lnbayes"

LAYERS = {"errors": 0, "formatting": 0, "numerics": 0, "model": 1, "priors": 2, "io": 3, "engines": 4,
          "analyses": 5, "outputs": 6, "cli": 7}
"""Layer of each top-level part of the package (docs/ARCHITECTURE.md); a module may import its own
layer and the layers below it."""

TOP = {"lnbayes", "lnbayes.__main__", "lnbayes.data"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(path: Path, known: set[str]) -> set[str]:
    """Every lnbayes module ``path`` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] == "lnbayes":
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in known else node.module)
        elif isinstance(node, ast.ImportFrom) and node.level:
            found.add("<relative import>")
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "lnbayes"}
    return found


def layer(module: str) -> int:
    if module in TOP:
        return 99 if module == "lnbayes.__main__" else -1
    return LAYERS[module.split(".")[1]]


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {m: imports(p, set(mods)) - {m} for m, p in mods.items()}


def test_every_module_has_a_layer():
    for module in modules():
        if module not in TOP:
            assert module.split(".")[1] in LAYERS, f"{module}: not in a layer of LAYERS"


def test_no_relative_imports():
    bad = [m for m, deps in graph().items() if "<relative import>" in deps]
    assert not bad, bad


def test_imports_point_down_the_layers():
    upward = [f"{m} (layer {layer(m)}) imports {d} (layer {layer(d)})"
              for m, deps in graph().items() for d in deps if layer(d) > layer(m)]
    assert not upward, "\n".join(upward)


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(edges.get(node, ())):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep in edges and not state.get(dep):
                found = visit(dep, stack)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if not state.get(node):
            found = visit(node, [])
            if found:
                return found
    return None


def test_no_import_cycle():
    cycle = find_cycle(graph())
    assert cycle is None, " -> ".join(cycle)


@pytest.mark.parametrize("edges, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ({"a": {"a2"}, "a2": set(), "b": {"c"}, "c": {"b"}}, ["b", "c", "b"]),
])
def test_the_cycle_finder_finds_cycles(edges, expected):
    assert find_cycle(edges) == expected


def test_the_import_reader_sees_imports_inside_functions(tmp_path):
    code = "def f():\n    from lnbayes.engines import exact\n    import lnbayes.model.spec\n"
    (tmp_path / "m.py").write_text(code)
    assert imports(tmp_path / "m.py", {"lnbayes.engines.exact"}) == {
        "lnbayes.engines.exact", "lnbayes.model.spec"}
