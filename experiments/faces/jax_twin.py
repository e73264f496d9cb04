"""The face CNN's JAX twin (framework/jax/) trained in lockstep with the NumPy CNN and its torch twin: the
face equivalence row for frameworks jax and torch-vs-jax (experiments/faces/equivalence.py has torch's).

All three start from identical weights; each step the NumPy engine draws the augmented batch and the
dropout masks, and both twins are handed them (the torch twin through TorchTwinFaces, the JAX twin through
experiments/equivalence/jax_trajectories.JaxTrainer: optax's Nesterov SGD with the weight decay before the
momentum, and the cosine schedule stepped per epoch, as torch's scheduler is).
"""

from __future__ import annotations

import time

import numpy as np

from experiments.equivalence.jax_trajectories import JaxTrainer
from experiments.faces import equivalence as feq
from experiments.faces import kind
from experiments.faces.engine import NumpyFaces, TorchTwinFaces
from experiments.faces.equivalence import SEED
from framework import cnn as twin_cnn

# The JAX rows are held to torch's rows' bound (faces/equivalence.py ATOL, 1e-8). Measured over 200 steps: the
# softmax, CosFace and ArcFace runs stay within 2e-14 (parameters) and 1e-12 (running statistics) of ours and of
# torch; the triplet run (chaotic, faces/equivalence.py's HEADS note) within 7.9e-11 and 2.5e-9.
ATOL = feq.ATOL


class JaxTwinFaces:
    """The JAX twin of a NumpyFaces engine; it follows the NumPy engine's batches and dropout masks."""

    name = "jax"

    def __init__(self, ne: NumpyFaces):
        self.numpy = ne
        r = ne.recipe
        self.trainer = JaxTrainer(ne.model, ne.params, ne.state, r.optimizer, r.schedule, r.lr)

    def step(self, x, labels) -> float:
        return self.trainer.step(x, labels, self.numpy.last_caches)

    def end_epoch(self) -> None:
        self.trainer.schedule_step()


def flat(layers: list[dict], skip=("num_batches_tracked",)) -> np.ndarray:
    parts = [np.asarray(d[k], dtype=np.float64).ravel() for d in layers for k in sorted(d) if k not in skip]
    return np.concatenate(parts) if parts else np.zeros(0)


def snapshot(ne: NumpyFaces, te: TorchTwinFaces, je: JaxTwinFaces) -> dict:
    """{"params": (ours, torch, jax), "state": (...)} as flat vectors."""
    return {"params": (flat(ne.params), flat(twin_cnn.twin_params(te.twin, te.model)), flat(je.trainer.params())),
            "state": (flat(ne.state), flat(twin_cnn.twin_state(te.twin, te.model)), flat(je.trainer.state()))}


def lockstep_engines(ne: NumpyFaces, epochs: int, order_for) -> tuple[dict, int]:
    """Train ne and its two twins side by side for `epochs` (order_for(epoch) the sample order):
    ({(quantity, pair): largest difference after any step}, the number of steps)."""
    te, je = TorchTwinFaces(ne), JaxTwinFaces(ne)
    worst, steps = {}, 0
    for epoch in range(1, epochs + 1):
        lr = ne.lr_at(epoch)
        for xb, yb, rng in ne.batches(order_for(epoch), epoch):
            ne.step(xb, yb, rng, lr)
            te.step(xb, yb)
            je.step(xb, yb)
            steps += 1
            for q, (ours, theirs, mine) in snapshot(ne, te, je).items():
                for pair, a in (("jax", ours), ("torch-vs-jax", theirs)):
                    worst[q, pair] = max(worst.get((q, pair), 0.0), float(np.max(np.abs(a - mine))))
        te.end_epoch()
        je.end_epoch()
    return worst, steps


def lockstep(cfg: dict, seed: int) -> tuple[dict, int]:
    """The run's NumPy CNN (ORL, the run's split and batch sampling) and its twins: lockstep_engines."""
    x, y = kind.load_faces(cfg)
    train, test = kind.identification_indices(cfg, y, seed)
    ne = kind.numpy_engine(cfg, seed, kind.face_data(cfg, x, y, train, test))
    return lockstep_engines(ne, cfg["epochs"], kind.sample_order(cfg, seed, ne.data.y_train))


def head_rows(head: str, quick: bool) -> list[dict]:
    """Two rows (frameworks jax, torch-vs-jax) for one head of faces/equivalence.py's HEADS: max |difference| of
    every parameter (and, in the detail, the running statistics) over >= 200 steps (quick: 20)."""
    epochs = 2 if quick else 20
    cfg = feq.config(head, epochs)
    t0 = time.perf_counter()
    worst, steps = lockstep(cfg, SEED)
    out = []
    for pair in ("jax", "torch-vs-jax"):
        params, stats = worst["params", pair], worst["state", pair]
        out.append({
            "component": "network:face-cnn" + ("" if head == "softmax" else f"-{head}"), "dtype": "float64",
            "quantity": "trajectory", "framework": pair, "case": feq.case_name(head, steps, cfg["batch_size"], quick),
            "seed": SEED, "max_abs_err": params, "max_rel_err": float("nan"), "rtol": 0.0, "atol": ATOL,
            "tolerance": f"max |W_a - W_jax| <= {ATOL:g} after every step",
            "passed": bool(params <= ATOL and stats <= ATOL),
            "detail": f"running statistics: max over all steps {stats:.3e}",
            "seconds": round(time.perf_counter() - t0, 1),
        })
    return out


def rows(quick: bool = False) -> list[dict]:
    """The JAX rows of every head of faces/equivalence.py (softmax, CosFace, ArcFace, triplet)."""
    return [r for head in feq.HEADS for r in head_rows(head, quick)]
