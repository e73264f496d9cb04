"""Equivalence rows of whole models with batch normalisation and dropout, running statistics over many
steps, optimizers and schedules (results/equivalence.csv). The single layers (batch normalisation,
dropout and every other) are lines of the layer table, experiments/equivalence/cases.py.

The whole model (small_bn_cnn below), train and eval mode: output, loss, every parameter gradient
and the new running statistics against the twin, and in float64 every parameter gradient against
central differences of the loss (case "small_bn_dropout_cnn_n6_<mode>").

Running statistics: 50 train-mode passes on fresh random batches, then the state and an eval-mode
output, against torch's buffers (case "..._50steps").

Trajectories (quantity "trajectory"): a small CNN with batch normalisation and dropout
(small_bn_cnn: conv, ReLU, BatchNorm2d, max-pool, flatten, dropout, dense, tanh, BatchNorm1d,
dropout, dense) and its twin start from identical weights and see identical batches and dropout
masks (the reference draws them, the twin is handed them) for 500 steps in float64, with
SGD (momentum, nesterov, weight decay) under StepLR, Adam under ExponentialLR and AdamW under
CosineAnnealingLR, each the reference's (reference/optim.py, schedules.py) against torch.optim's
optimizer and torch.optim.lr_scheduler's scheduler. Three rows per run compare every parameter,
the running statistics and the optimizer state (step count, momentum buffers, Adam's moments)
after every step: max_abs_err is the largest difference over all steps, tolerance 1e-9 absolute.
The learning rates keep training out of the chaotic regime (too large a step with momentum), where
rounding differences between any two correct implementations grow exponentially.

Tolerances as experiments/equivalence/check.py: float64 rtol 1e-10 / atol 1e-12; float32
assert_close's (1.3e-6, 1e-5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from experiments.equivalence.check import central_difference, central_rows, compare
from experiments.equivalence.layer_check import Case, randomised_layer, state_quantities
from framework import cnn as tcnn
from framework.cnn import torch_dtype
from framework.layers import twin_of
from framework.optim import optimizer_state, torch_optimizer, torch_scheduler
from reference import optim, schedules
from reference import sequential as seq

TRAJ_ATOL = 1e-9
DTYPES = (np.float64, np.float32)


def running_stats_after(layer, x_shape, steps: int = 50, dtype=np.float64, seed: int = 0) -> tuple[dict, dict]:
    """State and an eval-mode output after `steps` train-mode passes on fresh batches: ours, torch's."""
    rng = np.random.default_rng(seed)
    params, state = randomised_layer(layer, dtype, rng)
    twin = twin_of(layer)
    m = twin.build(layer, params, state, torch_dtype(dtype))
    for _ in range(steps):
        x = rng.normal(rng.uniform(-2, 2), rng.uniform(0.5, 3), size=x_shape).astype(dtype)
        _, _, state = layer.forward(x, params, state, train=True)
        m(torch.from_numpy(x))
    x = rng.normal(size=x_shape).astype(dtype)
    m.eval()
    with torch.no_grad():
        y_t = m(torch.from_numpy(x)).numpy()
    ours = {**state_quantities(state), "eval output": layer.forward(x, params, state, train=False)[0]}
    return ours, {**state_quantities(twin.read_state(m)), "eval output": y_t}


RUNNING_CASES = (
    (seq.BatchNorm2d(5, name="batchnorm2d"), (7, 5, 3, 4)),
    (seq.BatchNorm1d(5, momentum=None, name="batchnorm1d"), (7, 5)),
    (seq.BatchNorm1d(1, momentum=0.3, affine=False, name="batchnorm1d"), (2, 1)),
)


def small_bn_cnn(input_shape=(1, 10, 10), classes: int = 5, p: float = 0.25) -> seq.Sequential:
    """conv 3x3, ReLU, BatchNorm2d, max-pool 2, flatten, dropout, dense 16, tanh, BatchNorm1d, dropout, dense.

    Normalisation follows the activation: a bias right before batch normalisation has gradient 0
    mathematically, so its computed gradient is rounding noise, which Adam scales up to full-size
    steps (m / sqrt(v)), and two correct implementations then diverge on that parameter.
    """
    c, h, w = input_shape
    width = 4 * ((h - 2) // 2) * ((w - 2) // 2)
    return seq.Sequential((
        seq.Conv2d(c, 4, 3, name="conv1"), seq.Activation("relu", name="relu1"), seq.BatchNorm2d(4, name="bn1"),
        seq.MaxPool2d(2, name="pool1"), seq.Flatten(name="flatten"), seq.Dropout(p, name="drop1"),
        seq.Dense(width, 16, name="dense1"), seq.Activation("tanh", name="tanh2"), seq.BatchNorm1d(16, name="bn2"),
        seq.Dropout(p, name="drop2"), seq.Dense(16, classes, gain=1.0, name="dense2"),
    ))


def randomised_model(model: seq.Sequential, dtype, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """model.init(seed) with every weight and bias perturbed by N(0, 0.1^2) and batch normalisation's
    gamma, beta and running statistics random (randomised_layer): no zeros, no symmetry."""
    rng = np.random.default_rng(seed + 1000)
    params, state = model.init(seed, dtype)
    for i, layer in enumerate(model.layers):
        if isinstance(layer, seq.BatchNorm):
            params[i], state[i] = randomised_layer(layer, dtype, rng)
        else:
            params[i] = {k: (v + 0.1 * rng.normal(size=v.shape)).astype(dtype) for k, v in params[i].items()}
    return params, state


def model_quantities(result: seq.LossAndGrads, model: seq.Sequential) -> dict:
    out = {"output": result.s_L, "loss": np.array([result.loss])}
    for layer, g, st in zip(model.layers, result.grads, result.state):
        out.update({f"grad {layer.name}.{k}": v for k, v in g.items()})
        out.update({f"{layer.name} {q}": v for q, v in state_quantities(st).items()})
    return out


def model_rows(dtype, train: bool, n: int = 6, seed: int = 0) -> list[dict]:
    """small_bn_cnn on n teacher images in one mode: output, loss, every parameter gradient and the new
    running statistics against the twin (dropout masks shared), and in float64 the gradients against
    central differences of the loss (the same masks at every evaluation)."""
    model = small_bn_cnn()
    params, state = randomised_model(model, dtype, seed)
    X, labels = teacher_data(n, seed=seed)
    X = X.astype(dtype)
    r, caches = model.forward_backward(X, labels, params, state, train=train, rng=np.random.default_rng(seed + 1))
    twin = tcnn.build_twin(model, params, state)
    twin.train(train)
    tcnn.share_randomness(twin, model, caches)
    ours, theirs = model_quantities(r, model), model_quantities(tcnn.loss_and_grads(twin, model, X, labels), model)
    case = f"small_bn_dropout_cnn_n{n}_{'train' if train else 'eval'}"
    rows = [compare("cnn+batchnorm+dropout", case, q, ours[q], theirs[q], dtype=dtype, depth=len(model.layers))
            for q in theirs]
    if np.dtype(dtype) == np.float64:
        def f():
            return model.loss_and_grads(X, labels, params, state, train=train, rng=np.random.default_rng(seed + 1)).loss

        cd = {f"grad {layer.name}.{k}": central_difference(f, p[k])
              for layer, p in zip(model.layers, params) for k in p}
        rows += central_rows("cnn+batchnorm+dropout", case, ours, cd, abs(r.loss))
    return rows


@dataclass(frozen=True)
class TrajectoryCase:
    name: str
    opt: object
    schedule: object
    lr: float


TRAJECTORIES = (
    TrajectoryCase("sgd_lr0.01_momentum0.9_nesterov_wd1e-3_steplr100x0.5",
                   optim.SGD(momentum=0.9, nesterov=True, weight_decay=1e-3), schedules.StepLR(100, 0.5), 0.01),
    TrajectoryCase("adam_lr3e-3_wd1e-4_exponentiallr0.995", optim.Adam(weight_decay=1e-4),
                   schedules.ExponentialLR(0.995), 3e-3),
    TrajectoryCase("adamw_lr3e-3_betas0.8x0.99_wd0.05_cosine500", optim.AdamW(betas=(0.8, 0.99), weight_decay=0.05),
                   schedules.CosineAnnealingLR(500, 1e-4), 3e-3),
)


def teacher_data(n: int = 256, input_shape=(1, 10, 10), classes: int = 5, seed: int = 0):
    """Random images labelled by a random linear teacher (learnable, unlike random labels)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n,) + tuple(input_shape))
    labels = np.argmax(X.reshape(n, -1) @ rng.normal(size=(X[0].size, classes)), axis=1)
    return X, labels


def batch_indices(rng: np.random.Generator, n: int, batch_size: int):
    """Mini-batches of sample indices, endlessly: a fresh permutation of 0..n-1 per epoch, cut in order."""
    while True:
        perm = rng.permutation(n)
        for i in range(0, n - batch_size + 1, batch_size):
            yield perm[i:i + batch_size]


def flat(arrays: list[dict]) -> np.ndarray:
    """Every array of a list of dicts in one vector (list order, keys sorted)."""
    parts = [np.asarray(d[k], dtype=np.float64).reshape(-1) for d in arrays for k in sorted(d)]
    return np.concatenate(parts) if parts else np.zeros(0)


def flat_opt_state(opt_state: dict) -> np.ndarray:
    slots = [{f"{key} {n}": v for key, buffers in layer.items() for n, v in buffers.items()}
             for layer in opt_state["slots"]]
    return flat(slots)


def lockstep_step(case, model, twin, torch_opt, x, labels, t, params, state, opt_state, masks) -> tuple:
    """Step t of a lockstep trajectory: the reference model and optimizer (params updated in place), then the
    twin with the reference's dropout masks and torch.optim; (new state, new optimizer state, the caches)."""
    r, caches = model.forward_backward(x, labels, params, state, train=True, rng=masks)
    opt_state = case.opt.step(params, r.grads, opt_state, case.schedule(case.lr, t))
    tcnn.share_randomness(twin, model, caches)
    tcnn.loss_and_grads(twin, model, x, labels)
    for stepper in torch_opt:  # the optimizer, then its scheduler
        stepper.step()
    return r.state, opt_state, caches


def trajectory(case: TrajectoryCase, steps: int = 500, batch_size: int = 8, seed: int = 0) -> dict:
    """Train the reference small_bn_cnn and its twin side by side; (steps + 1, .) arrays per side of
    every parameter, the running statistics and the optimizer state (after each step), float64."""
    torch.set_num_threads(1)  # tiny tensors: extra threads only add synchronisation
    X, labels = teacher_data(seed=seed)
    model = small_bn_cnn()
    params, state = model.init(seed, np.float64)
    twin = tcnn.build_twin(model, params, state)
    opt_state = case.opt.init(params)
    t_opt = torch_optimizer(case.opt, twin, case.lr)
    t_sched = torch_scheduler(case.schedule, t_opt)
    masks = np.random.default_rng(seed + 1)
    order = np.random.default_rng(seed + 2)
    rec = {q: ([], []) for q in ("params", "state", "opt_state")}

    def record(tp, ts, tos):
        pairs = [("params", flat(params), flat(tp)), ("state", flat(state), flat(ts))]
        if tos is not None:  # no optimizer buffers exist before the first step
            pairs.append(("opt_state", flat_opt_state(opt_state), flat_opt_state(tos)))
        for q, ours, theirs in pairs:
            rec[q][0].append(ours)
            rec[q][1].append(theirs)

    record(tcnn.twin_params(twin, model), tcnn.twin_state(twin, model), None)
    for t, idx in zip(range(steps), batch_indices(order, len(X), batch_size)):
        state, opt_state, caches = lockstep_step(case, model, twin, (t_opt, t_sched), X[idx], labels[idx], t,
                                                 params, state, opt_state, masks)
        tos = optimizer_state(t_opt, twin, model)
        if tos["step"] not in (None, opt_state["step"]):
            raise AssertionError(f"{case.name}: torch's step count {tos['step']} != ours {opt_state['step']}")
        record(tcnn.twin_params(twin, model), tcnn.twin_state(twin, model), tos)
    out = {q: (np.array(a), np.array(b)) for q, (a, b) in rec.items()}
    twin.eval()
    with torch.no_grad():
        out["eval output"] = (model.forward(X[:32], params, state, train=False)[0],
                              twin(torch.from_numpy(X[:32])).numpy())
    return out


def trajectory_rows(case: TrajectoryCase, steps: int = 500, seed: int = 0) -> list[dict]:
    res = trajectory(case, steps=steps, seed=seed)
    name = f"small_bn_dropout_cnn_{case.name}_{steps}steps_b8"
    rows = []
    for q, label in (("params", "trajectory"), ("state", "trajectory running statistics"),
                     ("opt_state", "trajectory optimizer state")):
        ours, theirs = res[q]
        row = compare("cnn+batchnorm+dropout", name, label, ours, theirs, dtype=np.float64, rtol=0.0, atol=TRAJ_ATOL)
        row["tolerance"] += (f" for every value after every step; largest difference at the last step "
                             f"{float(np.max(np.abs(ours[-1] - theirs[-1]))) if ours.size else 0.0:.3g}")
        row["seed"] = seed
        rows.append(row)
    rows.append(compare("cnn+batchnorm+dropout", name, "eval output after training", *res["eval output"],
                        dtype=np.float64))
    rows[-1]["seed"] = seed
    return rows


def rows(quick: bool = False) -> list[dict]:
    """Every row of this module for results/equivalence.csv (quick: fewer cases, 30-step trajectories)."""
    out = []
    for dtype in DTYPES:
        for layer, shape in RUNNING_CASES[:1] if quick else RUNNING_CASES:
            ours, theirs = running_stats_after(layer, shape, dtype=dtype)
            name = Case(layer, shape, train=True).name + "_50steps"
            out += [compare(type(layer).__name__.lower(), name, q, ours[q], theirs[q], dtype=dtype) for q in theirs]
        for train in (True, False):
            out += model_rows(dtype, train)
    for case in TRAJECTORIES:
        out += trajectory_rows(case, steps=30 if quick else 500)
    return out
