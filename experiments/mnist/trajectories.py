"""Whole training trajectories: the reference and its torch twin from identical initial weights, fed
the same samples in the same order, compared after many steps (quantity "trajectory").

- The study's MLP (seed-mlp's hidden-sigmoid configuration) on MNIST in float64: one full epoch at
  batch size 1 (60,000 steps) and one at batch size 32 (1,875 steps); max |W_numpy - W_torch| is
  recorded at 20 checkpoints and must stay <= 1e-9 at every one.
- The LeNet CNN on MNIST: 200 SGD steps at batch size 16 in float64; every parameter after every
  step, largest difference <= 1e-8 absolute.
- Sensitivity (results/trajectory_sensitivity.csv, not pass/fail): how fast the two drift apart per
  configuration. Where training is chaotic (tanh hidden units at eta = 0.1) rounding differences of
  1e-16 grow exponentially, so two exact implementations end as different networks; with sigmoid
  hidden units the difference stays at ~1e-15.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from experiments.equivalence.check import compare
from framework import cnn as tcnn
from framework.mlp import MLP, train_on_batch
from framework.optim import torch_optimizer
from reference import optim
from reference import sequential as seq
from reference.backprop import backward
from reference.forward import forward
from reference.gradient_descent import fixed_rate_update, mini_batches

MLP_ATOL = 1e-9
CNN_ATOL = 1e-8
SEED = 0  # initial weights and sample order of every trajectory (recorded per row)
MLP_VARIANT = "hidden-sigmoid"  # stable; tanh hidden units at eta = 0.1 are chaotic (see sensitivity)
SENSITIVITY_VARIANTS = ("hidden-sigmoid", "output-sigmoid", "base")


def seed_mlp_config(variant: str) -> dict:
    from experiments.config import get_experiment

    return get_experiment("seed-mlp").runs[variant]


def mlp_trajectory(cfg: dict, dataset, steps: int, batch_size: int, seed: int = 0, every: int = 1000,
                   progress: bool = False):
    """Train the reference (readable path) and the torch twin from identical weights and order.

    dataset: an experiments.data.Dataset (its training split is used). Returns (max weight difference
    at the end, list of (step, max weight difference)).
    """
    from experiments.mnist.mlp import architecture, initial_weights, order_for, prepare, rate

    torch.set_num_threads(1)
    arch = architecture(cfg)
    data = prepare(cfg, dataset)
    W = initial_weights(cfg, seed)
    model = MLP(arch, W)
    Xt, Yt = torch.from_numpy(data.X_train), torch.from_numpy(data.Y_train)
    N = len(data.X_train)
    epochs = -(-steps * batch_size // N)
    order = np.concatenate([order_for(seed, e, N, cfg["shuffle"]) for e in range(1, 1 + epochs)])
    eta = rate(cfg)
    history = []
    for k, idx in enumerate(mini_batches(order[: steps * batch_size], batch_size), start=1):
        _, cache = forward(arch, W, data.X_train[idx], check=False)
        _, G = backward(arch, W, cache, data.Y_train[idx], check=False)
        W = fixed_rate_update(W, G, eta)
        train_on_batch(model, Xt[idx], Yt[idx], eta)
        if k % every == 0 or k == steps:
            Wt = model.weights()
            history.append((k, max(float(np.abs(W[l] - Wt[l]).max()) for l in range(1, arch.L + 1))))
            if progress:
                print(f"  step {k}/{steps}: max |W_numpy - W_torch| = {history[-1][1]:.3e}", flush=True)
    return history[-1][1], history


def flat_params(params: list[dict]) -> np.ndarray:
    """Every parameter in one vector (layer order, keys sorted)."""
    return np.concatenate([p[k].ravel() for p in params for k in sorted(p)])


def cnn_batches(seed: int, n: int, steps: int, batch_size: int):
    """The first `steps` mini-batches: epoch e's permutation (experiments.mnist.cnn.order_for) cut in order."""
    from experiments.train import order_for

    done, epoch = 0, 1
    while True:
        perm = order_for(seed, epoch, n)
        for i in range(0, n, batch_size):
            if done == steps:
                return
            yield perm[i:i + batch_size]
            done += 1
        epoch += 1


def cnn_trajectory(steps: int = 200, batch_size: int = 16, lr: float = 0.05, seed: int = 0,
                   dtype=np.float64, hidden: int | None = None, data=None, states: bool = False):
    """Per-step max |ours - twin| over all parameters while both train on the same MNIST batches.

    Returns an array of length steps + 1 (entry 0: after copying the initial weights); with
    states=True also both parameter trajectories, (steps + 1, P) each.
    `data` = (X, y) overrides MNIST (standardised images, labels).
    """
    from experiments.mnist.equivalence_cnn import mnist_images

    X, y = mnist_images(dtype) if data is None else data
    model = seq.lenet(hidden)
    params, state = model.init(seed, dtype)
    twin = tcnn.build_twin(model, params)
    sgd = optim.SGD()
    opt_state, torch_sgd = sgd.init(params), torch_optimizer(sgd, twin, lr)
    ours, theirs = [flat_params(params)], [flat_params(tcnn.twin_params(twin, model))]
    for idx in cnn_batches(seed, X.shape[0], steps, batch_size):
        _, grads, _, state = model.loss_and_grads(X[idx], y[idx], params, state)
        opt_state = sgd.step(params, grads, opt_state, lr)
        tcnn.loss_and_grads(twin, model, X[idx], y[idx])
        torch_sgd.step()
        ours.append(flat_params(params))
        theirs.append(flat_params(tcnn.twin_params(twin, model)))
    ours, theirs = np.array(ours), np.array(theirs)
    diffs = np.abs(ours - theirs).max(axis=1)
    return (diffs, ours, theirs) if states else diffs


def mlp_rows(dataset, quick: bool) -> list[dict]:
    cfg = seed_mlp_config(MLP_VARIANT)
    rows = []
    for batch_size, steps in ([(1, 500), (32, 50)] if quick else [(1, 60000), (32, 1875)]):
        t0 = time.perf_counter()
        print(f"trajectory: batch size {batch_size}, {steps} steps{' (quick)' if quick else ''}", flush=True)
        final, history = mlp_trajectory(cfg, dataset, steps, batch_size, seed=SEED, every=max(steps // 20, 1),
                                        progress=True)
        worst = max(h[1] for h in history)
        rows.append({
            "component": "network:784-128-64-10", "dtype": "float64", "quantity": "trajectory",
            "case": f"seed-mlp/{MLP_VARIANT} batch{batch_size} steps{steps}{' QUICK' if quick else ''}", "seed": SEED,
            "max_abs_err": final, "max_rel_err": float("nan"), "rtol": 0.0, "atol": MLP_ATOL,
            "tolerance": f"max |W_numpy - W_torch| <= {MLP_ATOL:g} at every recorded step",
            "passed": bool(worst <= MLP_ATOL),
            "detail": f"max over {len(history)} checkpoints {worst:.3e}; "
                      + " ".join(f"{k}:{v:.1e}" for k, v in history),
            "seconds": round(time.perf_counter() - t0, 1),
        })
    return rows


def cnn_rows(quick: bool) -> list[dict]:
    steps = 20 if quick else 200
    diffs, ours, theirs = cnn_trajectory(steps=steps, batch_size=16, seed=SEED, states=True)
    row = compare("cnn", f"lenet_mnist_sgd_{steps}steps_b16_lr0.05", "trajectory", ours, theirs,
                  dtype=np.float64, rtol=0.0, atol=CNN_ATOL)
    row["tolerance"] += (f" for every parameter after every step; largest difference at the last step "
                         f"{diffs[-1]:.3g}")
    row["seed"] = SEED
    return [row]


def rows(quick: bool = False) -> list[dict]:
    """The trajectory rows of results/equivalence.csv (quick: a few hundred steps, labelled QUICK)."""
    from experiments.data import load

    return cnn_rows(quick) + mlp_rows(load("mnist"), quick)


def sensitivity_rows(steps: int = 8000, every: int = 500) -> list[dict]:
    """max |W_numpy - W_torch| every `every` steps at batch size 1, per configuration (module docstring)."""
    from experiments.data import load

    mnist = load("mnist")
    rows = []
    for variant in SENSITIVITY_VARIANTS:
        cfg = seed_mlp_config(variant)
        print(f"sensitivity: {variant}, {steps} steps at batch size 1", flush=True)
        _, history = mlp_trajectory(cfg, mnist, steps, 1, seed=SEED, every=every)
        rows += [{"variant": variant, "hidden": cfg["hidden"], "output": cfg["output"], "loss": cfg["loss"],
                  "lr": cfg["lr"], "seed": SEED, "step": k, "max_abs_weight_diff_numpy_vs_torch": v}
                 for k, v in history]
    return rows


def extra_tables() -> dict:
    """The full equivalence run's extra table: how the MLP's NumPy-vs-torch difference grows with steps."""
    return {"trajectory_sensitivity": sensitivity_rows()}
