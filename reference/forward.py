"""Forward propagation (study 1.3.3).

    x[0] = [1; x]
    s[l] = W[l]^T x[l-1]                   l = 1..L
    x[l] = [1; theta(s[l])]                l = 1..L-1
    x[L] = theta_out(s[L])                 (the output carries no bias node)

Rows are samples, so each x[l] is (N, d[l] + 1) and s[l] is (N, d[l]). All s[l] and x[l] are kept in
the cache for backpropagation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference.checks import require_finite, require_float, require_shape
from reference.dense import add_bias_node, signal
from reference.network import Architecture, check_weights


@dataclass
class ForwardCache:
    """s[l] and x[l] for l = 0..L (s[0] is None): the study's saved quantities."""

    s: list
    x: list


def check_input(arch: Architecture, x: np.ndarray, W: list) -> None:
    """x must be a finite float (N, d[0]) array of W's dtype."""
    require_float(x, "input x")
    require_shape(x, (None, arch.d[0]), f"input x (layer 0, d[0] = {arch.d[0]})")
    if x.dtype != W[1].dtype:
        raise TypeError(f"input x is {x.dtype} but the weights are {W[1].dtype}")
    require_finite(x, "input x")


def forward(arch: Architecture, W: list, x: np.ndarray, check: bool = True) -> tuple[np.ndarray, ForwardCache]:
    """h(x) = x[L] for a batch x of shape (N, d[0]); returns (x[L], cache)."""
    if check:
        check_weights(arch, W)
        check_input(arch, x, W)
    s = [None]
    xs = [add_bias_node(x)]
    for l in range(1, arch.L + 1):
        s.append(signal(xs[l - 1], W[l]))
        out = arch.theta(l).theta(s[l])
        xs.append(out if l == arch.L else add_bias_node(out))
    return xs[arch.L], ForwardCache(s=s, x=xs)


def predict(arch: Architecture, W: list, x: np.ndarray, batch: int = 10000) -> np.ndarray:
    """Class labels argmax_j x[L]_j, computed in batches: (N, d[0]) -> (N,)."""
    out = [np.argmax(forward(arch, W, x[i : i + batch])[0], axis=1) for i in range(0, len(x), batch)]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
