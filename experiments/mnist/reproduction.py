"""The seed-mlp report: the reproduction summary, its Markdown table and the learning curves.

- reproduction_summary.csv and .md: per configuration, the mean and standard deviation of the final
  test accuracy over seeds, the gap to the study's 94.27%, and a verdict (within 0.3 points, falls
  short, exceeds, or diverged/stuck), with classic anchors as context rows; for the official results
  the Markdown table is also spliced into docs/reproduction.md between its reproduction-table markers.
- reproduction_curves.png: mean test accuracy per epoch for every configuration that learns.
The columns naming what changed are the keys the experiment's variants set (Experiment.varied).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.plots import STUDY_ACC, plot_curves
from experiments.provenance import ROOT, of_runs, write_csv_atomic
from experiments.tables import configurations, read_table

WITHIN = 0.003  # 0.3 percentage points
# below this after 100 epochs the network is stuck: in the runs here such networks saturate within the
# first epoch (e.g. every tanh output at +1, E_in = 9) and wander between 9% and 35%; every network
# that learns at all is above 90%
CHANCE_LIKE = 0.5
ANCHORS = [
    ("study: 784-128-64-10, 100 epochs, batch 1, eta 0.1 (NumPy)", 0.9427),
    ("LeCun et al. 1998: 3-layer NN 300+100 hidden units, squared error", 0.9695),
    ("LeCun et al. 1998: 2-layer NN 300 hidden units", 0.953),
    ("Simard et al. 2003: 800 hidden units, cross-entropy", 0.984),
]


STUDY_EPOCHS = 100


def verdict(mean: float, stuck: bool, epochs: int = STUDY_EPOCHS) -> str:
    if stuck:
        return "diverged/stuck"
    if epochs != STUDY_EPOCHS:
        return f"not comparable ({epochs} epochs; the study's {STUDY_EPOCHS})"
    gap = round(mean - STUDY_ACC, 9)  # accuracies are multiples of 1e-4: keep 0.9457 - 0.9427 at exactly 0.003
    if abs(gap) <= WITHIN:
        return "within 0.3 points"
    return "exceeds" if gap > 0 else "falls short"


LAST_EPOCHS = 10  # the final accuracy wanders from epoch to epoch; this window averages it out


def last_epochs_acc(curves) -> float:
    """Mean over runs of each run's mean test accuracy over its last LAST_EPOCHS epochs (from the
    per-epoch curves); NaN when a curve file is missing."""
    means = []
    for c in curves:
        path = ROOT / str(c)
        if not path.exists():
            return float("nan")
        means.append(read_table(path)["test_acc"].astype(float).values[-LAST_EPOCHS:].mean())
    return float(np.mean(means)) if means else float("nan")


def flat(v) -> str:
    """A setting as the rows record it (lists joined by '-')."""
    return "-".join(map(str, v)) if isinstance(v, list) else str(v)


def summarise(df: pd.DataFrame, varied: tuple, experiment: str = "seed-mlp",
              source: str = "results/reproduction.csv", keys=()) -> pd.DataFrame:
    """One row per resolved configuration (`keys`: the kind's run keys) of the experiment's runs."""
    df = df[df["experiment"] == experiment].copy()
    df["configuration"] = configurations(df, keys or ("variant", "impl", "epochs", "train_limit", "test_limit"))
    out = []
    for variant, g in df.groupby("configuration", sort=False):
        acc = g["final_test_acc"].astype(float)
        stuck = bool((g["status"] != "ok").any() or acc.mean() < CHANCE_LIKE)
        std = acc.std(ddof=1) if len(g) > 1 else float("nan")
        row = {"configuration": variant, **{k: g[k].iloc[0] for k in varied}, "impl": g["impl"].iloc[0],
               "epochs": int(g["epochs"].iloc[0]),
               "seeds": int(len(g)), "mean_test_acc": acc.mean(), "std_test_acc": std,
               "sem_test_acc": std / np.sqrt(len(g)), "min_test_acc": acc.min(), "max_test_acc": acc.max(),
               "mean_best_test_acc": g["best_test_acc"].astype(float).mean(),
               f"mean_last{LAST_EPOCHS}_test_acc": last_epochs_acc(g["curve"]),
               "gap_to_study_points": 100 * (acc.mean() - STUDY_ACC),
               "verdict": verdict(acc.mean(), stuck, int(g["epochs"].iloc[0])),
               **of_runs(g, source)}
        out.append(row)
    s = pd.DataFrame(out)
    if len(s):
        s = s.sort_values("gap_to_study_points", key=lambda x: x.abs()).reset_index(drop=True)
    anchors = pd.DataFrame([{"configuration": f"[context] {name}", "mean_test_acc": acc,
                             "gap_to_study_points": 100 * (acc - STUDY_ACC), "verdict": "reference point"}
                            for name, acc in ANCHORS])
    out = pd.concat([s, anchors], ignore_index=True)
    for k in ("epochs", "seeds"):  # counts stay integers beside the context rows' blanks
        if k in out:
            out[k] = out[k].astype("Int64")
    return out


def markdown(summary: pd.DataFrame, varied: tuple, base: dict | None = None) -> str:
    """The summary as a Markdown table; "changed from base" against the experiment's declared base
    configuration `base` (or the table's base row)."""
    lines = ["| configuration | changed from base | seeds | mean final test acc | std | gap to 94.27 (points) "
             f"| verdict | mean over last {LAST_EPOCHS} epochs |",
             "|---|---|---:|---:|---:|---:|---|---:|"]
    if base is None:
        row = summary[summary["configuration"] == "base"]
        base = {k: row.iloc[0][k] for k in varied} if len(row) else {}
    for _, r in summary.iterrows():
        if str(r["configuration"]).startswith("[context]"):
            lines.append(f"| {r['configuration'][10:]} | (published) | | {100 * r['mean_test_acc']:.2f}% | "
                         f"| {r['gap_to_study_points']:+.2f} | {r['verdict']} | |")
            continue
        changed = ", ".join(f"{k}={r[k]}" for k in varied if k in base and str(r[k]) != flat(base[k])) or "(base)"
        std = "" if pd.isna(r["std_test_acc"]) else f"{100 * r['std_test_acc']:.2f}"
        last = r[f"mean_last{LAST_EPOCHS}_test_acc"]
        last = "" if pd.isna(last) else f"{100 * last:.2f}%"
        lines.append(f"| {r['configuration']} | {changed} | {int(r['seeds'])} | {100 * r['mean_test_acc']:.2f}% "
                     f"| {std} | {r['gap_to_study_points']:+.2f} | {r['verdict']} | {last} |")
    return "\n".join(lines) + "\n"


DOC = "docs/reproduction.md"  # the page whose table the official report rewrites


def splice_readme(table: str) -> None:
    """Replace the table between the reproduction-table markers of DOC by `table`."""
    readme = ROOT / DOC
    start, end = "<!-- reproduction-table:start -->", "<!-- reproduction-table:end -->"
    if not readme.exists():
        return
    text = readme.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"{DOC} lacks the markers {start} ... {end}")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(head + start + "\n" + table + end + tail)


def declared_rows(exp, df: pd.DataFrame, official: bool) -> pd.DataFrame:
    """The rows a report reads: in results/, exactly the experiment's declared runs (NumPy's); elsewhere,
    every run of the experiment in the folder (each configuration its own row)."""
    if not official:
        return df
    from experiments.runner import plan

    return df[df["run_id"].isin({s.run_id for s in plan(exp)}) & (df["impl"] == "numpy")]


def report(exp, out, specs=None) -> pd.DataFrame:
    """Summary CSV and Markdown, curves plot; the table in docs/reproduction.md too when `out` is the official
    results."""
    df = declared_rows(exp, read_table(out.table(exp.table)), out.official)
    summary = summarise(df, exp.varied, exp.name, out.shown(out.table(exp.table)), keys=("impl", *exp.kind.run_keys))
    write_csv_atomic(summary, out.root / "reproduction_summary.csv")
    base = {k: exp.runs["base"][k] for k in exp.varied}
    table = markdown(summary, exp.varied, base)
    (out.root / "reproduction_summary.md").write_text(table)
    if out.official:
        splice_readme(table)
    learned = summary.loc[~summary["verdict"].isin(["diverged/stuck", "reference point"]), "configuration"]
    runs = df[df["experiment"] == exp.name].assign(
        configuration=lambda d: configurations(d, ("impl", *exp.kind.run_keys)))
    runs = runs[runs["configuration"].isin(set(learned))]
    plot_curves(runs, out.root / "reproduction_curves.png",
                f"{exp.name}: mean test accuracy over seeds (configurations stuck below 50% not drawn)",
                lambda d: {v: list(g["curve"]) for v, g in d.groupby("configuration", sort=False)})
    print(table)
    return summary
