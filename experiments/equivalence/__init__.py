"""The equivalence harness: every reference layer, loss, network and training trajectory against its
twins, PyTorch's (framework/) and JAX's (framework/jax/); `python -m experiments equivalence` writes the
rows to results/equivalence.csv.

    check.py         one check: forward, backward with a random upstream gradient, central differences
    cases.py         the layer table, one line per case (every layer of framework/layers.py TWINS), and
                     the functions that are no layer: the sign activation, the losses (CosFace's too)
    layer_check.py   how a case line becomes rows: data, random parameters and state, ours, the twin,
                     central differences, tolerances
    names.py         the rows' names derived from a case line (and the formats of older rows)
    mlp.py           the study's MLP (W[l] layout) against its twin
    layers.py        a model with batch normalisation and dropout, running statistics over 50 steps,
                     the optimizers (SGD, Adam, AdamW, schedules)
    metric_heads.py  the metric-learning losses: ArcFace's additive angular margin, the batch-hard triplet loss
    jax_check.py, jax_cases.py, jax_trajectories.py
                     the same cases against the JAX twin: ours vs JAX, JAX vs central differences, and
                     torch vs JAX directly (the four-way check), and the optimizer trajectories three ways

Column `framework`: "torch" (ours against torch's twin, and ours against central differences: every row
written before the JAX twin existed), "jax" (ours against JAX's twin, JAX against central differences),
"torch-vs-jax" (the two twins directly). `summary` gives the worst difference per family and framework.

The experiment families add their own rows through their kinds (Kind.equivalence_rows: whole networks
on their data, training trajectories) and extra tables (Kind.equivalence_tables).
"""

from __future__ import annotations

import pandas as pd

from experiments.equivalence import cases, jax_cases, layers, metric_heads, mlp
from experiments.kinds import registry
from experiments.outputs import Outputs, ad_hoc, official
from experiments.provenance import command_line, stamp, write_csv_atomic

CORE = (cases, mlp, layers, metric_heads, jax_cases)
TABLE = "equivalence"
SEEDING = ("component rows: inputs from numpy.random.default_rng with the fixed per-case seeds of "
           "experiments/equivalence/; trajectory rows: the seed column")


def rows(quick: bool = False) -> list[dict]:
    """Every row of the table (quick: fewer cases and short trajectories, labelled QUICK); a row that names
    no framework is torch's."""
    out = ([r for module in CORE for r in module.rows(quick)]
           + [r for kind in registry().values() for r in kind.equivalence_rows(quick)])
    return [{"framework": "torch", **r} for r in out]


KEY = ["framework", "component", "case", "dtype", "quantity"]


def keys(df: pd.DataFrame) -> set:
    """The (framework, component, case, dtype, quantity) of every row; a table from before the framework
    column holds torch's rows only."""
    if "framework" not in df.columns:
        df = df.assign(framework="torch")
    return set(map(tuple, df[KEY].astype(str).values))


def keep_every_row(df: pd.DataFrame, path) -> None:
    """A committed table never shrinks: refuse to replace it by rows that lack one of its (framework,
    component, case, dtype, quantity)."""
    if not path.exists():
        return
    missing = sorted(keys(pd.read_csv(path)) - keys(df))
    if missing:
        raise ValueError(f"{path}: the new rows lack {len(missing)} of its rows, e.g. {missing[:3]}; "
                         f"a committed table never shrinks")


def write(out: Outputs | None = None, quick: bool = False) -> bool:
    """Compute every row, write out.table('equivalence') (and, full runs, the sensitivity table), print
    a summary; True when every row passed. Default: results/ for the full run, ./out for --quick."""
    if out is None:
        out = ad_hoc() if quick else official()
    if quick and out.official:
        raise ValueError("a --quick equivalence run never writes into results/; give it an output folder")
    df = pd.DataFrame(rows(quick))
    prov = {"command": command_line(), **stamp(), "quick": quick, "seeding": SEEDING}
    for k, v in prov.items():
        df[k] = v
    path = out.table(TABLE)
    if out.official:
        keep_every_row(df, path)
    write_csv_atomic(df, path)
    if not quick:
        for kind in registry().values():
            for name, extra in kind.equivalence_tables().items():
                extra = pd.DataFrame(extra).assign(**prov)
                write_csv_atomic(extra, out.table(name))
                print(f"{name}: {len(extra)} rows -> {out.shown(out.table(name))}")
    failed = df[~df["passed"].astype(bool)]
    print(f"{len(df)} rows, {len(failed)} failed -> {out.shown(path)}")
    print(summary(df).to_string())
    if len(failed):
        print(failed[KEY + ["max_abs_err", "tolerance"]].to_string())
    return len(failed) == 0


def family(component: str) -> str:
    """The family of a component: "loss:am_softmax" -> "loss", "network:face-cnn" -> "network", "conv" -> "conv"."""
    return component.split(":")[0]


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """The worst max_abs_err per family (rows) and framework (columns), float64 and float32 apart; comparisons
    of twins only (central-difference rows measure the estimate's own error, so they are left out)."""
    twins = df[~df["quantity"].str.contains("central difference|finite difference")]
    trajectory = twins["quantity"].str.startswith("trajectory")  # whole trainings apart from single passes
    twins = twins.assign(family=twins["component"].map(family).where(~trajectory, "trajectory:" + twins["component"]))
    return twins.pivot_table(index=["dtype", "family"], columns="framework", values="max_abs_err", aggfunc="max")

