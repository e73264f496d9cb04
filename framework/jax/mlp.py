"""The study's network (reference/network.py) in JAX: W[l] as JAX's (kernel, bias), E_in and its gradients.

The study's W[l] (d[l-1] + 1, d[l]) has the bias weights in row 0, s[l] = [1, x[l-1]] W[l]; JAX's dense
layers keep kernel = W[l][1:] (d[l-1], d[l]) and bias = W[l][0], s[l] = x[l-1] kernel + bias.

delta[l] is the study's per-sample sensitivity: N dE_in/ds[l] for E_in the mean over the N samples. JAX
gives dE_in/ds[l] as the gradient with respect to a zero added to s[l] (`perturbations`), so the twin
needs no hooks to reach the signals' gradients.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from framework.jax.layers import dense_to_kernel, kernel_to_dense
from framework.jax.tables import jax_activation, jax_loss


def to_jax(W: list) -> list[dict]:
    """[None, W[1], ..., W[L]] -> [{"kernel", "bias"}] for l = 1..L."""
    return [dense_to_kernel(w) for w in W[1:]]


def to_study(params: list[dict]) -> list:
    """[{"kernel", "bias"}] -> [None, W[1], ..., W[L]] as NumPy arrays."""
    return [None] + [kernel_to_dense(p) for p in params]


def signals(arch, params: list[dict], x, zeros: list):
    """(s, outs): s[l] and x[l] = theta(s[l]) for l = 1..L (index 0: None and the input); zeros[l-1] is added
    to s[l] (the point at which dE/ds[l] is taken)."""
    s, outs = [None], [x]
    for l, (p, z) in enumerate(zip(params, zeros), start=1):
        s.append(outs[-1] @ p["kernel"] + p["bias"] + z)
        outs.append(jax_activation(arch.theta(l).name)(s[-1]))
    return s, outs


def E_in(arch, params: list[dict], x, y, zeros: list):
    s, outs = signals(arch, params, x, zeros)
    return jax_loss(arch.loss, s[-1], outs[-1], y), (s, outs)


def quantities(arch, W: list, x: np.ndarray, y: np.ndarray) -> dict:
    """E_in, x[L], s[l], x[l] (hidden), delta[l] = N dE_in/ds[l] and G[l] = dE_in/dW[l] (study layout)."""
    params = to_jax(W)
    N = x.shape[0]
    zeros = [jnp.zeros((N, arch.d[l]), dtype=x.dtype) for l in range(1, arch.L + 1)]
    grad = jax.jit(jax.value_and_grad(partial(E_in, arch), argnums=(0, 3), has_aux=True))
    (E, (s, outs)), (g_params, g_zeros) = grad(params, jnp.asarray(x), jnp.asarray(y), zeros)
    out = {"E_in": np.array(E), "x[L]": np.asarray(outs[-1])}
    G = to_study(g_params)
    for l in range(1, arch.L + 1):
        out[f"s[{l}]"] = np.asarray(s[l])
        if l < arch.L:
            out[f"x[{l}]"] = np.asarray(outs[l])
        out[f"delta[{l}]"] = np.asarray(g_zeros[l - 1]) * N
        out[f"G[{l}]"] = G[l]
    return out
