"""The equivalence harness: every reference layer, loss, network and training trajectory against its
PyTorch twin; `python -m experiments equivalence` writes the rows to results/equivalence.csv.

    check.py         one check: forward, backward with a random upstream gradient, central differences
    cases.py         the layer cases, one line each (activations, losses, convolution, pooling, flatten)
    mlp.py, cnn.py   whole networks: the study's MLP and the Sequential CNNs
    layers.py        batch normalisation, dropout and the optimizers (SGD, Adam, AdamW, schedules)
    cosface.py       L2 normalisation, the cosine layer and the additive-margin softmax loss (CosFace)
    trajectories.py  whole training runs from identical weights and order, and their sensitivity

FAMILIES lists the modules whose rows(quick) -> list[dict] make up the table: adding a family is one
module with a rows function and one line here.
"""

from __future__ import annotations

import pandas as pd

from experiments.equivalence import cases, cnn, cosface, layers, mlp, trajectories
from experiments.faces import equivalence as faces
from experiments.outputs import Outputs, ad_hoc, official
from experiments.provenance import command_line, stamp, write_csv_atomic

FAMILIES = (cases, mlp, cnn, layers, cosface, trajectories, faces)
TABLE = "equivalence"
SENSITIVITY_TABLE = "trajectory_sensitivity"
SEEDING = ("component rows: inputs from numpy.random.default_rng with the fixed per-case seeds of "
           "experiments/equivalence/; trajectory rows: the seed column")


def rows(quick: bool = False) -> list[dict]:
    """Every row of the table (quick: fewer cases and short trajectories, labelled QUICK)."""
    return [r for family in FAMILIES for r in family.rows(quick)]


KEY = ["component", "case", "dtype", "quantity"]


def keep_every_row(df: pd.DataFrame, path) -> None:
    """A committed table never shrinks: refuse to replace it by rows that lack one of its (component,
    case, dtype, quantity)."""
    if not path.exists():
        return
    old = set(map(tuple, pd.read_csv(path, usecols=KEY).astype(str).values))
    missing = sorted(old - set(map(tuple, df[KEY].astype(str).values)))
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
        sens = pd.DataFrame(trajectories.sensitivity_rows())
        for k, v in prov.items():
            sens[k] = v
        write_csv_atomic(sens, out.table(SENSITIVITY_TABLE))
        print(sens.pivot(index="step", columns="variant", values="max_abs_weight_diff_numpy_vs_torch").to_string())
    failed = df[~df["passed"].astype(bool)]
    print(f"{len(df)} rows, {len(failed)} failed -> {out.shown(path)}")
    summary = df.groupby(["component", "dtype"]).agg(rows=("passed", "size"), passed=("passed", "sum"),
                                                     max_abs_err=("max_abs_err", "max"))
    print(summary.to_string())
    if len(failed):
        print(failed[["component", "case", "dtype", "quantity", "max_abs_err", "tolerance"]].to_string())
    return len(failed) == 0


def write_equivalence(quick: bool = False) -> bool:
    """The CLI's entry point until it passes an Outputs to write()."""
    return write(None, quick)
