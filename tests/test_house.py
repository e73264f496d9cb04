"""The layout holds: a core that knows no dataset, one folder per experiment family, no import circle.

Read from the source (every import statement, at module level or inside a function): the core never
imports a family, a family never imports another, and the modules of experiments/ import one another
without a cycle. Every kind's hooks resolve, and every layer type with a torch twin has a case line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from experiments.kinds import registry, resolve

ROOT = Path(__file__).resolve().parent.parent
FAMILIES = ("experiments.mnist", "experiments.faces")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((ROOT / "experiments").rglob("*.py"))}


def imports_of(path: Path, known: dict) -> set[str]:
    """The experiments.* modules that `path` imports (a `from pkg import name` counts as pkg.name when
    that is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                found.add(sub if sub in known else node.module)
    return {m for m in found if m in known}


def family_of(module: str) -> str | None:
    return next((f for f in FAMILIES if module == f or module.startswith(f + ".")), None)


def graph() -> dict[str, set[str]]:
    known = modules()
    return {m: imports_of(p, known) - {m} for m, p in known.items()}


def test_the_core_imports_no_family_and_no_family_imports_another():
    wrong = []
    for m, deps in graph().items():
        for d in deps:
            fm, fd = family_of(m), family_of(d)
            if fd is not None and fd != fm:
                wrong.append(f"{m} -> {d}")
    assert wrong == []


def test_no_import_cycle():
    g = graph()
    state, cycles = {}, []

    def visit(m, stack):
        state[m] = "open"
        for d in sorted(g[m]):
            if state.get(d) == "open":
                cycles.append(" -> ".join(stack[stack.index(d):] + [d]))
            elif d not in state:
                visit(d, stack + [d])
        state[m] = "done"

    for m in sorted(g):
        if m not in state:
            visit(m, [m])
    assert cycles == []


def test_a_cycle_is_seen(tmp_path):
    """The checker itself: two modules importing each other are found."""
    (tmp_path / "experiments").mkdir()
    known = {"experiments.a": tmp_path / "a.py", "experiments.b": tmp_path / "b.py"}
    known["experiments.a"].write_text("from experiments import b\n")
    known["experiments.b"].write_text("def f():\n    import experiments.a\n")
    assert imports_of(known["experiments.a"], known) == {"experiments.b"}
    assert imports_of(known["experiments.b"], known) == {"experiments.a"}


@pytest.mark.parametrize("kind", sorted(registry()))
def test_every_hook_of_a_kind_resolves(kind):
    k = registry()[kind]
    refs = [*k.reports.values(), *k.bench, *k.equivalence, *k.equivalence_extra, *k.cli]
    assert all(callable(resolve(ref)) for ref in refs)
    assert set(k.frozen) <= set(k.run_keys) and set(k.defaults) <= set(k.run_keys)
