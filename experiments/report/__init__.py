"""Reports: tables and plots built from the results tables, per experiment, into an Outputs folder.

REPORTS maps an experiment name to the module of its report function report(exp, out, specs=None)
(specs: the runs to report, default the declared ones). `build(out)`
rebuilds every report whose table exists in `out` (no training).
"""

from __future__ import annotations

import importlib

REPORTS = {
    "seed-mlp": "experiments.report.reproduction",
    "comparison": "experiments.report.comparison",
    "orl-faces": "experiments.faces.report",
}


def report_for(name: str):
    """The report function of experiment `name`, or None where it has none beyond its table."""
    return importlib.import_module(REPORTS[name]).report if name in REPORTS else None


def build(out, experiments: dict) -> list[str]:
    """Rebuild the report of every experiment in `experiments` whose table exists in `out`; names built."""
    built = []
    for name, exp in experiments.items():
        fn = report_for(name)
        if fn is not None and out.table(exp.table).exists():
            fn(exp, out)
            built.append(name)
    return built
