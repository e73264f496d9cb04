"""Whole training trajectories, three ways: the reference, its torch twin and its JAX twin (framework/jax/)
start from identical weights and see identical batches and dropout masks (the reference draws them, both
twins are handed them), compared after every step (quantity "trajectory", frameworks jax and torch-vs-jax).

- The three optimizer runs of experiments/equivalence/layers.py (TRAJECTORIES: SGD with Nesterov momentum
  and weight decay under StepLR, Adam with coupled decay under ExponentialLR, AdamW under the cosine
  schedule) on the small CNN with batch normalisation and dropout, 500 steps at batch size 8, float64: the
  JAX side is optax (framework/jax/optim.py) with the step's rate from the optax schedule. Every parameter,
  the running statistics and the optimizer's buffers after every step, tolerance 1e-9 absolute.
(LeNet on MNIST: experiments/mnist/jax_equivalence.py; the face CNN: experiments/faces/jax_twin.py.)
"""

from __future__ import annotations

import numpy as np
import torch

from experiments.equivalence import layers
from experiments.equivalence.check import compare
from experiments.equivalence.layers import TRAJ_ATOL, batch_indices, flat, flat_opt_state, small_bn_cnn, teacher_data
from framework import cnn as tcnn
from framework.jax import sequential as jseq
from framework.jax.optim import JaxOptimizer, buffers, optax_schedule
from framework.optim import optimizer_state, torch_optimizer, torch_scheduler
from reference import sequential as seq

SIDES = ("ours", "torch", "jax")


class JaxTrainer:
    """A JAX twin of a reference model trained by the optax twin of a reference optimizer and schedule."""

    def __init__(self, model: seq.Sequential, params: list, state: list, opt, schedule, lr: float):
        self.twin = jseq.build_twin(model, params, state)
        self.opt = JaxOptimizer(opt, self.twin.params)
        self.rate = optax_schedule(schedule, lr)
        self.t = 0  # scheduler steps taken

    def step(self, x, labels, caches) -> float:
        """One optax step on (x, labels) with the dropout masks of the reference pass that made `caches`."""
        shared = jseq.share_randomness(self.twin, caches)
        result, grads, state = jseq.loss_and_grads(self.twin, x, labels, train=True, shared=shared)
        params = self.opt.step(self.twin.params, grads, float(self.rate(self.t)))
        self.twin = self.twin._replace(params=params, state=state)
        return result.loss

    def schedule_step(self) -> None:
        self.t += 1

    def params(self) -> list[dict]:
        return jseq.read(self.twin, self.twin.params)

    def state(self) -> list[dict]:
        return jseq.read_state(self.twin, self.twin.state)

    def opt_state(self) -> dict:
        """optax's buffers as the reference's opt_state {"step", "slots"}."""
        b = buffers(self.opt)
        per_buffer = {n: jseq.read(self.twin, tree) for n, tree in b.buffers.items()}
        slots = [{key: {n: per_buffer[n][i][key] for n in per_buffer} for key in layer}
                 for i, layer in enumerate(self.params())]
        return {"step": b.step, "slots": slots}


def optimizer_trajectory(case: layers.TrajectoryCase, steps: int = 500, batch_size: int = 8, seed: int = 0) -> dict:
    """layers.trajectory three ways: {quantity: (ours, torch, jax)} with (steps + 1, .) arrays per side."""
    torch.set_num_threads(1)
    X, labels = teacher_data(seed=seed)
    model = small_bn_cnn()
    params, state = model.init(seed, np.float64)
    twin = tcnn.build_twin(model, params, state)
    jt = JaxTrainer(model, params, state, case.opt, case.schedule, case.lr)
    opt_state = case.opt.init(params)
    t_opt = torch_optimizer(case.opt, twin, case.lr)
    t_sched = torch_scheduler(case.schedule, t_opt)
    masks, order = np.random.default_rng(seed + 1), np.random.default_rng(seed + 2)
    rec = {q: ([], [], []) for q in ("params", "state", "opt_state")}

    def record(sides):
        for q, values in sides.items():
            for store, v in zip(rec[q], values):
                store.append(v)

    record({"params": (flat(params), flat(tcnn.twin_params(twin, model)), flat(jt.params())),
            "state": (flat(state), flat(tcnn.twin_state(twin, model)), flat(jt.state()))})
    for t, idx in zip(range(steps), batch_indices(order, len(X), batch_size)):
        state, opt_state, caches = layers.lockstep_step(case, model, twin, (t_opt, t_sched), X[idx], labels[idx], t,
                                                        params, state, opt_state, masks)
        jt.step(X[idx], labels[idx], caches)
        jt.schedule_step()
        j_opt = jt.opt_state()
        if j_opt["step"] != opt_state["step"]:
            raise AssertionError(f"{case.name}: optax's step count {j_opt['step']} != ours {opt_state['step']}")
        record({"params": (flat(params), flat(tcnn.twin_params(twin, model)), flat(jt.params())),
                "state": (flat(state), flat(tcnn.twin_state(twin, model)), flat(jt.state())),
                "opt_state": (flat_opt_state(opt_state), flat_opt_state(optimizer_state(t_opt, twin, model)),
                              flat_opt_state(j_opt))})
    out = {q: tuple(np.array(a) for a in sides) for q, sides in rec.items()}
    twin.eval()
    with torch.no_grad():
        out["eval output"] = (model.forward(X[:32], params, state, train=False)[0],
                              twin(torch.from_numpy(X[:32])).numpy(), jseq.predict_logits(jt.twin, X[:32]))
    return out


PAIRS = (("jax", 0, 2), ("torch-vs-jax", 1, 2))  # (framework, the side compared, the JAX side)


def trajectory_rows(component: str, name: str, res: dict, labels: dict, atol: float, seed: int) -> list[dict]:
    """One row per quantity and pair: the largest difference over every value after every step."""
    rows = []
    for framework, a, b in PAIRS:
        for q, label in labels.items():
            sides = res[q]
            row = compare(component, name, label, sides[a], sides[b], dtype=np.float64, rtol=0.0, atol=atol)
            last = float(np.max(np.abs(sides[a][-1] - sides[b][-1]))) if sides[a].size else 0.0
            row["tolerance"] += f" for every value after every step; largest difference at the last step {last:.3g}"
            rows.append({**row, "seed": seed, "framework": framework})
        if "eval output" in res:
            e = res["eval output"]
            row = compare(component, name, "eval output after training", e[a], e[b], dtype=np.float64)
            rows.append({**row, "seed": seed, "framework": framework})
    return rows


OPT_LABELS = {"params": "trajectory", "state": "trajectory running statistics",
              "opt_state": "trajectory optimizer state"}


def optimizer_rows(quick: bool = False, seed: int = 0) -> list[dict]:
    steps = 30 if quick else 500
    return [r for case in layers.TRAJECTORIES
            for r in trajectory_rows("cnn+batchnorm+dropout", f"small_bn_dropout_cnn_{case.name}_{steps}steps_b8",
                                     optimizer_trajectory(case, steps, seed=seed), OPT_LABELS, TRAJ_ATOL, seed)]


def rows(quick: bool = False) -> list[dict]:
    return optimizer_rows(quick)
