"""The comparison report: NumPy reference and PyTorch twin trained from identical initial weights and
sample order (experiments/configs/comparison.toml). comparison.csv: per implementation, final and best
test accuracy, seconds per epoch, and the maximum difference between the two final networks, read
from the runs' final weights (out.checkpoints/final/<run_id>.npz); comparison_curves.png.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.plots import plot_curves
from experiments.provenance import append_rows_atomic, command_line, stamp

NOTE = ("Both trained from identical initial weights and sample order. Seconds per epoch are the training runs' "
        "own (one thread each; runs resume across sessions and share the machine with other work, so they are not "
        "a controlled comparison); the controlled side-by-side timing is results/bench.csv. With tanh hidden units at "
        "eta 0.1 the batch-1 dynamics amplify rounding "
        "differences about 1000x per 1000 steps (results/trajectory_sensitivity.csv), so after 6 million steps the "
        "weights differ at the scale of the weights themselves and the two runs are two different samples of the "
        "configuration's seed-to-seed spread; with sigmoid hidden units the same two codes stay within rounding of "
        "each other over a full epoch (trajectory rows of results/equivalence.csv).")


def max_weight_diff(paths) -> float:
    finals = []
    for p in paths:
        with np.load(p) as z:
            finals.append([z[k] for k in sorted(z.files)])
    return max(float(np.abs(a - b).max()) for a, b in zip(*finals))


def report(exp, out, specs=None) -> pd.DataFrame | None:
    """Write comparison.csv from the two runs' rows and final weights; keep the table as it is when the
    final weights are not here (a fresh clone has the rows but not the git-ignored weights)."""
    from experiments.runner import plan

    specs = specs if specs is not None else plan(exp)
    rows = pd.read_csv(out.table(exp.table))
    path = out.table("comparison")
    for seed in sorted({s.seed for s in specs}):
        pair = [s for s in specs if s.seed == seed]
        got = rows[rows["run_id"].isin([s.run_id for s in pair])].drop_duplicates("run_id", keep="last")
        if len(got) != 2:
            print(f"comparison: seed {seed}: {len(got)} of 2 runs finished; run again once both have", flush=True)
            continue
        finals = [out.checkpoints / "final" / f"{r}.npz" for r in got["run_id"]]
        if not all(p.exists() for p in finals):
            print(f"comparison: seed {seed}: final weights not in {out.shown(out.checkpoints / 'final')}; "
                  f"{out.shown(path)} kept as it is", flush=True)
            continue
        df = got[["variant", "seed", "impl", "engine"]].copy()
        df["epochs"] = got["epochs_done"].values
        for k in ("final_test_acc", "best_test_acc", "seconds_per_epoch", "train_seconds", "curve"):
            df[k] = got[k].values
        df["chosen_because"] = f"declared in {exp.path.name}"
        df["quick"] = got["quick"].values
        df["max_weight_diff_numpy_vs_torch"] = max_weight_diff(finals)
        df["note"] = NOTE
        spe = dict(zip(got["impl"], got["seconds_per_epoch"]))
        df["seconds_per_epoch_ratio_torch_over_numpy"] = spe["torch"] / spe["numpy"]
        for k, v in {"command": command_line(), **stamp()}.items():
            df[k] = v
        df["run_id"] = got["run_id"].values
        append_rows_atomic(df.to_dict("records"), path, ["run_id"])
    if path.exists():
        c = pd.read_csv(path)
        title = f"NumPy vs PyTorch from identical weights and order: {c['variant'].iloc[0]}, seed {c['seed'].iloc[0]}"
        plot_curves(c, out.root / "comparison_curves.png", title,
                    lambda d: {impl: [curve] for impl, curve in zip(d["impl"], d["curve"])})
        shown = ["impl", "final_test_acc", "seconds_per_epoch", "max_weight_diff_numpy_vs_torch"]
        print(c[shown].to_string(index=False))
        return c
    return None
