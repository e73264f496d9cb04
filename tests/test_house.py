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


def test_every_declared_run_keeps_its_recorded_identity():
    """The schema grew (heads, the fast path, the nested protocol: frozen settings); every run an experiment
    declares is still found in its committed table under the run_id it was recorded with."""
    import pandas as pd

    from experiments.config import all_experiments
    from experiments.runner import plan

    for name, exp in all_experiments().items():
        ids = set(pd.read_csv(ROOT / "results" / f"{exp.table}.csv", usecols=["run_id"])["run_id"].astype(str))
        missing = [s.label for s in plan(exp) if s.run_id not in ids]
        assert missing == [], f"{name}: {len(missing)} declared runs lost their identity, e.g. {missing[:3]}"


def test_a_frozen_setting_at_its_value_leaves_the_identity_and_any_other_value_changes_it():
    from experiments.runner import config_id, run_id

    faces = registry()["faces"]
    cfg = faces.validate("t", {})
    assert cfg["head"] == "softmax" and "head" not in faces.identity(cfg)
    cos = faces.validate("t", {"head": "cosface"})
    assert run_id("faces", 0, cfg) != run_id("faces", 0, cos) and "cosface_scale" in cos
    assert "cosface_scale" not in cfg  # a head's own settings exist only with that head
    assert config_id("faces", cfg) != run_id("faces", 0, cfg) and config_id("faces", cfg) == config_id("faces", cfg)


def test_the_readme_checklist_names_what_exists():
    """The README's "Adding a layer, a dataset, an experiment family" list: every path it names exists and
    every registry it names is where it says."""
    import re

    text = (ROOT / "README.md").read_text()
    section = text.split("## Adding a layer, a dataset, an experiment family", 1)[1].split("\n## ", 1)[0]
    paths = {p for p in re.findall(r"`([\w./]+)`", section) if "/" in p and "NAME" not in p}
    assert paths and all((ROOT / p).exists() for p in paths), sorted(p for p in paths if not (ROOT / p).exists())
    registries = {"framework/layers.py": "TWINS", "reference/losses.py": "LOSSES",
                  "framework/tables.py": "TORCH_LOSSES", "experiments/kinds.py": "FAMILY_MODULES"}
    for path, name in registries.items():
        assert f"`{path}` `{name}`" in section and re.search(rf"^{name}\b", (ROOT / path).read_text(), re.M)
    assert "experiments/equivalence/cases.py" in paths and "reference/sequential.py" in paths
