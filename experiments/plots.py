"""Plots shared by the reports."""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.provenance import ROOT

STUDY_ACC = 0.9427


def plot_curves(df: pd.DataFrame, path, title: str, label_of) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5.5))
    labelled = label_of(df)
    colours = plt.get_cmap("tab20" if len(labelled) > 10 else "tab10")
    for i, (label, curves) in enumerate(labelled.items()):
        frames = [pd.read_csv(ROOT / c) for c in curves if (ROOT / c).exists()]
        if not frames:
            continue
        n = min(len(f) for f in frames)
        acc = np.mean([f["test_acc"].values[:n] for f in frames], axis=0)
        ax.plot(np.arange(1, n + 1), 100 * acc, label=f"{label} (n={len(frames)})", color=colours(i % colours.N),
                lw=1.2)
    ax.axhline(100 * STUDY_ACC, color="k", ls="--", lw=1, label="study: 94.27%")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(80, 100)
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
