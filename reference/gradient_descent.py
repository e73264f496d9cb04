"""Fixed-rate gradient descent and mini-batch stochastic gradient descent (study 1.3.5).

    W[l] <- W[l] - eta G[l]          for every l, after each mini-batch  (fixed_rate_update)

The learning rate is eta throughout (the study's and Learning From Data's notation).

The sample order of an epoch is a seeded permutation (or the identity without shuffling), drawn by
`epoch_order`, so the NumPy and PyTorch trainers can be fed exactly the same sequence.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from reference.backprop import backward, check_targets, check_trainable
from reference.forward import check_input, forward
from reference.losses import E_in, get_loss
from reference.network import Architecture, check_weights


def fixed_rate_update(W: list, G: list, eta: float) -> list:
    """W[l] - eta G[l] for every l (a new list; W is not modified).

    eta is taken in W[l]'s dtype, as a Python float is: an np.float64 eta must not silently turn
    float32 weights into float64.
    """
    return [None] + [w - w.dtype.type(eta) * g for w, g in zip(W[1:], G[1:])]


def epoch_order(N: int, rng: np.random.Generator | None) -> np.ndarray:
    """The order in which an epoch visits the N samples: rng.permutation(N), or 0..N-1 if rng is None."""
    return np.arange(N) if rng is None else rng.permutation(N)


def mini_batches(order: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    """Consecutive slices of `order` of length batch_size (the last one may be shorter)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for i in range(0, len(order), batch_size):
        yield order[i : i + batch_size]


def loss_value(arch: Architecture, s_L: np.ndarray, x_L: np.ndarray, y: np.ndarray) -> float:
    """E_in of the batch for the architecture's loss."""
    return E_in(get_loss(arch.loss).e(s_L, x_L, y))


def check_learning_rate(eta: float) -> None:
    """eta must be a positive number."""
    if not eta > 0:
        raise ValueError(f"learning rate eta must be > 0, got {eta}")


def check_training(arch: Architecture, W: list, X: np.ndarray, Y: np.ndarray, eta: float | None = None) -> None:
    """Everything a trainer checks before its first step: weights, trainability, inputs, targets, eta."""
    if eta is not None:
        check_learning_rate(eta)
    check_weights(arch, W)
    check_trainable(arch)
    check_input(arch, X, W)
    check_targets(arch, Y, X.shape[0], X.dtype)


def sgd_epoch(
    arch: Architecture, W: list, X: np.ndarray, Y: np.ndarray, eta: float, batch_size: int, order: np.ndarray
) -> tuple[list, float]:
    """One epoch of mini-batch SGD over X[order]; returns (new W, mean E_in over the batches)."""
    check_training(arch, W, X, Y, eta)
    losses = []
    for idx in mini_batches(order, batch_size):
        x_L, cache = forward(arch, W, X[idx], check=False)
        losses.append(loss_value(arch, cache.s[arch.L], x_L, Y[idx]))
        _, G = backward(arch, W, cache, Y[idx], check=False)
        W = fixed_rate_update(W, G, eta)
    return W, float(np.mean(losses))
