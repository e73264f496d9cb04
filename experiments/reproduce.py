"""python -m experiments reproduce [NAME ...]: re-run an experiment's declared runs and judge them against
the committed ones, under a stated rule.

Without a name it is the study's reproduction (the README's main job): seed-mlp and the comparison run.
Each experiment trains into its own folder, out/reproduce/NAME/ (out/reproduce-quick/NAME/ with
--quick), never into results/; run it again and it resumes. `--sample N` takes the first N declared
seeds of each variant (default: all of them, or SAMPLE_BIG of them for experiments of more than
BIG_GRID runs); `--variants` narrows it. It ends with NAME/against_committed.csv:

- one row per run: committed and new value of each metric, the largest difference of the per-epoch
  curves, and whether everything is bitwise equal;
- one row per configuration (the run_id without the seed): committed mean and seed-to-seed spread, new
  mean, the rule applied and its verdict.

The rule (`judge`): where the kind declares a run deterministic on every machine (Kind.deterministic:
no BLAS reduction order in play), its new values must equal the committed ones bit for bit. Elsewhere
(float32 or float64 GEMMs, whose kernels differ between CPUs and whose differences training amplifies)
a configuration agrees when its new mean lies within two standard errors of the difference of two means,
2 sd sqrt(1/n_committed + 1/n_new), sd the committed seed-to-seed spread (a configuration of one
committed run takes the pooled spread of the experiment's configurations that have several), and each
run lies in the committed range widened by 2 sd. Exit status 0 when every configuration agrees, 1 when
one does not, 2 for user errors.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.provenance import ROOT
from experiments.tables import read_table

STUDY = ("seed-mlp", "comparison")
BIG_GRID, SAMPLE_BIG = 100, 3
Z = 2.0  # standard errors of the bound


def config_key(spec) -> str:
    """The configuration of a run (its identity without the seed)."""
    from experiments.runner import config_id

    return config_id(spec.kind, spec.config)


def sampled(exp, specs, sample: int | None) -> list:
    """The first `sample` declared seeds of each variant."""
    if sample is None:
        return specs
    keep = {v: exp.seeds_of(v)[:sample] for v in exp.runs}
    return [s for s in specs if s.seed in keep[s.variant]]


def curve_difference(committed, new) -> float:
    """max |difference| of train_loss and test_acc over the epochs both curves have (nan when one is missing)."""
    if not all(isinstance(p, str) and p for p in (committed, new)):
        return float("nan")
    try:
        a, b = (pd.read_csv(Path(p) if Path(p).is_absolute() else ROOT / p) for p in (committed, new))
    except (OSError, pd.errors.ParserError):
        return float("nan")
    n = min(len(a), len(b))
    diffs = [np.abs(a[c].values[:n].astype(float) - b[c].values[:n].astype(float))
             for c in ("train_loss", "test_acc") if c in a and c in b]
    diffs = [d[~np.isnan(d)] for d in diffs]
    return max((float(d.max()) for d in diffs if d.size), default=float("nan"))


def metrics_of(kind, committed: pd.DataFrame) -> list[str]:
    return [m for m in kind.metrics if m in committed.columns]


def run_rows(kind, pairs, committed: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, impl): committed and new metrics, curve difference, bitwise equality. `pairs` are
    (new spec, committed spec): the same run, or with --quick its labelled smoke version."""
    metrics = metrics_of(kind, committed)
    impl = "impl" in committed.columns and "impl" in new.columns
    rows = []
    for spec, full in pairs:
        for _, r in new[new["run_id"] == spec.run_id].iterrows():
            old = committed[(committed["run_id"] == full.run_id) & ((committed["impl"] == r["impl"]) if impl else True)]
            if old.empty:
                continue
            old = old.iloc[-1]  # the newest row of the run
            row = {"variant": spec.variant, "seed": spec.seed, "run_id": spec.run_id, "committed_run_id": full.run_id,
                   "configuration": config_key(full), "impl": r["impl"] if impl else "",
                   "deterministic": kind.deterministic(spec.config)}
            equal = True
            for m in metrics:
                a, b = old.get(m), r.get(m)
                row[f"committed_{m}"], row[f"new_{m}"] = a, b
                equal &= bool((pd.isna(a) and pd.isna(b)) or a == b)
            row["curve_max_abs_diff"] = curve_difference(old.get("curve"), r.get("curve"))
            row["bitwise_equal"] = equal and not (row["curve_max_abs_diff"] > 0)
            rows.append(row)
    return pd.DataFrame(rows)


def spread(values: pd.Series) -> float:
    v = values.dropna()
    return float(v.std(ddof=1)) if len(v) >= 2 else float("nan")


def judge(runs: pd.DataFrame, committed_all: dict, metric: str) -> pd.DataFrame:
    """One row per configuration: the rule applied and its verdict (see the module's docstring).

    runs: run_rows' table; committed_all: (configuration, impl) -> the committed values of `metric` over
    every declared seed of that configuration (not only the re-run ones)."""
    spreads = {k: spread(pd.Series(v)) for k, v in committed_all.items()}
    pooled = float(np.sqrt(np.nanmean([s * s for s in spreads.values()]))) if any(
        not math.isnan(s) for s in spreads.values()) else float("nan")
    rows = []
    for (conf, impl), g in runs.groupby(["configuration", "impl"], sort=False):
        old = pd.Series(committed_all[(conf, impl)], dtype=float)
        new = g[f"new_{metric}"].astype(float)
        sd = spreads[(conf, impl)] if not math.isnan(spreads[(conf, impl)]) else pooled
        bound = Z * sd * math.sqrt(1 / len(old) + 1 / len(new))
        if bool(g["deterministic"].all()):
            rule, ok = "bitwise", bool(g["bitwise_equal"].all())
        else:
            lo, hi = old.min() - Z * sd, old.max() + Z * sd
            inside = bool(((new >= lo) & (new <= hi)).all())
            rule = f"|mean difference| <= {Z:g} sd sqrt(1/n_c + 1/n_new) = {bound:.4g}; runs in range +- {Z:g} sd"
            ok = bool(abs(new.mean() - old.mean()) <= bound) and inside
        rows.append({"variant": g["variant"].iloc[0], "configuration": conf, "impl": impl, "metric": metric,
                     "committed_runs": len(old), "committed_mean": old.mean(), "committed_sd": spreads[(conf, impl)],
                     "sd_used": sd, "new_runs": len(new), "new_mean": new.mean(),
                     "difference": new.mean() - old.mean(), "bound": bound, "rule": rule,
                     "verdict": "agrees" if ok else "DISAGREES"})
    return pd.DataFrame(rows)


def compare(exp, all_specs, pairs, out) -> pd.DataFrame:
    """against_committed.csv of one experiment: run rows, then configuration rows (row_type says which)."""
    kind = exp.kind
    committed = pd.read_csv(ROOT / "results" / f"{exp.table}.csv", low_memory=False)
    new = read_table(out.table(exp.table), low_memory=False)
    runs = run_rows(kind, pairs, committed, new)
    if runs.empty:
        return runs
    # each configuration is judged on the first of the kind's metrics it has (accuracy, or EER for verification)
    first = {key: next((m for m in metrics_of(kind, committed) if g[f"new_{m}"].notna().any()), None)
             for key, g in runs.groupby(["configuration", "impl"], sort=False)}
    runs["metric"] = [first[(c, i)] for c, i in zip(runs["configuration"], runs["impl"])]
    ids = {s.run_id: config_key(s) for s in all_specs}
    c = committed[committed["run_id"].isin(ids)]
    by_impl = "impl" in c.columns and runs["impl"].ne("").any()
    configs = []
    for metric, group in runs[runs["metric"].notna()].groupby("metric", sort=False):
        committed_all = {}
        for _, r in c.iterrows():
            if pd.notna(r.get(metric)):
                key = (ids[r["run_id"]], r["impl"] if by_impl else "")
                committed_all.setdefault(key, []).append(float(r[metric]))
        configs.append(judge(group, committed_all, metric))
    configs = pd.concat(configs, ignore_index=True) if configs else pd.DataFrame()
    return pd.concat([runs.assign(row_type="run"), configs.assign(row_type="configuration")], ignore_index=True)


def reproduce_one(name: str, out, *, sample, variants, quick, workers, scheduler, threads) -> tuple:
    from experiments.config import get_experiment
    from experiments.reports import report_for
    from experiments.runner import plan, run_grid

    exp = get_experiment(name)
    all_specs = plan(exp)
    if sample is None and len(all_specs) > BIG_GRID:
        sample = SAMPLE_BIG
        print(f"reproduce {name}: {len(all_specs)} declared runs; taking the first {sample} seeds of each variant "
              f"(--sample N to choose)", flush=True)
    full = sampled(exp, plan(exp, variants=variants), sample)
    specs = sampled(exp, plan(exp, variants=variants, quick=quick), sample)
    print(f"reproduce {name}: {len(specs)} runs into {out.shown(out.root)}", flush=True)
    failed = run_grid(specs, out, exp.table, workers=workers, scheduler=scheduler, progress=True,
                      threads=threads)[1]
    fn = report_for(exp)
    if fn is not None:
        fn(exp, out, specs)
    table = compare(exp, all_specs, list(zip(specs, full)), out)
    return table.assign(experiment=name, quick=quick) if not table.empty else table, failed


def reproduce(names=(), out_dir=None, workers: int = 2, scheduler: str | None = None, quick: bool = False,
              sample: int | None = None, variants=None, threads: int = 1) -> int:
    from experiments import outputs
    from experiments.provenance import write_csv_atomic

    folder = Path(out_dir) if out_dir else ROOT / "out" / ("reproduce-quick" if quick else "reproduce")
    verdicts, failures, tables = [], [], {}
    for name in (names or STUDY):
        # the study's two experiments share one folder (the comparison's NumPy run is one of seed-mlp's)
        out = outputs.ad_hoc(folder if not names else folder / name)
        table, failed = reproduce_one(name, out, sample=sample, variants=variants, quick=quick, workers=workers,
                                      scheduler=scheduler, threads=threads)
        failures += failed
        if table.empty:
            continue
        tables[out.root] = pd.concat([tables.get(out.root, pd.DataFrame()), table], ignore_index=True)
        write_csv_atomic(tables[out.root], out.root / "against_committed.csv")
        configs = table[table["row_type"] == "configuration"]
        print(f"\n{name} against committed (results/), per configuration:")
        print(configs[["variant", "impl", "metric", "committed_runs", "committed_mean", "new_runs", "new_mean",
                       "bound", "verdict"]].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        if not quick:
            verdicts += [f"{name}/{v}" for v in configs.loc[configs["verdict"] != "agrees", "variant"]]
    if quick:
        print("(quick: labelled smoke versions of the runs, compared with the committed full runs only to exercise "
              "the comparison: their verdicts do not count)")
    if failures:
        print(f"{len(failures)} run(s) failed:\n  " + "\n  ".join(failures))
        return 1
    if verdicts:
        print(f"{len(verdicts)} configuration(s) do not agree with the committed rows: {', '.join(verdicts)}")
        return 1
    return 0
