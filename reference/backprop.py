"""Backpropagation of sensitivities (study 1.3.4) and the gradient of E_in (the study's Figure 4).

    delta[L] = 2 (x[L] - y) (x) theta'(s[L])            squared error
    delta[L] = softmax(s[L]) sum_j y_j - y               softmax cross-entropy (identity output)
    delta[l] = theta'(s[l]) (x) [W[l+1] delta[l+1]]_{1..d[l]}     l = L-1..1  (bias row dropped)
    G[l]     = (1/N) sum_n x[l-1]_n delta[l]_n^T         shape (d[l-1] + 1, d[l])

delta[l] = de_n/ds[l] is per sample, (N, d[l]); G[l] = dE_in/dW[l] averages over the batch.
"""

from __future__ import annotations

import numpy as np

from reference.activations import get_activation
from reference.checks import require_finite, require_shape
from reference.dense import back_signal, gradient
from reference.forward import ForwardCache
from reference.losses import get_loss
from reference.network import Architecture


def output_sensitivity(arch: Architecture, s_L: np.ndarray, x_L: np.ndarray, y: np.ndarray) -> np.ndarray:
    """delta[L] = de_n/ds[L] for the architecture's loss (reference/losses.py): (N, d[L])."""
    return get_loss(arch.loss).delta(s_L, x_L, y, arch.theta(arch.L).theta_prime)


def check_trainable(arch: Architecture) -> None:
    """Refuse to backpropagate through an activation whose derivative is identically zero."""
    for where, name in (("hidden", arch.hidden), ("output", arch.output)):
        if arch.L == 1 and where == "hidden":
            continue
        if not get_activation(name).trainable:
            raise ValueError(
                f"cannot train through the {where} activation {name!r}: its derivative is 0 "
                f"everywhere, so every gradient would be 0 (use the perceptron learning algorithm)"
            )


def check_targets(arch: Architecture, y: np.ndarray, N: int, dtype=None) -> None:
    """y must be a finite (N, d[L]) array, of the network's float dtype when `dtype` is given
    (float64 targets would silently turn a float32 network's delta, G and W into float64)."""
    require_shape(y, (N, arch.d[-1]), f"targets y (N = {N}, d[L] = {arch.d[-1]})")
    if dtype is not None and y.dtype != dtype:
        raise TypeError(f"targets y are {y.dtype} but the network computes in {np.dtype(dtype)}")
    require_finite(y, "targets y")


def backward(arch: Architecture, W: list, cache: ForwardCache, y: np.ndarray, check: bool = True) -> tuple[list, list]:
    """Return (delta, G): delta[l] is (N, d[l]) and G[l] is (d[l-1] + 1, d[l]) for l = 1..L."""
    L = arch.L
    N = cache.x[0].shape[0]
    if N == 0:
        # E_in = (1/N) sum_n e_n has no value for N = 0 (torch's mean is NaN): a caller's bug, not zeros
        raise ValueError("backward: empty batch (N = 0): E_in = (1/N) sum_n e_n and its gradient are undefined")
    if check:
        check_trainable(arch)
        check_targets(arch, y, N, cache.x[0].dtype)
    delta = [None] * (L + 1)
    G = [None] * (L + 1)
    delta[L] = output_sensitivity(arch, cache.s[L], cache.x[L], y)
    for l in range(L, 0, -1):
        G[l] = gradient(cache.x[l - 1], delta[l]) / N
        if l > 1:
            delta[l - 1] = arch.theta(l - 1).theta_prime(cache.s[l - 1]) * back_signal(delta[l], W[l])
    return delta, G
