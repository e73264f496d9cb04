"""The registry of experiment kinds: the `kind` of a TOML experiment names one Kind object.

A family (one folder: experiments/mnist/, experiments/faces/) defines its kinds in one module each and
is listed in FAMILY_MODULES below; the core (config, runner, reports, bench, equivalence, CLI) reaches
a family only through its Kind. A Kind holds the schema of one run (run_keys, defaults), how one run
executes, and what the family adds to the shared commands (reports, bench rows, equivalence rows, CLI
subcommands) as "module:function" references, imported only when used: the kind's module stays light
(the CLI starts fast) and never imports the modules that import it.

Run identity survives schema growth: a setting added after runs were recorded is listed in `frozen`
with the value that reproduces the behaviour before it existed; at that value it is left out of the
identity (and so of run_id), so every recorded run keeps its run_id. A setting that only some runs have
(`applies`, e.g. a head's margin) is left out of the configuration of the runs it does not apply to.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

FAMILY_MODULES = ("experiments.mnist.family", "experiments.faces.kind")


def resolve(ref: str) -> Callable:
    """The function named by "package.module:function"."""
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def _no_check(where: str, config: dict) -> None:
    return None


def _not_bitwise(config: dict) -> bool:
    return False


@dataclass(frozen=True)
class Kind:
    name: str
    table: str                                   # the results table of its runs (an experiment may name another)
    run_keys: dict                               # key -> (type, description, check(value) -> error or None)
    defaults: dict                               # key -> value filled in when a run does not set it
    execute: Callable                            # (spec, out, *, progress) -> list of result rows
    check: Callable = _no_check                  # (where, config): combinations refused with ConfigError
    quick_settings: dict = field(default_factory=dict)  # the labelled smoke version: these settings, epochs capped
    frozen: dict = field(default_factory=dict)   # key added later -> the value every earlier run had
    applies: Callable | None = None              # (key, config) -> False where a setting does not apply
    # hooks, each "module:function"
    reports: dict = field(default_factory=dict)  # report name -> fn(exp, out, specs=None); the first is the default
    bench: tuple = ()                            # fn(quick, repeats) -> rows for results/bench.csv
    equivalence: tuple = ()                      # fn(quick) -> rows for results/equivalence.csv
    equivalence_extra: tuple = ()                # fn() -> {table: rows}: extra tables of the full equivalence run
    cli: tuple = ()                              # fn(subparsers): the family's own subcommands
    metrics: tuple = ("final_test_acc",)         # result columns a reproduction compares; the first present is judged
    deterministic: Callable = _not_bitwise       # (config) -> True where a run is bitwise the same on every machine

    def validate(self, where: str, run: dict) -> dict:
        """Defaults filled, every key checked, the combinations checked, inapplicable settings dropped."""
        from experiments.schema import check_keys

        out = check_keys(where, run, self.run_keys, self.defaults)
        if self.applies is not None:
            out = {k: v for k, v in out.items() if self.applies(k, out)}
        self.check(where, out)
        return out

    def quick(self, config: dict) -> dict:
        """The labelled smoke version of a run: the kind's quick settings, epochs capped at theirs."""
        q = self.quick_settings
        return {**config, **q, **({"epochs": min(config["epochs"], q["epochs"])} if "epochs" in q else {})}

    def report(self, name: str) -> Callable:
        return resolve(self.reports[name])

    def bench_rows(self, quick: bool, repeats: int) -> list[dict]:
        return [r for ref in self.bench for r in resolve(ref)(quick=quick, repeats=repeats)]

    def equivalence_rows(self, quick: bool) -> list[dict]:
        return [r for ref in self.equivalence for r in resolve(ref)(quick)]

    def equivalence_tables(self) -> dict:
        return {name: rows for ref in self.equivalence_extra for name, rows in resolve(ref)().items()}

    def register_cli(self, sub) -> None:
        for ref in self.cli:
            resolve(ref)(sub)

    def identity(self, config: dict) -> dict:
        """The settings that make a run's identity: all of them but later settings at their frozen value."""
        return {k: v for k, v in config.items() if not (k in self.frozen and v == self.frozen[k])}


@cache
def registry() -> dict[str, Kind]:
    """name -> Kind over every family."""
    kinds = {}
    for module in FAMILY_MODULES:
        for k in importlib.import_module(module).KINDS:
            if k.name in kinds:
                raise RuntimeError(f"kind {k.name!r} is defined twice ({module})")
            kinds[k.name] = k
    return kinds


def kind_of(name: str) -> Kind:
    """The Kind called `name`; ValueError naming the known kinds otherwise."""
    kinds = registry()
    if name not in kinds:
        raise ValueError(f"unknown experiment kind {name!r}; known: {', '.join(kinds)}")
    return kinds[name]
