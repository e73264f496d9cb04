"""The face CNN's trajectory rows of results/equivalence.csv: the NumPy CNN (batch norm, dropout, Nesterov
SGD with weight decay, cosine schedule, shift/flip augmentation) and its PyTorch twin, float64, trained in
lockstep from identical weights on identical batches and dropout masks on ORL (split seed 0), compared
after every step.

One row per head: the softmax network of the twin-float64 variant, and the same run with the head of a
verification variant (its embedding width and the head's own settings): CosFace's margin softmax
(verify-cnn-cosface) and ArcFace's additive angular margin (verify-cnn-arcface). The torch side trains with
the twin of the model's own loss (framework/tables.py TORCH_LOSSES)."""

from __future__ import annotations

import time

from experiments.faces import kind
from experiments.faces.engine import differences

SEED = 0
ATOL = 1e-8
HEADS = {"softmax": None, "cosface": "verify-cnn-cosface", "arcface": "verify-cnn-arcface"}  # head -> its variant
DETAIL = "batchnorm, dropout, nesterov+wd, cosine, shift/flip"


def head_settings(variant: str | None) -> dict:
    """The head, embedding width and the head's own settings of a variant of orl-faces ({} for none)."""
    if variant is None:
        return {}
    from experiments.config import get_experiment

    run = get_experiment("orl-faces").runs[variant]
    return {k: v for k, v in run.items() if k in ("head", "embed") or kind.HEAD_KEYS.get(k) == run["head"]}


def config(head: str, epochs: int) -> dict:
    """twin-float64 with `epochs` epochs and the head of HEADS[head]."""
    from experiments.config import get_experiment

    run = {**get_experiment("orl-faces").runs["twin-float64"], "epochs": epochs, **head_settings(HEADS[head])}
    return kind.validate("equivalence", run)


def trajectory_row(head: str, quick: bool) -> dict:
    """max |W_numpy - W_torch| over >= 200 steps (quick: 20) of the twin-float64 run with `head`."""
    epochs = 2 if quick else 20  # 10 mini-batches of 20 per epoch
    cfg = config(head, epochs)
    t0 = time.perf_counter()
    ne, te, curve, worst = kind.lockstep(cfg, SEED)
    final, stats = differences(ne, te)
    steps = epochs * -(-len(ne.data.X_train) // cfg["batch_size"])
    settings = "" if head == "softmax" else " " + " ".join(f"{k}={v}" for k, v in head_settings(HEADS[head]).items())
    return {
        "component": "network:face-cnn" + ("" if head == "softmax" else f"-{head}"), "dtype": "float64",
        "quantity": "trajectory",
        "case": f"orl-faces/twin-float64{settings} split{SEED} {steps} steps b{cfg['batch_size']} ({DETAIL})"
                f"{' QUICK' if quick else ''}",
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
