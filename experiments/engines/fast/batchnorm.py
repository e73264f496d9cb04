"""Fast 2-D batch normalisation: reference/batchnorm.py's formulas over channel-major rows (layout.py).

Channel c's m = N H W values are one contiguous row of the (C, H, W, N) memory, so its sums run along
that row (NumPy's pairwise sum for mu, einsum for var and dE/dgamma) and the element-wise work is one
compiled pass each way (kernels.py), rounded as the reference rounds it:
    forward   x^ = (x - mu) inv_std,   y = x^ gamma + beta,   inv_std = 1 / sqrt(var + eps)
    backward  dE/dx = (dy - (x^ (dE/dgamma) / m + (dE/dbeta) / m)) gamma inv_std   (batch statistics)
              dE/dx = dy gamma inv_std                                             (running statistics)
Only the order of the additions inside the per-channel sums differs from the reference's.
Layers without affine parameters stay on the reference path (fast.py does not replace them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from experiments.engines.fast import kernels
from experiments.engines.fast.layout import nchw, rows
from reference import batchnorm as bn
from reference import sequential as seq
from reference.checks import require_upstream


def statistics(x2: np.ndarray, eps: float, shape, name: str):
    """(mu, biased var, x - mu) of the (C, m) rows, m >= 1; the reference's refusal of m = 1."""
    m = x2.shape[1]
    if m == 1:
        raise ValueError(f"{name}: expected more than 1 value per channel when training, got input of shape "
                         f"{shape} ({m} value per channel)")
    mu = x2.sum(axis=1) / m
    xc = x2 - mu[:, None]
    return mu, np.einsum("cm,cm->c", xc, xc) / m, xc


class Delegated(NamedTuple):
    """The cache of a pass the reference layer made (an empty batch: nothing to speed up)."""

    cache: tuple


def forward(layer, x, params, state, train: bool):
    """(y as an NCHW view of channel-major memory, cache, state) of a BatchNorm2d layer with affine params."""
    bn.check_input(x, layer.num_features, layer.input_ndims, layer.name)
    batch_stats = train or not layer.track_running_stats
    bn.require_eps(layer.eps, batch_stats, layer.name)
    if x.size == 0:  # PyTorch's empty-batch rules, as the reference implements them
        y, cache, state = seq.BatchNorm2d.forward(layer, x, params, state, train=train)
        return y, Delegated(cache), state
    x2 = rows(x)
    if batch_stats:
        mu, var, xc = statistics(x2, layer.eps, x.shape, layer.name)
        if train and layer.track_running_stats:
            state = bn.updated_running_stats(state, mu, var, x2.shape[1], layer.momentum)
    else:
        var, xc = state["running_var"], x2 - state["running_mean"][:, None]
    inv_std = 1.0 / np.sqrt(var + layer.eps)
    y = kernels.batchnorm_scale(xc, inv_std, params["gamma"], params["beta"], np.empty_like(xc))
    N, C, H, W = x.shape
    return nchw(y.reshape(C, H, W, N)), (xc, inv_std, params["gamma"], batch_stats, x.shape, layer.name), state


def backward(dy, cache):
    """(dE/dx as an NCHW view, {"gamma", "beta"})."""
    if isinstance(cache, Delegated):
        return bn.backward(dy, cache.cache)
    xhat, inv_std, gamma, batch_stats, shape, name = cache
    require_upstream(dy, shape, xhat.dtype, name)
    dy2 = rows(dy)
    dbeta, dgamma = dy2.sum(axis=1), np.einsum("cm,cm->c", dy2, xhat)
    k = gamma * inv_std
    m = dy2.shape[1]
    if batch_stats:
        dx = kernels.batchnorm_dx(dy2, xhat, dgamma / m, dbeta / m, k, np.empty_like(dy2))
    else:
        dx = dy2 * k[:, None]
    N, C, H, W = shape
    return nchw(dx.reshape(C, H, W, N)), {"gamma": dgamma, "beta": dbeta}


@dataclass(frozen=True)
class BatchNorm2d(seq.BatchNorm2d):
    """reference.sequential.BatchNorm2d (affine) over channel-major rows."""

    def forward(self, x, params, state, *, train: bool, rng=None):
        return forward(self, x, params, state, train)

    def backward(self, dy, cache, need_dx: bool = True):
        return backward(dy, cache)
