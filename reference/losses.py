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

- additive-margin softmax (CosFace, Wang et al. 2018) on cosines s[L] = cos (reference/cosine.py),
  scale s > 0 and margin m >= 0, one-hot y:
      z    = s (cos - m y)                                  (the margin taken off the true class's cosine)
      e_n  = -sum_j y_nj log softmax(z)_nj
      delta[L] = s (softmax(z) - y)

- additive angular margin softmax (ArcFace, Deng et al. 2019) on cosines, scale s > 0, margin m in [0, pi):
      z    = s cos with the true class's cos(theta_y) replaced by phi = cos(theta_y + m)  (reference/arcface.py:
             the threshold t = cos(pi - m) and the fallback below it, the easy margin, the clamp at |cos| -> 1)
      e_n  = -sum_j y_nj log softmax(z)_nj
      delta[L] = s (softmax(z) - y), the true class's entry times phi'(cos_y)

- the triplet loss with batch-hard mining (Hermans et al. 2017) on L2-normalised embeddings s[L] (N, d),
  margin m >= 0 (reference/triplet.py): e_n = max(0, D_n,p(n) - D_n,q(n) + m). A pairwise loss: e_n reads
  other rows of the batch, so y is the class labels (N,) and delta[L] = d(sum_n e_n)/ds[L].

`y` is (N, d[L]): one-hot (or any target vectors; one-hot for the margin softmaxes), except for a pairwise
loss, where it is the class labels (N,).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from reference import arcface, triplet


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
    identity. label_smoothing: eps of the cross-entropy (0 for the study's losses). pairwise: e_n compares
    the rows of the batch with each other (an embedding loss), y is the labels (N,) and delta is
    d(sum_n e_n)/ds[L].
    """

    name: str
    e: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    delta: Callable[[np.ndarray, np.ndarray, np.ndarray, Callable], np.ndarray]
    on_signal: bool = False
    label_smoothing: float = 0.0
    scale: float = 1.0   # s of the margin softmax
    margin: float = 0.0  # m of the margin softmax (of ArcFace, in radians; of the triplet loss)
    easy_margin: bool = False  # ArcFace: no margin for cosines <= 0 (reference/arcface.py)
    pairwise: bool = False


def _squared_error_e(s_L, x_L, y):
    return squared_error(x_L, y)


def _squared_error_delta(s_L, x_L, y, theta_prime):
    return squared_error_grad(x_L, y) * theta_prime(s_L)


def _cross_entropy_e(s_L, x_L, y, label_smoothing=0.0):
    return cross_entropy(s_L, y, label_smoothing)


def _cross_entropy_delta(s_L, x_L, y, theta_prime, label_smoothing=0.0):
    return cross_entropy_grad(s_L, y, label_smoothing)


def check_margin(scale: float, margin: float) -> None:
    """The margin softmax needs scale s > 0 and margin m >= 0."""
    if not scale > 0:
        raise ValueError(f"am_softmax: scale s must be > 0, got {scale}")
    if not margin >= 0:
        raise ValueError(f"am_softmax: margin m must be >= 0, got {margin}")


def margin_logits(cos: np.ndarray, y: np.ndarray, scale: float, margin: float) -> np.ndarray:
    """z = s (cos - m y): (N, d[L])."""
    check_margin(scale, margin)
    if cos.shape != y.shape:
        raise ValueError(f"am_softmax: cosines {cos.shape} and targets {y.shape} must have the same shape")
    return cos.dtype.type(scale) * (cos - cos.dtype.type(margin) * y)


def am_softmax_e(s_L, x_L, y, scale=30.0, margin=0.35):
    """e_n = -sum_j y_nj log softmax(s (cos - m y))_nj."""
    return cross_entropy(margin_logits(s_L, y, scale, margin), y)


def am_softmax_delta(s_L, x_L, y, theta_prime, scale=30.0, margin=0.35):
    """delta[L] = s (softmax(s (cos - m y)) - y)."""
    return s_L.dtype.type(scale) * cross_entropy_grad(margin_logits(s_L, y, scale, margin), y)


def am_softmax(scale: float = 30.0, margin: float = 0.35) -> Loss:
    """The additive-margin softmax loss with scale s and margin m (ValueError unless s > 0, m >= 0)."""
    check_margin(scale, margin)
    return Loss("am_softmax", partial(am_softmax_e, scale=scale, margin=margin),
                partial(am_softmax_delta, scale=scale, margin=margin), on_signal=True, scale=float(scale),
                margin=float(margin))


def arcface_e(s_L, x_L, y, scale=64.0, margin=0.5, easy_margin=False):
    """e_n = -sum_j y_nj log softmax(z)_nj, z the ArcFace logits (reference/arcface.py)."""
    return cross_entropy(arcface.forward(s_L, y, scale, margin, easy_margin)[0], y)


def arcface_delta(s_L, x_L, y, theta_prime, scale=64.0, margin=0.5, easy_margin=False):
    """delta[L] = s (softmax(z) - y), the true class's entry times phi'(cos_y)."""
    z, cache = arcface.forward(s_L, y, scale, margin, easy_margin)
    return arcface.backward(cross_entropy_grad(z, y), cache)


def arcface_loss(scale: float = 64.0, margin: float = 0.5, easy_margin: bool = False) -> Loss:
    """The additive angular margin loss (ValueError unless s > 0 and 0 <= m < pi); the paper's s 64, m 0.5."""
    arcface.check_margin(scale, margin)
    kw = {"scale": scale, "margin": margin, "easy_margin": bool(easy_margin)}
    return Loss("arcface", partial(arcface_e, **kw), partial(arcface_delta, **kw), on_signal=True,
                scale=float(scale), margin=float(margin), easy_margin=bool(easy_margin))


def triplet_e(s_L, x_L, labels, margin=0.2):
    """e_n = max(0, D_n,p(n) - D_n,q(n) + m), batch-hard (reference/triplet.py)."""
    return triplet.forward(s_L, labels, margin)[0]


def triplet_delta(s_L, x_L, labels, theta_prime, margin=0.2):
    """delta[L] = d(sum_n e_n)/ds[L] (every anchor's e_n reaches its positive's and negative's rows)."""
    e, cache = triplet.forward(s_L, labels, margin)
    return triplet.backward(np.ones_like(e), cache)


def triplet_loss(margin: float = 0.2) -> Loss:
    """The batch-hard triplet loss with margin m >= 0 on squared distances of L2-normalised embeddings."""
    triplet.check_margin(margin)
    return Loss("triplet", partial(triplet_e, margin=margin), partial(triplet_delta, margin=margin), on_signal=True,
                margin=float(margin), pairwise=True)


LOSSES: dict[str, Loss] = {
    "squared_error": Loss("squared_error", _squared_error_e, _squared_error_delta),
    "cross_entropy": Loss("cross_entropy", _cross_entropy_e, _cross_entropy_delta, on_signal=True),
    "am_softmax": am_softmax(),
    "arcface": arcface_loss(),
    "triplet": triplet_loss(),
}


STUDY_LOSSES = ("squared_error", "cross_entropy")  # the study network's; the margin softmax needs cosines


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
