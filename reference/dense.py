"""One fully connected layer in the study's notation (study 1.3.2-1.3.4).

With rows as samples, the study's column-vector equation s[l] = W[l]^T x[l-1] becomes
S[l] = X[l-1] W[l], where X[l-1] is (N, d[l-1] + 1) with column 0 the bias node x_0 = 1 and
W[l] is (d[l-1] + 1, d[l]) with row 0 the bias weights.

The pieces are pure functions used by both the study's network (network.py, backprop.py) and the
layer-by-layer models of convolutional networks (sequential.py):
    add_bias_node  x -> [1, x]
    signal         s = x W
    back_signal    W delta without the bias row: the sum in delta[l-1] = theta'(s[l-1]) (x) [W[l] delta[l]]_{1..d}
    gradient       sum_n x_n delta_n^T  (the study's G[l] before averaging over N)
and, for layer composition, forward(x, W) -> (s, cache) / backward(ds, cache) -> (dx, grads).
"""

from __future__ import annotations

import numpy as np

from reference.checks import require_finite, require_shape, require_upstream


def add_bias_node(x: np.ndarray) -> np.ndarray:
    """[1, x]: (N, d) -> (N, d + 1), the bias node x_0 = 1 in column 0."""
    return np.concatenate([np.ones((x.shape[0], 1), dtype=x.dtype), x], axis=1)


def signal(x_prev: np.ndarray, W: np.ndarray) -> np.ndarray:
    """s[l] = W[l]^T x[l-1] for every row: (N, d[l-1] + 1) @ (d[l-1] + 1, d[l]) -> (N, d[l])."""
    return x_prev @ W


def back_signal(delta: np.ndarray, W: np.ndarray) -> np.ndarray:
    """[W[l] delta[l]] without the bias row, row by row: (N, d[l]) -> (N, d[l-1])."""
    return delta @ W[1:].T


def gradient(x_prev: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """sum_n x[l-1]_n delta[l]_n^T: (N, d[l-1] + 1), (N, d[l]) -> (d[l-1] + 1, d[l])."""
    return x_prev.T @ delta


def forward(x: np.ndarray, W: np.ndarray, name: str = "dense") -> tuple[np.ndarray, tuple]:
    """Layer form: s = [1, x] W for x of shape (N, d_in); W of shape (d_in + 1, d_out)."""
    require_shape(x, (None, W.shape[0] - 1), f"{name}: input")
    if x.dtype != W.dtype:
        raise TypeError(f"{name}: input x is {x.dtype} but the weights W are {W.dtype}")
    require_finite(W, f"{name}: weights W")
    x_b = add_bias_node(x)
    return signal(x_b, W), (x_b, W, name)


def backward(ds: np.ndarray, cache: tuple) -> tuple[np.ndarray, dict]:
    """Layer form: given ds = dE/ds (N, d_out) in W's dtype, return dE/dx (N, d_in) and {"W": dE/dW}."""
    x_b, W, name = cache
    require_upstream(ds, (x_b.shape[0], W.shape[1]), W.dtype, name)
    return back_signal(ds, W), {"W": gradient(x_b, ds)}
