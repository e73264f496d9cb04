"""The orl-faces report: summary tables and plots from results/orl_faces.csv and the runs' per-image and
per-pair files, next to Lawrence et al. (1997).

orl_summary.csv       per resolved configuration (named by its variant; task, method, split, k, resolution,
                      standardise): runs, mean +- sd accuracy/error
orl_verification.csv  per fold and pooled over the folds' pairs: ROC AUC, EER, TAR at 1% FAR, CNN and eigenfaces
orl_rejection.csv     error against the fraction of test images rejected by confidence (pooled over the splits)
orl_twin.csv          NumPy CNN vs its PyTorch twin: accuracies and weight differences
orl_nested.csv        the nested final runs (settings chosen on validation, selected_by): per selection group,
                      identification accuracy over the splits or verification EER over the folds
orl_openset.csv/png   open-set identification from the nested verification runs (experiments/faces/openset.py)
The tables above orl_nested.csv hold the runs whose settings were fixed beforehand or chosen on test data
(docs/faces.md says which); the nested runs are left out of them.
orl_k.png, orl_rejection.png, orl_roc.png, orl_twin.png, orl_montage.png
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.faces import metrics
from experiments.provenance import of_runs, write_csv_atomic
from experiments.tables import configurations, read_table

LAWRENCE = {"SOM + convolutional network": 0.038, "KLT + convolutional network": 0.053,
            "SOM + MLP (no convolution)": 0.40, "eigenfaces": 0.105}
CONFIG = ["task", "method", "split", "k", "downsample"]
REJECT = np.round(np.arange(0.0, 0.31, 0.01), 2)
LABELS = {"cnn": "NumPy CNN", "mlp": "MLP on pixels", "eigenfaces": "eigenfaces + 1-NN",
          "fisherfaces": "fisherfaces + 1-NN", "pixels": "pixels 1-NN"}


def resolution(downsample: int) -> str:
    return f"{112 // downsample}x{92 // downsample}"


def settings_of(rows: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """(rows with every setting recorded before it existed read as its frozen value, the setting columns): the
    keys tables.configurations compares, so a run recorded before a setting and one after it are one
    configuration when the setting is at its frozen value."""
    from experiments.faces import kind

    filled = {k: rows[k].astype(object).where(rows[k].notna(), v) for k, v in kind.FROZEN.items() if k in rows}
    return rows.assign(**filled), [k for k in kind.RUN_KEYS if k != "selected_by"]


def summarise(rows: pd.DataFrame, source: str = "results/orl_faces.csv") -> pd.DataFrame:
    """One row per resolved configuration of the identification runs (tables.configurations over every setting:
    the variant's name, with the settings that differ where one variant's runs differ): mean and sample sd over
    the splits, with the seeds, commits and versions of its runs."""
    from experiments.faces import kind

    ident, keys = settings_of(rows[(rows["task"] == "identify")])
    out = []
    for label, g in ident.groupby(configurations(ident, keys), sort=False) if len(ident) else ():
        key = tuple(g.iloc[0][c] for c in CONFIG)
        acc = g["accuracy"].to_numpy()
        out.append({"configuration": label, **dict(zip(CONFIG, key)), "resolution": resolution(int(key[4])),
                    "standardise": g["standardise"].iloc[0] if "standardise" in g else kind.FROZEN["standardise"],
                    "runs": len(g),
                    "mean_accuracy": acc.mean(),
                    "sd_accuracy": acc.std(ddof=1) if len(acc) > 1 else float("nan"), "min_accuracy": acc.min(),
                    "max_accuracy": acc.max(), "mean_error": 1 - acc.mean(),
                    "mean_train_seconds": g["train_seconds"].mean() if "train_seconds" in g else float("nan"),
                    **of_runs(g, source)})
    return pd.DataFrame(out)


def read_files(out, g: pd.DataFrame, column: str) -> pd.DataFrame:
    from experiments.provenance import ROOT

    frames = []
    for _, r in g.iterrows():
        p = ROOT / r[column]
        if not p.exists():
            p = out.root / r[column]
        frames.append(read_table(p).assign(seed=r["seed"]))
    return pd.concat(frames, ignore_index=True)


def verification_table(out, rows: pd.DataFrame, source: str = "results/orl_faces.csv") -> tuple[pd.DataFrame, dict]:
    """Per resolved configuration of the verification runs (tables.configurations): each fold, the mean of the
    folds and the folds' pairs pooled; and the pooled pairs of each, for the ROC plot."""
    ver, keys = settings_of(rows[rows["task"] == "verify"])
    if "head" in ver:  # each head's runs are a method of their own: cnn-cosface, cnn-arcface, cnn-triplet
        head = ver["head"].fillna("softmax")
        ver = ver.assign(method=ver["method"].where(head == "softmax", "cnn-" + head))
    table, pooled_pairs = [], {}
    for label, g in ver.groupby(configurations(ver, keys), sort=False) if len(ver) else ():
        method, ds = g["method"].iloc[0], g["downsample"].iloc[0]
        name, where = f"{method} {resolution(int(ds))} ({label})", {"configuration": label, "method": method,
                                                                    "resolution": resolution(int(ds))}
        for _, r in g.sort_values("seed").iterrows():
            table.append({**where, "fold": int(r["seed"]),
                          **{k: r[k] for k in ("auc", "eer", "tar_at_far1", "pairs_same", "pairs_different")}})
        pairs = read_files(out, g, "pairs")
        pooled_pairs[name] = pairs
        m = metrics.verification(pairs["score"].to_numpy(), pairs["same"].to_numpy(bool))
        mean = g[["auc", "eer", "tar_at_far1"]].mean()
        table.append({**where, "fold": "mean of folds",
                      **mean.to_dict(), "pairs_same": g["pairs_same"].sum(),
                      "pairs_different": g["pairs_different"].sum()})
        table.append({**where, "fold": "pooled pairs", **m})
        for row in table[-len(g) - 2:]:
            row.update(of_runs(g, source))
    return pd.DataFrame(table), pooled_pairs


def nested_table(out, nested: pd.DataFrame, source: str = "results/orl_faces.csv") -> pd.DataFrame:
    """Per selection group (selected_by's middle part) of the nested final runs: the test score over its
    splits or folds (mean, sample sd, pooled pairs for verification) and the candidate each seed used."""
    table = []
    groups = nested["selected_by"].str.split(":").str[1]
    for group, g in nested.groupby(groups, sort=False):
        g = g.sort_values("seed")
        metric = "accuracy" if g["task"].iloc[0] == "identify" else "eer"
        v = g[metric].to_numpy(float)
        row = {"group": group, "task": g["task"].iloc[0], "method": g["method"].iloc[0], "runs": len(g),
               "metric": metric, "mean": v.mean(), "sd": v.std(ddof=1) if len(v) > 1 else float("nan"),
               "min": v.min(), "max": v.max(),
               "chosen": " ".join(f"{int(r.seed)}:{r.selected_by.split(':')[2]}" for r in g.itertuples())}
        if metric == "eer":
            pairs = read_files(out, g, "pairs")
            pooled = metrics.verification(pairs["score"].to_numpy(), pairs["same"].to_numpy(bool))
            row.update({"mean_auc": g["auc"].mean(), "mean_tar_at_far1": g["tar_at_far1"].mean(),
                        "pooled_eer": pooled["eer"], "pooled_auc": pooled["auc"]})
        table.append({**row, **of_runs(g, source)})
    return pd.DataFrame(table)


def plot_k(summary: pd.DataFrame, path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    rand = summary[(summary["split"] == "random")]
    for (method, ds), g in rand.groupby(["method", "downsample"], sort=False):
        g = g.sort_values("k")
        ax.errorbar(g["k"], 100 * g["mean_error"], yerr=100 * g["sd_accuracy"], marker="o", capsize=3,
                    label=f"{LABELS[method]} ({resolution(int(ds))})")
    for name, err in (("Lawrence: SOM + CNN", LAWRENCE["SOM + convolutional network"]),
                      ("Lawrence: eigenfaces", LAWRENCE["eigenfaces"])):
        ax.plot([5], [100 * err], marker="*", markersize=14, linestyle="none", label=f"{name} (k = 5)")
    ax.set(xlabel="training images per person (k)", ylabel="test error, % (mean +- sd over 10 splits)",
           title="ORL identification: error against training images per person", xticks=[1, 2, 3, 4, 5])
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def rejection_table(out, rows: pd.DataFrame, source: str = "results/orl_faces.csv") -> pd.DataFrame:
    """Error against the rejected fraction, per method, over the pooled test images of the 10 random splits."""
    sel = rows[(rows["task"] == "identify") & (rows["split"] == "random") & (rows["k"] == 5)]
    sel = sel[sel["method"].isin(["cnn", "eigenfaces"])]
    cols = {"rejected": REJECT}
    for (method, ds), g in sel.groupby(["method", "downsample"], sort=False):
        p = read_files(out, g, "predictions")
        cols[f"{method}_{resolution(int(ds))}_error"] = metrics.rejection_curve(
            p["confidence"].to_numpy(), (p["label"] == p["predicted"]).to_numpy(), REJECT)
    table = pd.DataFrame(cols)
    return table.assign(**of_runs(sel, source)) if len(sel) else table


def plot_rejection(table: pd.DataFrame, path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for c in [c for c in table.columns if c.endswith("_error")]:
        ax.plot(100 * table["rejected"], 100 * table[c], marker=".", label=c.replace("_error", "").replace("_", " "))
    ax.set(xlabel="test images rejected (least confident first), %", ylabel="error on the rest, %",
           title="Rejection by confidence (10 random 5/5 splits pooled)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_roc(pooled: dict, path) -> None:
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for name, pairs in pooled.items():
        fpr, tpr, _ = roc_curve(pairs["same"].to_numpy(bool), pairs["score"].to_numpy())
        m = metrics.verification(pairs["score"].to_numpy(), pairs["same"].to_numpy(bool))
        ax.plot(fpr, tpr, label=f"{name}: AUC {m['auc']:.3f}, EER {100 * m['eer']:.1f}%")
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.5)
    ax.set(xlabel="false accept rate", ylabel="true accept rate", xscale="log", xlim=(1e-3, 1),
           title="Verification of unseen people (5 folds, pairs pooled)")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_twin(curves: dict, path) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name, c in curves.items():
        axes[0].plot(c["epoch"], c["numpy_loss"], label=f"NumPy {name}")
        axes[0].plot(c["epoch"], c["torch_loss"], linestyle="--", label=f"PyTorch {name}")
        axes[1].plot(c["epoch"], 100 * c["numpy_test_acc"], label=f"NumPy {name}")
        axes[1].plot(c["epoch"], 100 * c["torch_test_acc"], linestyle="--", label=f"PyTorch {name}")
    axes[0].set(xlabel="epoch", ylabel="training loss", yscale="log", title="NumPy CNN vs PyTorch twin: loss")
    axes[1].set(xlabel="epoch", ylabel="test accuracy, %", title="... and test accuracy (split seed 0)")
    for a in axes:
        a.legend(fontsize=8)
        a.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_montage(predictions: pd.DataFrame, path, title: str) -> None:
    """Every test face of one run with its true and predicted person; errors framed in red."""
    import matplotlib.pyplot as plt

    from experiments.data import load

    faces = load("orl").images
    n = len(predictions)
    cols = 20
    rows_ = -(-n // cols)
    fig, axes = plt.subplots(rows_, cols, figsize=(cols * 0.8, rows_ * 1.15))
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (image, label, predicted) in zip(axes.ravel(), predictions[["image", "label", "predicted"]].to_numpy(int)):
        ok = label == predicted
        ax.imshow(faces[image], cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"s{label + 1}" + ("" if ok else f"->s{predicted + 1}"), fontsize=6,
                     color="black" if ok else "red")
        if not ok:
            ax.axis("on")
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_color("red")
                s.set_linewidth(2)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report(exp, out, specs=None) -> dict:
    """Build every table and plot from the runs in out.table(exp.table); the tables written.

    In results/ only the experiment's declared runs count, all of them whichever subset `specs` just ran (a
    report never shrinks to the runs of one command); in an output folder, every row there.
    """
    from experiments.runner import plan

    rows = read_table(out.table(exp.table))
    if out.official:
        rows = rows[rows["run_id"].isin({s.run_id for s in plan(exp)}) & ~rows["quick"].astype(bool)]
    written = {}
    source = out.shown(out.table(exp.table))
    chosen = (rows["selected_by"].notna() & (rows["selected_by"].astype(str) != "") if "selected_by" in rows
              else pd.Series(False, index=rows.index))
    nested, rows = rows[chosen], rows[~chosen]
    if len(nested):
        written["nested"] = nested_table(out, nested, source)
        write_csv_atomic(written["nested"], out.table("orl_nested"))
        from experiments.faces import openset

        written["openset"] = openset.write(exp, out, nested, source)
    summary = summarise(rows, source)
    if len(summary):
        write_csv_atomic(summary, out.table("orl_summary"))
        written["summary"] = summary
        plot_k(summary[summary["task"] == "identify"], out.root / "orl_k.png")
    if (rows["task"] == "verify").any():
        table, pooled = verification_table(out, rows, source)
        write_csv_atomic(table, out.table("orl_verification"))
        plot_roc(pooled, out.root / "orl_roc.png")
        written["verification"] = table
    rej = rejection_table(out, rows, source)
    if len(rej.columns) > 1:
        write_csv_atomic(rej, out.table("orl_rejection"))
        plot_rejection(rej, out.root / "orl_rejection.png")
        written["rejection"] = rej
    twin = rows[rows["task"] == "twin"]
    if len(twin):
        keep = ["dtype", "seed", "impl", "accuracy", "final_train_loss", "steps", "max_weight_diff",
                "final_weight_diff", "final_state_diff", "seconds", "commit", "numpy_version", "torch_version",
                "python_version", "command", "date"]
        write_csv_atomic(twin[keep], out.table("orl_twin"))
        curves = {dt: read_files(out, g.head(1), "curve") for dt, g in twin.groupby("dtype")}
        plot_twin(curves, out.root / "orl_twin.png")
        written["twin"] = twin[keep]
    first5 = rows[(rows["task"] == "identify") & (rows["method"] == "cnn") & (rows["split"] == "first5")]
    if len(first5):
        r = first5.iloc[-1]
        p = read_files(out, first5.tail(1), "predictions")
        plot_montage(p, out.root / "orl_montage.png", f"NumPy CNN, first 5 / last 5 split: the 200 test faces, "
                     f"true person -> predicted where wrong ({100 * r['accuracy']:.1f}% correct)")
    return written
