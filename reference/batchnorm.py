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
(m = 1: "Expected more than 1 value per channel when training"), eps <= 0 in train mode, eps < 0 in
eval mode, an input of the wrong number of dimensions, and a channel count other than num_features.
An empty batch (m = 0) is accepted, as PyTorch does: the output is empty, the gradients of gamma and
beta are 0, and a train-mode pass counts the batch (num_batches_tracked + 1) but leaves the running
statistics as they were (ATen's batch_norm returns before it reads them).
"""

from __future__ import annotations

import numpy as np

from reference.checks import require_float, require_upstream


def rows3(a: np.ndarray) -> np.ndarray:
    """The (N, C, L) view of an (N, C, ...) array: elementwise work then runs over long contiguous rows."""
    return a.reshape(a.shape[0], a.shape[1], int(np.prod(a.shape[2:])))  # L given: -1 is ambiguous when N = 0


def over_batch(per_row: np.ndarray) -> np.ndarray:
    """(N, C) -> (C,): sums along contiguous rows, which numpy adds pairwise (float32 error ~ log N, not N)."""
    return np.ascontiguousarray(per_row.T).sum(axis=1)


def channel_sum(a: np.ndarray) -> np.ndarray:
    """sum over every axis but the channel axis 1: (N, C, ...) -> (C,)."""
    return over_batch(rows3(a).sum(axis=2))


def channel_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """sum of a * b over every axis but the channel axis, without the (N, C, L) product in memory."""
    return over_batch(np.einsum("ncl,ncl->nc", rows3(a), rows3(b)))


def col(v: np.ndarray) -> np.ndarray:
    """(C,) -> (C, 1), broadcasting over the (N, C, L) view."""
    return v[:, None]


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


def require_eps(eps: float, batch_stats: bool, name: str) -> None:
    """eps > 0 when the batch's statistics are used (train mode), eps >= 0 with running statistics, as
    PyTorch: a negative eps can make var + eps negative and the output NaN."""
    if batch_stats and not eps > 0:
        raise ValueError(f"{name}: eps must be positive during training, got eps = {eps}")
    if eps < 0:
        raise ValueError(f"{name}: eps must be non-negative, got eps = {eps}")


def batch_statistics(x: np.ndarray, eps: float, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mu, biased var) per channel, and x - mu as (N, C, L); refuses m = 1 and eps <= 0 as PyTorch
    does in train mode. An empty batch (m = 0) has no statistics: mu = 0 and var = 1 stand in, unused
    but finite (the output is empty)."""
    m = values_per_channel(x)
    if m == 1:
        raise ValueError(f"{name}: expected more than 1 value per channel when training, got input of shape "
                         f"{x.shape} ({m} value per channel)")
    require_eps(eps, True, name)
    if m == 0:
        return np.zeros(x.shape[1], x.dtype), np.ones(x.shape[1], x.dtype), rows3(x).copy()
    mu = channel_sum(x) / m
    xc = rows3(x) - col(mu)
    return mu, channel_dot(xc, xc) / m, xc


def centred(x: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """x - mu as (N, C, L) (eval mode: mu is the running mean)."""
    return rows3(x) - col(mu)


def forward(xc: np.ndarray, shape: tuple, gamma: np.ndarray | None, beta: np.ndarray | None, var: np.ndarray,
            eps: float, batch_stats: bool, name: str) -> tuple[np.ndarray, tuple]:
    """y = gamma x^ + beta with x^ = xc / sqrt(var + eps), xc = x - mu as (N, C, L) (consumed: it becomes
    x^); batch_stats says whether (mu, var) came from x, which changes the backward."""
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = xc
    xhat *= col(inv_std)
    if gamma is None:
        y = xhat.copy()  # the cache keeps xhat; the caller may change y
    else:
        y = xhat * col(gamma)
        y += col(beta)
    return y.reshape(shape), (xhat, inv_std, gamma, batch_stats, shape, name)


def backward(dy: np.ndarray, cache: tuple) -> tuple[np.ndarray, dict]:
    """(dE/dx, {"gamma": dE/dgamma, "beta": dE/dbeta} or {} without affine); formulas: module docstring.

    With k = gamma / sqrt(var + eps) and dE/dgamma, dE/dbeta as sums (computed even without affine),
    the batch-statistics gradient is dE/dx = k (dy - x^ (dE/dgamma) / m - (dE/dbeta) / m).
    """
    xhat, inv_std, gamma, batch_stats, shape, name = cache
    require_upstream(dy, shape, xhat.dtype, name)
    dbeta, dgamma = channel_sum(dy), channel_dot(dy, xhat)
    grads = {} if gamma is None else {"gamma": dgamma, "beta": dbeta}
    k = col(inv_std if gamma is None else gamma * inv_std)
    m = values_per_channel(dy)
    if not batch_stats or m == 0:
        return (rows3(dy) * k).reshape(shape), grads
    dx = xhat * col(dgamma / m)
    dx += col(dbeta / m)
    np.subtract(rows3(dy), dx, out=dx)
    dx *= k
    return dx.reshape(shape), grads


def updated_running_stats(state: dict, mu: np.ndarray, var: np.ndarray, m: int, momentum: float | None) -> dict:
    """The new state after a train-mode batch of m values per channel (momentum convention: docstring);
    an empty batch (m = 0) is counted and changes nothing else, as in PyTorch."""
    count = state["num_batches_tracked"] + 1
    if m == 0:
        return {**state, "num_batches_tracked": count}
    f = 1.0 / float(count) if momentum is None else momentum  # a Python float keeps float32 stats float32
    return {"running_mean": (1 - f) * state["running_mean"] + f * mu,
            "running_var": (1 - f) * state["running_var"] + f * var * (m / (m - 1)),
            "num_batches_tracked": count}
