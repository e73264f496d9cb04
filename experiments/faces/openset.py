"""Open-set identification on ORL, from the nested verification runs (task verify, openset = true).

Per fold, the 32 training people enrol their first 5 images each (the gallery, embedded by the run's
network or eigenfaces); probes are those people's other 5 images (known) and the 8 test people's 10 images
(unknown). A probe is answered with its best gallery match's identity when the cosine similarity exceeds a
threshold, else "unknown". DIR (detection and identification rate): the share of known probes accepted with
the right identity; FAR: the share of unknown probes accepted (experiments/faces/metrics.py).

The threshold for a target FAR is calibrated without the test people: on the fold's validation runs (the same
settings, protocol "validation", on inner folds 0-3, the selection's: each time 24 training people enrol and 8
other training people are the unknowns, all 32 people once and 320 unknown probes in all), the lowest threshold
that accepts at most floor(FAR x 320) of the validation unknowns. The test FAR it gives is
reported beside the target; the DIR read off the test curve at the target FAR (the threshold chosen on the
test people) is given for comparison only. The known probes were training images of the network (it trains
on all 10 images of its people), as in deployment, where the enrolled people are the ones it learnt.

orl_openset.csv   per method, fold (and pooled) and target FAR: calibrated threshold, its validation and test
                  FAR, DIR; the test curve's DIR at the target
orl_openset.png   DIR against FAR on the test probes, pooled over the folds, with the calibrated points

orl_openset_unseen.csv/png: the same from experiment orl-openset, whose networks (and PCA) learn only from the
enrolled images (openset_train = "gallery"), so the known probes are faces the network never saw; its
validation runs are in its own table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.faces import metrics
from experiments.provenance import of_runs, write_csv_atomic

TARGETS = (0.01, 0.10)
CALIBRATION_TABLE = "orl_selection_runs"


# the validation runs that calibrate a final run's threshold: its settings on the selection's inner folds
# (orl-selection's [cross]; orl-openset's calibration variants cross the same; tests/test_faces_selection.py)
CALIBRATION_INNER_FOLDS = (0, 1, 2, 3)


def calibration_run_ids(row: pd.Series, config: dict) -> list[str]:
    """The run_ids of the validation runs behind a final run: its configuration with protocol "validation",
    no selected_by (the selection candidate it came from), on each of CALIBRATION_INNER_FOLDS."""
    from experiments.runner import run_id

    return [run_id("faces", int(row["seed"]), {**config, "protocol": "validation", "selected_by": "", "inner_fold": i})
            for i in CALIBRATION_INNER_FOLDS]


def probes(out, path: str) -> pd.DataFrame:
    from experiments.provenance import ROOT

    p = ROOT / path if (ROOT / path).exists() else out.root / path
    df = pd.read_csv(p)
    return df.assign(correct=df["known"].astype(bool) & (df["best_label"] == df["label"]))


def method_name(row: pd.Series) -> str:
    """A nested run's selection group (its folds may have chosen different settings), else method and input."""
    if isinstance(row.get("selected_by"), str) and row["selected_by"]:
        return row["selected_by"].split(":")[1]
    return f"{row['method']} {112 // int(row['downsample'])}x{92 // int(row['downsample'])}"


def fold_rows(test: pd.DataFrame, calib: pd.DataFrame) -> list[dict]:
    """One row per target FAR: the threshold calibrated on `calib`'s unknowns, applied to `test`."""
    unknown = calib.loc[~calib["known"].astype(bool), "best_score"].to_numpy()
    args = (test["best_score"].to_numpy(), test["correct"].to_numpy(), test["known"].to_numpy(bool))
    out = []
    for far in TARGETS:
        t = metrics.threshold_at_far(unknown, far)
        dir_, test_far = metrics.open_set_rates(*args, t)
        _, val_far = metrics.open_set_rates(calib["best_score"], calib["correct"], calib["known"].astype(bool), t)
        out.append({"target_far": far, "threshold": t, "validation_far": val_far, "test_far": test_far,
                    "dir": dir_, "dir_at_target_on_test_curve": metrics.dir_at_far(*args, far),
                    "probes_known": int(args[2].sum()), "probes_unknown": int((~args[2]).sum())})
    return out


def pooled_rows(tests: list[pd.DataFrame], per_fold: list[dict]) -> list[dict]:
    """Pooled over the folds: each fold's probes decided by its own calibrated threshold; the test curve of
    all probes under one threshold."""
    both = pd.concat(tests, ignore_index=True)
    args = (both["best_score"].to_numpy(), both["correct"].to_numpy(), both["known"].to_numpy(bool))
    out = []
    for far in TARGETS:
        fold = [r for r in per_fold if r["target_far"] == far]
        known = sum(r["probes_known"] for r in fold)
        unknown = sum(r["probes_unknown"] for r in fold)
        out.append({"target_far": far, "threshold": float("nan"),
                    "validation_far": np.mean([r["validation_far"] for r in fold]),
                    "test_far": sum(r["test_far"] * r["probes_unknown"] for r in fold) / unknown,
                    "dir": sum(r["dir"] * r["probes_known"] for r in fold) / known,
                    "dir_at_target_on_test_curve": metrics.dir_at_far(*args, far),
                    "probes_known": known, "probes_unknown": unknown})
    return out


def openset_table(out, final: pd.DataFrame, configs: dict, source: str,
                  calibration: str = CALIBRATION_TABLE) -> tuple[pd.DataFrame, dict]:
    """(orl_openset rows, method -> [test probe frames]) from the final open-set runs and their validation
    runs in out's calibration table; a final run whose validation run is missing is left out."""
    path = out.table(calibration)
    calib = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=["run_id"])
    calib = calib.set_index("run_id")
    calibrated = set(calib.index)
    table, curves = [], {}
    for name, g in final.assign(name=final.apply(method_name, axis=1)).groupby("name", sort=False):
        per_fold, tests = [], []
        for _, r in g.sort_values("seed").iterrows():
            ids = calibration_run_ids(r, configs[r["run_id"]])
            if not set(ids) <= calibrated:
                print(f"open-set: {name} fold {int(r['seed'])} left out: its validation runs {ids} are not all in "
                      f"{out.shown(path)}")
                continue
            test = probes(out, r["probes"])
            rows = fold_rows(test, pd.concat([probes(out, calib.loc[i, "probes"]) for i in ids], ignore_index=True))
            cid = ";".join(ids)
            per_fold += rows
            tests.append(test)
            table += [{"method": name, "fold": str(int(r["seed"])), **x, "selected_by": r["selected_by"],
                       "run_id": r["run_id"], "calibration_run_id": cid} for x in rows]
        if tests:
            table += [{"method": name, "fold": "pooled", **x, "selected_by": "", "run_id": "",
                       "calibration_run_id": ""} for x in pooled_rows(tests, per_fold)]
            curves[name] = (tests, [r for r in table if r["method"] == name and r["fold"] == "pooled"])
    return pd.DataFrame(table).assign(**of_runs(final, source)) if table else pd.DataFrame(), curves


def plot(curves: dict, path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for i, (name, (tests, points)) in enumerate(curves.items()):
        color = f"C{i}"
        for t in tests:
            far, dir_ = metrics.dir_far_curve(t["best_score"], t["correct"], t["known"].astype(bool))
            ax.step(np.maximum(far, 1e-3), 100 * dir_, where="post", color=color, alpha=0.25, linewidth=0.8)
        both = pd.concat(tests, ignore_index=True)
        far, dir_ = metrics.dir_far_curve(both["best_score"], both["correct"], both["known"].astype(bool))
        ax.step(np.maximum(far, 1e-3), 100 * dir_, where="post", color=color, label=f"{name} (folds pooled)")
        for p in points:
            ax.plot(max(p["test_far"], 1e-3), 100 * p["dir"], marker="o", color=color, linestyle="none")
            ax.annotate(f"target {100 * p['target_far']:.0f}%", (max(p["test_far"], 1e-3), 100 * p["dir"]),
                        fontsize=7, xytext=(4, -10), textcoords="offset points", color=color)
    ax.set(xscale="log", xlim=(1e-3, 1), xlabel="FAR: unknown probes accepted (test people; 0 drawn at 0.001)",
           ylabel="DIR, % (known probes accepted as the right person)",
           title=f"ORL open-set identification ({max(len(t) for t, _ in curves.values())} folds; dots: thresholds "
           "calibrated on validation people)")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def config_of(exp, row: pd.Series) -> dict | None:
    """The configuration of a row of `exp`: the declared one (in its quick version for a quick row) whose identity
    at the row's seed is the row's run_id, whatever variant name it was recorded under; None when none is (an
    --epochs override, a changed file)."""
    from experiments.runner import run_id

    seed, quick = int(row["seed"]), bool(row["quick"])
    for cfg in exp.runs.values():
        cfg = exp.kind.quick(cfg) if quick else cfg
        if run_id(exp.kind.name, seed, cfg) == row["run_id"]:
            return cfg
    return None


def write(exp, out, rows: pd.DataFrame, source: str, calibration: str = CALIBRATION_TABLE,
          name: str = "orl_openset") -> pd.DataFrame:
    """NAME.csv and .png from the experiment's final open-set runs in `rows` (nothing if none), calibrated by
    the validation runs in out's table `calibration`."""
    if "openset" not in rows:
        return pd.DataFrame()
    final = rows[(rows["task"] == "verify") & rows["openset"].fillna(False).astype(bool)]
    configs = {r["run_id"]: config_of(exp, r) for _, r in final.iterrows()}
    final = final[[configs[i] is not None for i in final["run_id"]]]
    if not len(final):
        return pd.DataFrame()
    table, curves = openset_table(out, final, configs, source, calibration)
    if len(table):
        write_csv_atomic(table, out.table(name))
        plot(curves, out.root / f"{name}.png")
    return table


def report(exp, out, specs=None) -> dict:
    """The report of an experiment holding both its final open-set runs (protocol test) and their validation
    runs (orl-openset: networks trained on the enrolled images only) -> orl_openset_unseen.csv/png."""
    from experiments.faces.selection import runs_table

    rows = runs_table(exp, out)
    if not len(rows):
        return {}
    final = rows[rows["protocol"] == "test"]
    return {"openset": write(exp, out, final, out.shown(out.table(exp.table)), exp.table, "orl_openset_unseen")}
