"""Error measures (study 1.3.3): the pointwise error e_n, E_in = (1/N) sum_n e_n, and delta[L].

A loss is an object Loss(name, e, delta) like an activation (one table, LOSSES, keyed by name):

    e(s[L], x[L], y)                  -> e_n for every sample, (N,)
    delta(s[L], x[L], y, theta_prime) -> delta[L] = de_n/ds[L], (N, d[L])

- squared error:  e_n = sum_j (x[L]_nj - y_nj)^2,  delta[L] = 2 (x[L] - y) (x) theta'(s[L]).
- softmax cross-entropy on the logits s[L] (the output activation must be the identity), with
  optional label smoothing eps in [0, 1] exactly as torch's F.cross_entropy(label_smoothing=eps):
      y'   = (1 - eps) y + eps / d[L]                       (the smoothed targets)
      e_n  = -sum_j y'_nj log softmax(s[L])_nj
      delta[L] = softmax(s[L]) (sum_j y'_nj) - y'           (= softmax - y' when rows of y' sum to 1)
  The row sum matters for soft targets whose rows do not sum to 1: d/ds_k of -sum_j y_j log p_j is
  p_k sum_j y_j - y_k. The log-softmax uses the log-sum-exp shift, so logits of +-1000 are exact.

`y` is always (N, d[L]): one-hot (or any target vectors) for both losses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

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


def check_label_smoothing(eps: float) -> None:
    """eps must lie in [0, 1] (torch raises "label_smoothing must be between 0.0 and 1.0" above 1)."""
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0, got {eps}")


def smoothed_targets(y: np.ndarray, eps: float) -> np.ndarray:
    """y' = (1 - eps) y + eps / d[L] (torch's label smoothing, also for soft targets); y itself at eps 0."""
    check_label_smoothing(eps)
    if eps == 0.0:
        return y
    return (1.0 - eps) * y + y.dtype.type(eps / y.shape[1])


def cross_entropy(s_L: np.ndarray, y: np.ndarray, label_smoothing: float = 0.0) -> np.ndarray:
    """e_n = -sum_j y'_nj log softmax(s[L])_nj with y' the smoothed targets: (N, d[L]) -> (N,)."""
    return -np.sum(smoothed_targets(y, label_smoothing) * log_softmax(s_L), axis=1)


def cross_entropy_grad(s_L: np.ndarray, y: np.ndarray, label_smoothing: float = 0.0) -> np.ndarray:
    """de_n / ds[L] = softmax(s[L]) (sum_j y'_nj) - y': (N, d[L]) (any targets, soft or not summing to 1)."""
    t = smoothed_targets(y, label_smoothing)
    return softmax(s_L) * np.sum(t, axis=1, keepdims=True) - t


def E_in(e: np.ndarray) -> float:
    """E_in = (1/N) sum_n e_n."""
    return float(np.mean(e))


@dataclass(frozen=True)
class Loss:
    """A named error measure: e(s[L], x[L], y) -> (N,) and delta(s[L], x[L], y, theta_prime) -> (N, d[L]).

    on_signal: e reads the signal s[L] itself (softmax inside), so the output activation must be the
    identity. label_smoothing: eps of the cross-entropy (0 for the study's losses).
    """

    name: str
    e: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    delta: Callable[[np.ndarray, np.ndarray, np.ndarray, Callable], np.ndarray]
    on_signal: bool = False
    label_smoothing: float = 0.0


def _squared_error_e(s_L, x_L, y):
    return squared_error(x_L, y)


def _squared_error_delta(s_L, x_L, y, theta_prime):
    return squared_error_grad(x_L, y) * theta_prime(s_L)


def _cross_entropy_e(s_L, x_L, y, label_smoothing=0.0):
    return cross_entropy(s_L, y, label_smoothing)


def _cross_entropy_delta(s_L, x_L, y, theta_prime, label_smoothing=0.0):
    return cross_entropy_grad(s_L, y, label_smoothing)


LOSSES: dict[str, Loss] = {
    "squared_error": Loss("squared_error", _squared_error_e, _squared_error_delta),
    "cross_entropy": Loss("cross_entropy", _cross_entropy_e, _cross_entropy_delta, on_signal=True),
}


def get_loss(name: str, label_smoothing: float = 0.0) -> Loss:
    """Look up a loss by name (unknown names raise ValueError listing the known ones).

    label_smoothing > 0 gives the cross-entropy with torch's label smoothing; other losses refuse it.
    """
    try:
        loss = LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {name!r}; known losses: {', '.join(LOSSES)}") from None
    if label_smoothing == 0.0:
        return loss
    if name != "cross_entropy":
        raise ValueError(f"label_smoothing applies to the cross_entropy loss only, got loss {name!r} "
                         f"with label_smoothing {label_smoothing}")
    check_label_smoothing(label_smoothing)
    return replace(loss, e=partial(_cross_entropy_e, label_smoothing=label_smoothing),
                   delta=partial(_cross_entropy_delta, label_smoothing=label_smoothing),
                   label_smoothing=float(label_smoothing))
