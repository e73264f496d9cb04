"""The MNIST family's JAX rows of results/equivalence.csv (frameworks jax and torch-vs-jax): the whole CNNs of
equivalence_cnn.py (LeNet on real MNIST images, raw and jittered; the small CNN with every layer kind, with
central differences) and the LeNet trajectory of trajectories.py (200 plain SGD steps at batch size 16,
tolerance 1e-8 absolute as there), each against the JAX twin (framework/jax/) and torch's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments.equivalence.jax_check import NEW_FRAMEWORKS, Quantities, four_way
from experiments.equivalence.jax_trajectories import JaxTrainer, trajectory_rows
from experiments.mnist import equivalence_cnn as cnn
from experiments.mnist.equivalence_cnn import mnist_images
from experiments.mnist.trajectories import CNN_ATOL
from framework import cnn as tcnn
from framework.jax import sequential as jseq
from framework.jax.tables import jax_loss
from framework.optim import torch_optimizer
from reference import optim, schedules
from reference import sequential as seq

# ---------------------------------------------------------------------------------------------

def cnn_jax(model: seq.Sequential, params: list[dict], x: np.ndarray, labels: np.ndarray) -> dict:
    """cnn.cnn_ours' quantities from the JAX twin: s[L], E_in, dE_in/dx and every parameter gradient."""
    jt = jseq.build_twin(model, params)
    y = jnp.asarray(seq.one_hot(labels, model.forward(x[:1], params, cnn.no_state(model), train=True)[0].shape[1],
                                x.dtype))

    def E(p, x):
        s_L, _ = jseq.forward(jt.applies, p, jt.state, x, True, jseq.no_randomness(jt))
        return jax_loss(jseq.model_loss(model), s_L, s_L, y), s_L

    grad = jax.jit(jax.value_and_grad(E, argnums=(0, 1), has_aux=True))
    (E_in, s_L), (g_params, g_x) = grad(jt.params, jnp.asarray(x))
    out = {"output": np.asarray(s_L), "loss": np.array([float(E_in)]), "input_grad": np.asarray(g_x)}
    for layer, g in zip(model.layers, jseq.read(jt, g_params)):
        out.update({f"grad {layer.name}.{k}": v for k, v in g.items()})
    return out


def small_cnn_quantities(dtype, central: bool = True) -> Quantities:
    small = cnn.with_head(cnn.small_cnn(), (3, 2, 7, 6))
    rng = np.random.default_rng(1)
    xs, ls = rng.normal(size=(3, 2, 7, 6)).astype(dtype), rng.integers(0, 10, 3)
    ps = cnn.randomised(small, 1, dtype)
    cd = cnn.cnn_central(small, ps, xs, ls) if central and dtype == np.float64 else {}
    return Quantities(cnn.cnn_ours(small, ps, xs, ls), cnn.cnn_torch(small, ps, xs, ls), cnn_jax(small, ps, xs, ls), cd)


def lenet_quantities(x: np.ndarray, labels: np.ndarray, dtype, input_grad: bool) -> Quantities:
    lenet = seq.lenet()
    params = cnn.randomised(lenet, 0, dtype)
    q = Quantities(cnn.cnn_ours(lenet, params, x, labels), cnn.cnn_torch(lenet, params, x, labels),
                   cnn_jax(lenet, params, x, labels), {})
    if not input_grad:  # ill-posed on raw MNIST: tied maxima (cnn.py's docstring)
        for d in q[:3]:
            del d["input_grad"]
    return q


def cnn_rows(quick: bool = False, frameworks=NEW_FRAMEWORKS) -> list[dict]:
    """cnn.rows' cases: LeNet on MNIST images (raw and jittered) and the small CNN with every layer kind."""
    out = []
    for dtype in (np.float64, np.float32):
        x, labels = cnn.mnist_batch(8, dtype)
        depth = len(seq.lenet().layers)
        out += four_way("cnn", "lenet_mnist_n8", lenet_quantities(x, labels, dtype, False), dtype, depth,
                        frameworks=frameworks)
        xj = (x + 0.01 * np.random.default_rng(2).normal(size=x.shape)).astype(dtype)
        out += four_way("cnn", "lenet_mnist_jitter0.01_n8", lenet_quantities(xj, labels, dtype, True), dtype, depth,
                        frameworks=frameworks)
        out += four_way("cnn", "small_all_layers_n3", small_cnn_quantities(dtype), dtype, 8, frameworks=frameworks)
    return out


def lenet_trajectory(X: np.ndarray, y: np.ndarray, steps: int = 200, batch_size: int = 16, lr: float = 0.05,
                     seed: int = 0) -> dict:
    """trajectories.cnn_trajectory three ways: {"params": (ours, torch, jax)}, (steps + 1, P) each."""
    from experiments.mnist.trajectories import cnn_batches, flat_params

    model = seq.lenet()
    params, state = model.init(seed, X.dtype)
    twin = tcnn.build_twin(model, params)
    sgd = optim.SGD()
    opt_state, torch_sgd = sgd.init(params), torch_optimizer(sgd, twin, lr)
    jt = JaxTrainer(model, params, state, sgd, schedules.Constant(), lr)
    sides = ([flat_params(params)], [flat_params(tcnn.twin_params(twin, model))], [flat_params(jt.params())])
    for idx in cnn_batches(seed, X.shape[0], steps, batch_size):
        _, grads, _, state = model.loss_and_grads(X[idx], y[idx], params, state)
        opt_state = sgd.step(params, grads, opt_state, lr)
        tcnn.loss_and_grads(twin, model, X[idx], y[idx])
        torch_sgd.step()
        jt.step(X[idx], y[idx], None)
        for store, p in zip(sides, (params, tcnn.twin_params(twin, model), jt.params())):
            store.append(flat_params(p))
    return {"params": tuple(np.array(s) for s in sides)}


def lenet_rows(quick: bool = False, seed: int = 0) -> list[dict]:
    steps = 20 if quick else 200
    X, y = mnist_images(np.float64)
    res = lenet_trajectory(X, y, steps, seed=seed)
    return trajectory_rows("cnn", f"lenet_mnist_sgd_{steps}steps_b16_lr0.05", res, {"params": "trajectory"},
                           CNN_ATOL, seed)


def rows(quick: bool = False) -> list[dict]:
    """Every JAX row of the family."""
    return cnn_rows(quick) + lenet_rows(quick)
