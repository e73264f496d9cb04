"""python -m experiments reproduce: the study's experiment end to end (the README's main job).

1. the seed-mlp grid: 784-128-64-10, 100 epochs, batch size 1, eta 0.1, every configuration and seed;
2. the comparison: output-sigmoid trained by NumPy and by PyTorch from identical weights and order;
3. the report (summary table, plots) in the output folder, and a table comparing its numbers with the
   committed ones (results/reproduction_summary.csv), configuration by configuration.
Everything goes into a fresh output folder (default out/reproduce; out/reproduce-quick with --quick),
never into results/; run it again and it resumes (finished runs are kept, an unfinished one continues
from its last epoch).
"""

from __future__ import annotations

import pandas as pd

from experiments.provenance import ROOT


def against_committed(summary: pd.DataFrame, committed: pd.DataFrame) -> pd.DataFrame:
    """Per configuration: the reproduced and the committed mean final test accuracy, and their difference."""
    ours = summary[~summary["configuration"].str.startswith("[context]")]
    theirs = committed.set_index("configuration")
    rows = []
    for _, r in ours.iterrows():
        c = theirs.loc[r["configuration"]] if r["configuration"] in theirs.index else None
        rows.append({"configuration": r["configuration"], "epochs": r["epochs"], "seeds": r["seeds"],
                     "reproduced_mean_test_acc": r["mean_test_acc"],
                     "committed_epochs": None if c is None else c["epochs"],
                     "committed_seeds": None if c is None else c["seeds"],
                     "committed_mean_test_acc": None if c is None else c["mean_test_acc"],
                     "difference_points": None if c is None else 100 * (r["mean_test_acc"] - c["mean_test_acc"])})
    return pd.DataFrame(rows)


def reproduce(out_dir=None, workers: int = 2, scheduler: str | None = None, quick: bool = False) -> int:
    from experiments import outputs
    from experiments.config import get_experiment
    from experiments.provenance import write_csv_atomic
    from experiments.report import comparison, reproduction
    from experiments.runner import plan, run_grid

    out = outputs.ad_hoc(out_dir or ROOT / "out" / ("reproduce-quick" if quick else "reproduce"))
    failed = []
    specs_of = {}
    for name in ("seed-mlp", "comparison"):
        exp = get_experiment(name)
        specs = plan(exp, quick=quick)
        specs_of[name] = (exp, specs)
        print(f"reproduce: {name} into {out.shown(out.root)}", flush=True)
        failed += run_grid(specs, out, exp.table, workers=workers, scheduler=scheduler, progress=True)[1]
    exp, _ = specs_of["seed-mlp"]
    summary = reproduction.report(exp, out)
    comparison.report(specs_of["comparison"][0], out, specs_of["comparison"][1])
    table = against_committed(summary, pd.read_csv(ROOT / "results" / "reproduction_summary.csv"))
    write_csv_atomic(table, out.root / "against_committed.csv")
    print(f"\nreproduced ({out.shown(out.root)}) against committed (results/), mean final test accuracy:")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if quick:
        print("(quick: a labelled smoke version on 2,000 training images for 2 epochs; not comparable in value)")
    if failed:
        print(f"{len(failed)} run(s) failed:\n  " + "\n  ".join(failed))
        return 1
    return 0
