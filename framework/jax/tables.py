"""The JAX side of the reference's tables, keyed by the same names: activations and losses.

    JAX_ACTIVATIONS  reference.activations.ACTIVATIONS name -> theta in jax.numpy (jax.nn's where it has one)
    JAX_LOSSES       reference.losses.LOSSES name -> e_n(s[L], x[L], y, loss), (N,), from optax's losses

JAX's derivatives at the kinks are PyTorch's: jax.nn.relu's custom JVP gives ReLU'(0) = 0, and
jnp.sign's derivative is 0 everywhere (tests/test_jax_twins.py checks both).

Label smoothing: optax.smooth_labels(y, eps) = (1 - eps) y + eps / d[L], torch's rule, also for soft
targets; optax.softmax_cross_entropy(z, t) = -sum_j t_j log_softmax(z)_j. The squared error is
optax.squared_error(x, y) = (x - y)^2 summed over the outputs (optax.l2_loss would halve it). ArcFace and
the batch-hard triplet loss follow framework/tables.py's torch forms; ArcFace's clamp before arccos passes
no gradient at its bounds, as torch's (jnp.clip would pass half).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax

from reference.arcface import EPS as ARC_EPS
from reference.losses import Loss, get_loss

JAX_ACTIVATIONS = {
    "identity": lambda s: s,
    "sign": jnp.sign,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
}


def jax_activation(name: str):
    """theta of the reference activation `name` in JAX; unknown names raise ValueError."""
    if name not in JAX_ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known activations: {', '.join(sorted(JAX_ACTIVATIONS))}")
    return JAX_ACTIVATIONS[name]


def _squared_error(s_L, x_L, y, loss: Loss):
    return optax.squared_error(x_L, y).sum(axis=1)


def _cross_entropy(s_L, x_L, y, loss: Loss):
    t = optax.smooth_labels(y, loss.label_smoothing) if loss.label_smoothing else y
    return optax.softmax_cross_entropy(s_L, t)


def _am_softmax(s_L, x_L, y, loss: Loss):
    # s_L holds cosines, y is one-hot: the margin comes off the true class's cosine before the scale
    return optax.softmax_cross_entropy(loss.scale * (s_L - loss.margin * y), y)


def clamp(c, lo: float, hi: float):
    """c limited to [lo, hi] with gradient 0 AT the bounds, as torch's clamp with scalar bounds (jnp.clip's
    max/min split a tie's gradient 0.5 / 0.5)."""
    return jnp.where(c <= lo, lo, jnp.where(c >= hi, hi, c))


def _arcface(s_L, x_L, y, loss: Loss):
    # ArcMarginProduct on given cosines (reference/arcface.py): cos(theta + m) through a clamped arccos
    m = loss.margin
    onehot = y.astype(bool)
    theta = jnp.arccos(clamp(s_L, -1 + ARC_EPS, 1 - ARC_EPS))
    if loss.easy_margin:
        phi = jnp.where(s_L > 0, jnp.cos(theta + m), s_L)
    else:
        phi = jnp.where(s_L > math.cos(math.pi - m), jnp.cos(theta + m), s_L - math.sin(math.pi - m) * m)
    return optax.softmax_cross_entropy(loss.scale * jnp.where(onehot, phi, s_L), y)


def _triplet(s_L, x_L, labels, loss: Loss):
    # batch-hard mining (Hermans et al. 2017): jnp.argmax / argmin take the first index on ties, as torch's
    D = jnp.sum(jnp.square(s_L[:, None, :] - s_L[None, :, :]), axis=2)
    same = labels[:, None] == labels[None, :]
    positive = same & ~jnp.eye(len(labels), dtype=bool)
    p = jnp.argmax(jnp.where(positive, D, -jnp.inf), axis=1)[:, None]
    q = jnp.argmin(jnp.where(~same, D, jnp.inf), axis=1)[:, None]
    valid = positive.any(axis=1) & (~same).any(axis=1)
    hinge = jax.nn.relu(jnp.take_along_axis(D, p, 1) - jnp.take_along_axis(D, q, 1) + loss.margin)[:, 0]
    return hinge * valid


JAX_LOSSES = {
    "squared_error": _squared_error,
    "cross_entropy": _cross_entropy,
    "am_softmax": _am_softmax,
    "arcface": _arcface,
    "triplet": _triplet,
}


def jax_e(loss: Loss | str, s_L, x_L, y):
    """e_n of the reference loss (a Loss or its name) computed in JAX: (N,); y is (N, d[L]) (the labels (N,)
    for a pairwise loss)."""
    loss = get_loss(loss) if isinstance(loss, str) else loss
    return JAX_LOSSES[loss.name](s_L, x_L, y, loss)


def jax_loss(loss: Loss | str, s_L, x_L, y):
    """E_in = (1/N) sum_n e_n."""
    return jnp.mean(jax_e(loss, s_L, x_L, y))
