"""Flatten (study 1.4): the bridge from feature maps to the dense layers.

x (N, C, H, W) -> x_flat (N, C H W), row-major within each sample, so that
x_flat[n, (c H + a) W + e] = x[n, c, a, e] (the order of torch.nn.Flatten and of numpy.reshape).
Backward is the inverse reshape of the upstream gradient. No parameters.
"""

from __future__ import annotations

import numpy as np

from reference.checks import require_upstream


def forward(x: np.ndarray, name: str = "flatten") -> tuple[np.ndarray, tuple]:
    """(N, d_1, ..., d_k) -> (N, d_1 ... d_k); the cache is the input shape."""
    if not isinstance(x, np.ndarray) or x.ndim < 2:
        raise ValueError(f"{name}: input must have a batch axis and at least one more, got shape "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    return x.reshape(x.shape[0], -1), (x.shape, x.dtype, name)


def backward(dy: np.ndarray, cache: tuple) -> tuple[np.ndarray, dict]:
    """(N, d_1 ... d_k) -> (N, d_1, ..., d_k), dy in the input's dtype. No parameters."""
    shape, dtype, name = cache
    require_upstream(dy, (shape[0], int(np.prod(shape[1:]))), dtype, name)
    return dy.reshape(shape), {}
