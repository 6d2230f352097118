"""The package reads in one direction (docs/architecture.md): every import of our own
modules, at module level, inside functions and under TYPE_CHECKING, points down the
layers, and no chain of imports comes back to where it started.

Read from the source (ast), not from what happens to be imported at run time, so an
import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "dvc_synced_plugin"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE

# Top to bottom. A module imports from its own group (package) or from a LOWER layer.
# Groups named together in one layer are independent of each other, except the leaves,
# which may import one another (the cycle check still holds them).
LAYERS: list[tuple[str, ...]] = [
    ("__main__",),
    ("cli",),
    ("commands",),
    ("hooks",),
    ("imports",),
    ("sync",),
    ("workspace",),
    ("config",),
    ("storage", "transports"),
    ("dvcfiles",),
    ("git",),
    ("errors", "output", "safety", "settings", "selection", "fs", "oids", "manifest_text",
     "sandbox",
     "tempnames", "faults", ""),
]
LEAVES = len(LAYERS) - 1


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def group(module: str) -> str:
    """`dvc_synced_plugin.sync.flows` -> `sync`; the package's own __init__ -> ``."""
    return module.split(".")[1] if "." in module else ""


def layer_of(module: str) -> int:
    for rank, groups in enumerate(LAYERS):
        if group(module) in groups:
            return rank
    raise AssertionError(
        f"{module} is in no layer: put it in a subpackage of its layer, or add it to "
        "LAYERS here and to docs/architecture.md"
    )


def imports_of(module: str, path: Path, known: dict[str, Path]) -> list[tuple[str, int, bool]]:
    """(imported module of ours, line, inside a function) for every import statement."""
    tree = ast.parse(path.read_text(), str(path))
    local: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            local.update(id(n) for n in ast.walk(node)
                         if isinstance(n, (ast.Import, ast.ImportFrom)))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                     for a in node.names]
        else:
            continue
        for name in names:
            if name == "tests" or name.startswith("tests."):
                found.append((name, node.lineno, id(node) in local))
            if name != PACKAGE and not name.startswith(PACKAGE + "."):
                continue
            while name not in known:  # `from pkg.mod import Class` -> pkg.mod
                name = name.rpartition(".")[0]
            if name != module and name != PACKAGE:
                found.append((name, node.lineno, id(node) in local))
    return found


def graph() -> tuple[dict[str, Path], dict[str, list[tuple[str, int, bool]]]]:
    known = modules()
    return known, {m: imports_of(m, p, known) for m, p in known.items()}


def test_every_import_points_down_the_layers() -> None:
    known, edges = graph()
    wrong = []
    for module, targets in edges.items():
        for target, line, _local in targets:
            if target.startswith("tests"):
                wrong.append(f"{module}:{line} imports the test suite's {target}")
                continue
            here, there = layer_of(module), layer_of(target)
            if group(module) == group(target) and group(module):
                continue  # inside one package (its modules' own order: the cycle check)
            if there > here or (here == there == LEAVES):
                continue
            where = "a layer above" if there < here else "an independent sibling"
            wrong.append(f"{module}:{line} imports {target}, {where} "
                         f"({'/'.join(LAYERS[there])} over {'/'.join(LAYERS[here])})")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_no_import_cycles_even_through_function_local_imports() -> None:
    _known, edges = graph()
    succ = {m: sorted({t for t, _, _ in ts if t in edges}) for m, ts in edges.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in succ[node]:
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(succ):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_function_local_imports_only_keep_heavy_modules_off_the_fast_path() -> None:
    """A lazy import of our own code hides a dependency from a reader; it stays only where
    it keeps dvc, yaml or sh (or the ref discovery) off a hook's fast path, and says so."""
    known, edges = graph()
    unexplained = []
    for module, targets in edges.items():
        lines = known[module].read_text().splitlines()
        for target, line, local in targets:
            context = " ".join(lines[max(0, line - 3):line]).replace("_", " ")
            if local and "fast path" not in context:
                unexplained.append(f"{module}:{line} imports {target} inside a function")
    assert not unexplained, (
        "function-local imports without a fast-path reason (import at the top, or say "
        "why on the line):\n" + "\n".join(unexplained))


def test_tests_mirror_the_package() -> None:
    """Tests live under tests/unit/<package path>/, tests/e2e/, tests/faults/ or
    tests/bench/; tests/ itself holds only the shared helpers."""
    tests = ROOT.parent / "tests"
    stray = sorted(p.name for p in tests.glob("test_*.py"))
    assert not stray, (f"test files directly in tests/: {stray}: move each to tests/unit/<path "
                       "of the module it tests>/, tests/e2e/, tests/faults/ or tests/bench/")
    for path in (tests / "unit").rglob("test_*.py"):
        package = path.parent.relative_to(tests / "unit")
        if package.parts:
            assert (ROOT / package).is_dir(), f"{path}: no package dvc_synced_plugin/{package}"
