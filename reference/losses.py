"""Error measures (study 1.3.3): the pointwise error e and the in-sample error E_in = mean over N.

Two losses, each a pure function of the final layer's signal s[L] (or output x[L]) and targets y:

- squared error:  e_n = sum_j (x[L]_nj - y_nj)^2,  E_in = (1/N) sum_n e_n,
  with de_n/dx[L] = 2 (x[L] - y); the study's delta[L] = 2 (x[L] - y) theta'(s[L]).
- softmax cross-entropy on the logits s[L] (the output activation is the identity):
  e_n = -sum_j y_nj log softmax(s[L])_nj,  and de_n/ds[L] = softmax(s[L]) - y.
  The log-softmax is computed with the log-sum-exp shift, so logits of +-1000 are exact.

`y` is always (N, d[L]): one-hot (or any target vectors) for both losses.
"""

from __future__ import annotations

import numpy as np


def squared_error(x_L: np.ndarray, y: np.ndarray) -> np.ndarray:
    """e_n = sum_j (x[L]_nj - y_nj)^2 for every sample: (N, d[L]) -> (N,)."""
    r = x_L - y
    return np.sum(r * r, axis=1)


def squared_error_grad(x_L: np.ndarray, y: np.ndarray) -> np.ndarray:
    """de_n / dx[L] = 2 (x[L] - y): (N, d[L])."""
    return 2.0 * (x_L - y)


def log_softmax(s: np.ndarray) -> np.ndarray:
    """log softmax(s)_j = s_j - max(s) - log sum_k exp(s_k - max(s)), row by row."""
    shifted = s - np.max(s, axis=1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))


def softmax(s: np.ndarray) -> np.ndarray:
    """softmax(s)_j = exp(s_j) / sum_k exp(s_k), row by row, shift-stable."""
    return np.exp(log_softmax(s))


def cross_entropy(s_L: np.ndarray, y: np.ndarray) -> np.ndarray:
    """e_n = -sum_j y_nj log softmax(s[L])_nj: (N, d[L]) -> (N,)."""
    return -np.sum(y * log_softmax(s_L), axis=1)


def cross_entropy_grad(s_L: np.ndarray, y: np.ndarray) -> np.ndarray:
    """de_n / ds[L] = softmax(s[L]) - y (for targets whose rows sum to 1): (N, d[L])."""
    return softmax(s_L) - y


def E_in(e: np.ndarray) -> float:
    """E_in = (1/N) sum_n e_n."""
    return float(np.mean(e))


LOSSES = ("squared_error", "cross_entropy")
