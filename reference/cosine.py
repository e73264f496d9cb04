"""L2 normalisation and the cosine layer of a margin softmax head (CosFace, Wang et al. 2018).

L2 normalisation of every row (axis 1) or column (axis 0), as torch.nn.functional.normalize:

    r = max(||x||, eps),   y = x / r
    dE/dx = (dy - y sum(dy * y)) / r      where ||x|| >= eps (r depends on x)
    dE/dx = dy / eps                      where ||x|| < eps  (r is the constant eps)

The cosine layer compares each input row with each class's weight column, W of shape (d_in, d_out),
no bias:

    u = normalize(x) (rows),  V = normalize(W) (columns),  cos = u V      (N, d_out), every entry in [-1, 1]
    dE/du = dcos V^T,  dE/dV = u^T dcos,  then each through normalisation's backward above.
"""

from __future__ import annotations

import numpy as np

from reference.checks import require_finite, require_shape, require_upstream

EPS = 1e-12  # torch.nn.functional.normalize's default


def normalize(x: np.ndarray, axis: int = 1, eps: float = EPS) -> tuple[np.ndarray, tuple]:
    """y = x / max(||x||, eps) along `axis` of a 2-D array; the cache for normalize_backward."""
    norm = np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
    r = np.maximum(norm, x.dtype.type(eps))
    y = x / r
    return y, (y, r, norm >= eps, axis)


def normalize_backward(dy: np.ndarray, cache: tuple) -> np.ndarray:
    """dE/dx = (dy - y sum(dy y)) / r where ||x|| >= eps, dy / eps elsewhere."""
    y, r, on_norm, axis = cache
    proj = np.sum(dy * y, axis=axis, keepdims=True) * on_norm
    return (dy - y * proj) / r


def forward(x: np.ndarray, W: np.ndarray, name: str = "cosine") -> tuple[np.ndarray, tuple]:
    """cos = normalize(x) normalize(W) for x (N, d_in), W (d_in, d_out): (N, d_out)."""
    require_shape(x, (None, W.shape[0]), f"{name}: input")
    if x.dtype != W.dtype:
        raise TypeError(f"{name}: input x is {x.dtype} but the weights W are {W.dtype}")
    require_finite(W, f"{name}: weights W")
    u, cu = normalize(x, axis=1)
    V, cv = normalize(W, axis=0)
    return u @ V, (u, V, cu, cv, name)


def backward(dcos: np.ndarray, cache: tuple, need_dx: bool = True) -> tuple[np.ndarray | None, dict]:
    """dE/dx (N, d_in) (None when not needed) and {"W": dE/dW (d_in, d_out)} given dcos = dE/dcos."""
    u, V, cu, cv, name = cache
    require_upstream(dcos, (u.shape[0], V.shape[1]), V.dtype, name)
    dx = normalize_backward(dcos @ V.T, cu) if need_dx else None
    return dx, {"W": normalize_backward(u.T @ dcos, cv)}
