"""Batch normalisation (Ioffe and Szegedy 2015) as PyTorch's BatchNorm1d / BatchNorm2d define it.

x is (N, C) or (N, C, L) (BatchNorm1d) or (N, C, H, W) (BatchNorm2d); every channel c is
normalised over the m = N (L or H W) values it has in the batch, then scaled and shifted:

    x^ = (x - mu) / sqrt(var + eps),     y = gamma x^ + beta          (gamma, beta per channel)

Train mode uses the batch statistics, with the *biased* variance:
    mu = (1/m) sum x,   var = (1/m) sum (x - mu)^2,
and updates the running statistics (state) with PyTorch's momentum convention and the *unbiased*
variance:
    running_mean <- (1 - momentum) running_mean + momentum mu
    running_var  <- (1 - momentum) running_var  + momentum var m / (m - 1)
(momentum None: the cumulative average, momentum = 1 / num_batches_tracked after counting this
batch). Eval mode uses running_mean and running_var in place of mu and var. Without
track_running_stats there are no running statistics and both modes use the batch's. Without
affine, gamma = 1 and beta = 0 are fixed (no params).

Backward, given dy = dE/dy (sums over the m values of a channel):
    dE/dbeta = sum dy,   dE/dgamma = sum dy x^,   dx^ = gamma dy
  batch statistics (mu and var depend on x):
    dE/dx = (1 / (m sqrt(var + eps))) (m dx^ - sum dx^ - x^ sum dx^ x^)
  running statistics (constants):
    dE/dx = dx^ / sqrt(running_var + eps)

Errors as PyTorch's (each naming the layer and the numbers): train mode with one value per channel
(m = 1: "Expected more than 1 value per channel when training"), eps <= 0 in train mode, an input
of the wrong number of dimensions, and a channel count other than num_features.
"""

from __future__ import annotations

import numpy as np

from reference.checks import require_float, require_upstream


def channel_sum(a: np.ndarray) -> np.ndarray:
    """sum over every axis but the channel axis 1: (N, C, ...) -> (C,); the contiguous axis first."""
    return a.reshape(a.shape[0], a.shape[1], -1).sum(axis=2).sum(axis=0)


def per_channel(v: np.ndarray, ndim: int) -> np.ndarray:
    """(C,) -> (1, C, 1, ...) broadcasting against an input of ndim dimensions."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def check_input(x: np.ndarray, num_features: int, ndims: tuple[int, ...], name: str) -> None:
    """x must be a float array of an allowed ndim with num_features channels."""
    require_float(x, f"{name}: input x")
    if x.ndim not in ndims:
        want = " or ".join(f"{n}D" for n in ndims)
        raise ValueError(f"{name}: expected {want} input, got {x.ndim}D input of shape {x.shape}")
    if x.shape[1] != num_features:
        raise ValueError(f"{name}: input has {x.shape[1]} channels (shape {x.shape}) but the layer has "
                         f"num_features = {num_features}")


def values_per_channel(x: np.ndarray) -> int:
    """m = N (L or H W): how many values each channel has in the batch."""
    return x.size // x.shape[1] if x.shape[1] else 0


def batch_statistics(x: np.ndarray, eps: float, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(mu, biased var) per channel; refuses m = 1 and eps <= 0 as PyTorch does in train mode."""
    m = values_per_channel(x)
    if m <= 1:
        raise ValueError(f"{name}: expected more than 1 value per channel when training, got input of shape "
                         f"{x.shape} ({m} value per channel)")
    if not eps > 0:
        raise ValueError(f"{name}: eps must be positive during training, got eps = {eps}")
    mu = channel_sum(x) / m
    xc = x - per_channel(mu, x.ndim)
    return mu, channel_sum(xc * xc) / m


def normalise(x: np.ndarray, mu: np.ndarray, var: np.ndarray, eps: float):
    """(x^, 1 / sqrt(var + eps)) with the given per-channel statistics."""
    inv_std = 1.0 / np.sqrt(var + eps)
    return (x - per_channel(mu, x.ndim)) * per_channel(inv_std, x.ndim), inv_std


def forward(x: np.ndarray, gamma: np.ndarray | None, beta: np.ndarray | None, mu: np.ndarray,
            var: np.ndarray, eps: float, batch_stats: bool, name: str) -> tuple[np.ndarray, tuple]:
    """y = gamma x^ + beta with x^ from (mu, var); batch_stats says whether they came from x (backward)."""
    xhat, inv_std = normalise(x, mu, var, eps)
    y = xhat if gamma is None else xhat * per_channel(gamma, x.ndim) + per_channel(beta, x.ndim)
    return y, (xhat, inv_std, gamma, batch_stats, name)


def backward(dy: np.ndarray, cache: tuple) -> tuple[np.ndarray, dict]:
    """(dE/dx, {"gamma": dE/dgamma, "beta": dE/dbeta} or {} without affine); formulas: module docstring."""
    xhat, inv_std, gamma, batch_stats, name = cache
    require_upstream(dy, xhat.shape, xhat.dtype, name)
    grads = {} if gamma is None else {"gamma": channel_sum(dy * xhat), "beta": channel_sum(dy)}
    dxhat = dy if gamma is None else dy * per_channel(gamma, dy.ndim)
    if not batch_stats:
        return dxhat * per_channel(inv_std, dy.ndim), grads
    m = values_per_channel(dy)
    s1, s2 = channel_sum(dxhat), channel_sum(dxhat * xhat)
    dx = (dxhat - per_channel(s1 / m, dy.ndim) - xhat * per_channel(s2 / m, dy.ndim)) * per_channel(inv_std, dy.ndim)
    return dx, grads


def updated_running_stats(state: dict, mu: np.ndarray, var: np.ndarray, m: int, momentum: float | None) -> dict:
    """The new state after a train-mode batch of m values per channel (momentum convention: docstring)."""
    count = state["num_batches_tracked"] + 1
    f = 1.0 / count if momentum is None else momentum
    return {"running_mean": (1 - f) * state["running_mean"] + f * mu,
            "running_var": (1 - f) * state["running_var"] + f * var * (m / (m - 1)),
            "num_batches_tracked": count}
