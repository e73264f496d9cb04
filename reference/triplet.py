"""The triplet loss with batch-hard mining (Hermans, Beyer and Leibe 2017, "In Defense of the Triplet Loss").

Embeddings f (N, d) (L2-normalised rows, an L2Normalize layer's output), class labels (N,), margin m >= 0.
Every sample n is an anchor; within the batch its hardest positive p(n) is the farthest sample of its class
and its hardest negative q(n) the nearest sample of another class:

    D_ij = ||f_i - f_j||^2                              squared Euclidean distance (= 2 - 2 cos on the sphere)
    p(n) = argmax_{j != n, y_j = y_n} D_nj              first index on ties (numpy's and torch's argmax)
    q(n) = argmin_{j: y_j != y_n} D_nj                  first index on ties (numpy's and torch's argmin)
    h_n  = D_n,p(n) - D_n,q(n) + m
    e_n  = max(0, h_n)           when n has a positive and a negative in the batch, else 0

The squared distance is smooth everywhere (the plain distance's derivative is infinite where two embeddings
coincide). Backward, for an upstream gradient de (N,) (de = 1 for d(sum_n e_n)/df): the mining is piecewise
constant, so only the chosen pairs carry gradient. With g_n = de_n [h_n > 0] (0 at the hinge's kink, as
torch's relu) for valid anchors,

    G_n,p(n) += g_n,  G_n,q(n) -= g_n,  S = G + G^T        (dE/dD, symmetrised)
    dE/df_k = 2 sum_j S_kj (f_k - f_j) = 2 (rowsum(S)_k f_k - (S f)_k)        since dD_ij/df_i = 2 (f_i - f_j).
"""

from __future__ import annotations

import numpy as np


def check_margin(margin: float) -> None:
    if not margin >= 0:
        raise ValueError(f"triplet: margin m must be >= 0, got {margin}")


def squared_distances(f: np.ndarray) -> np.ndarray:
    """D_ij = sum_k (f_ik - f_jk)^2, (N, N), from the differences (exactly 0 on the diagonal)."""
    diff = f[:, None, :] - f[None, :, :]
    return np.sum(diff * diff, axis=2)


def batch_hard(D: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(p, q, valid): each anchor's hardest positive and negative (first index on ties), and whether it has both."""
    same = labels[:, None] == labels[None, :]
    positive = same & ~np.eye(len(labels), dtype=bool)
    negative = ~same
    p = np.argmax(np.where(positive, D, -np.inf), axis=1)
    q = np.argmin(np.where(negative, D, np.inf), axis=1)
    return p, q, positive.any(axis=1) & negative.any(axis=1)


def forward(f: np.ndarray, labels: np.ndarray, margin: float) -> tuple[np.ndarray, tuple]:
    """e_n for every anchor, (N,), and the cache for backward."""
    check_margin(margin)
    labels = np.asarray(labels)
    if f.ndim != 2 or labels.shape != (f.shape[0],):
        raise ValueError(f"triplet: embeddings must be (N, d) with labels (N,), got {f.shape} and {labels.shape}")
    D = squared_distances(f)
    p, q, valid = batch_hard(D, labels)
    n = np.arange(len(labels))
    h = D[n, p] - D[n, q] + f.dtype.type(margin)
    active = valid & (h > 0)
    return np.where(active, h, 0).astype(f.dtype), (f, p, q, active)


def backward(de: np.ndarray, cache: tuple) -> np.ndarray:
    """dE/df (N, d) given de = dE/de_n (N,)."""
    f, p, q, active = cache
    if de.shape != active.shape:
        raise ValueError(f"triplet: upstream gradient has shape {de.shape}, the loss has {active.shape}")
    g = np.where(active, de, 0)
    n = np.arange(len(g))
    G = np.zeros((len(g), len(g)), dtype=f.dtype)
    np.add.at(G, (n, p), g)
    np.add.at(G, (n, q), -g)
    S = G + G.T
    return 2 * (np.sum(S, axis=1, keepdims=True) * f - S @ f)
