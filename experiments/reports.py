"""Reports: tables and plots built from an experiment's results table into an Outputs folder.

An experiment's report is one of its kind's (Kind.reports, chosen by the TOML's `report` key, default
the kind's first); `build(out, experiments)` rebuilds every report whose table exists in `out`.
"""

from __future__ import annotations


def report_for(exp):
    """The report function fn(exp, out, specs=None) of experiment `exp`, or None where it has none."""
    return exp.kind.report(exp.report) if exp.report else None


def build(out, experiments: dict) -> list[str]:
    """Rebuild the report of every experiment in `experiments` whose table exists in `out`; names built."""
    built = []
    for name, exp in experiments.items():
        fn = report_for(exp)
        if fn is not None and out.table(exp.table).exists():
            fn(exp, out)
            built.append(name)
    return built
