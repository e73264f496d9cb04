"""The face CNN's trajectory row of results/equivalence.csv: the NumPy CNN (batch norm, dropout, Nesterov
SGD with weight decay, cosine schedule, shift/flip augmentation) and its PyTorch twin, float64, trained in
lockstep from identical weights on identical batches and dropout masks on ORL (split seed 0), compared
after every step."""

from __future__ import annotations

import time

from experiments.faces import kind
from experiments.faces.engine import differences

SEED = 0
ATOL = 1e-8


def rows(quick: bool = False) -> list[dict]:
    """One row (columns of results/equivalence.csv): max |W_numpy - W_torch| over >= 200 steps (quick: 20)."""
    from experiments.config import get_experiment

    epochs = 2 if quick else 20  # 10 mini-batches of 20 per epoch
    cfg = kind.validate("equivalence", {**get_experiment("orl-faces").runs["twin-float64"], "epochs": epochs})
    t0 = time.perf_counter()
    ne, te, curve, worst = kind.lockstep(cfg, SEED)
    final, stats = differences(ne, te)
    steps = epochs * -(-len(ne.data.X_train) // cfg["batch_size"])
    return [{
        "component": "network:face-cnn", "dtype": "float64", "quantity": "trajectory",
        "case": f"orl-faces/twin-float64 split{SEED} {steps} steps b{cfg['batch_size']} (batchnorm, dropout, "
                f"nesterov+wd, cosine, shift/flip){' QUICK' if quick else ''}",
        "seed": SEED, "max_abs_err": final, "max_rel_err": float("nan"), "rtol": 0.0, "atol": ATOL,
        "tolerance": f"max |W_numpy - W_torch| <= {ATOL:g} after every step",
        "passed": bool(worst <= ATOL and stats <= ATOL),
        "detail": f"max over all steps {worst:.3e}; running statistics at the end {stats:.3e}; final test accuracy "
                  f"numpy {ne.accuracy():.4f} torch {te.accuracy():.4f}; per-epoch max "
                  + " ".join(f"{c['max_weight_diff']:.1e}" for c in curve),
        "seconds": round(time.perf_counter() - t0, 1),
    }]
