"""The face CNN's trajectory rows of results/equivalence.csv: the NumPy CNN (batch norm, dropout, Nesterov
SGD with weight decay, cosine schedule, shift/flip augmentation) and its PyTorch twin, float64, trained in
lockstep from identical weights on identical batches and dropout masks on ORL (split seed 0), compared
after every step.

One row per head: the softmax network of the twin-float64 variant, and the same run with the head of a
verification variant (its embedding width, batch sampling and the head's own settings): CosFace's margin softmax
(verify-cnn-cosface), ArcFace's additive angular margin (verify-cnn-arcface) and the batch-hard triplet loss in
person-balanced batches (verify-cnn-triplet; its network learns no classes, so its accuracy is NaN). The torch
side trains with the twin of the model's own loss (framework/tables.py TORCH_LOSSES)."""

from __future__ import annotations

import time

from experiments.faces import kind
from experiments.faces.engine import differences

SEED = 0
ATOL = 1e-8
# head -> (its variant, settings changed for the trajectory). The triplet run at the recipe's lr 0.05 is chaotic:
# rounding differences grow ~1.3x a step, from the twin as from a 1e-15 perturbation of the NumPy run itself
# (after 80 steps: twin 3.9e-11, NumPy vs perturbed NumPy 1.3e-10), past 1e-8 by step ~85; at lr 0.01 they
# stay near 1e-10 over 200 steps (the rule of experiments/equivalence/layers.py's trajectories).
HEADS = {"softmax": (None, {}), "cosface": ("verify-cnn-cosface", {}), "arcface": ("verify-cnn-arcface", {}),
         "triplet": ("verify-cnn-triplet", {"lr": 0.01})}
DETAIL = "batchnorm, dropout, nesterov+wd, cosine, shift/flip"


def head_settings(head: str) -> dict:
    """The head, embedding width, batch sampling and the head's own settings of its variant of orl-faces, and
    the trajectory's own changes ({} for softmax)."""
    variant, changes = HEADS[head]
    if variant is None:
        return dict(changes)
    from experiments.config import get_experiment

    run = get_experiment("orl-faces").runs[variant]
    mine = {k: v for k, v in run.items() if k in ("head", "embed", "images_per_person") or kind.HEAD_KEYS.get(k)
            == run["head"]}
    return {**kind.KIND.identity(mine), **changes}  # images_per_person only where it is not the plain shuffle


def config(head: str, epochs: int) -> dict:
    """twin-float64 with `epochs` epochs and the head of HEADS[head]."""
    from experiments.config import get_experiment

    run = {**get_experiment("orl-faces").runs["twin-float64"], "epochs": epochs, **head_settings(head)}
    return kind.validate("equivalence", run)


def case_name(head: str, steps: int, batch_size: int, quick: bool) -> str:
    """The row's case: the variant, the head's settings, split, steps and batch size (softmax: as first recorded)."""
    settings = "".join(f" {k}={v}" for k, v in head_settings(head).items())
    return (f"orl-faces/twin-float64{settings} split{SEED} {steps} steps b{batch_size} ({DETAIL})"
            f"{' QUICK' if quick else ''}")


def trajectory_row(head: str, quick: bool) -> dict:
    """max |W_numpy - W_torch| over >= 200 steps (quick: 20) of the twin-float64 run with `head`."""
    epochs = 2 if quick else 20  # 10 mini-batches of 20 per epoch
    cfg = config(head, epochs)
    t0 = time.perf_counter()
    ne, te, curve, worst = kind.lockstep(cfg, SEED)
    final, stats = differences(ne, te)
    steps = epochs * -(-len(ne.data.X_train) // cfg["batch_size"])
    return {
        "component": "network:face-cnn" + ("" if head == "softmax" else f"-{head}"), "dtype": "float64",
        "quantity": "trajectory", "case": case_name(head, steps, cfg["batch_size"], quick),
        "seed": SEED, "max_abs_err": final, "max_rel_err": float("nan"), "rtol": 0.0, "atol": ATOL,
        "tolerance": f"max |W_numpy - W_torch| <= {ATOL:g} after every step",
        "passed": bool(worst <= ATOL and stats <= ATOL),
        "detail": f"max over all steps {worst:.3e}; running statistics at the end {stats:.3e}; final test accuracy "
                  f"numpy {ne.accuracy():.4f} torch {te.accuracy():.4f}; per-epoch max "
                  + " ".join(f"{c['max_weight_diff']:.1e}" for c in curve),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def rows(quick: bool = False) -> list[dict]:
    """One trajectory row per head (columns of results/equivalence.csv)."""
    return [trajectory_row(head, quick) for head in HEADS]
