"""A compiled (numba) path for the study's algorithm at mini-batch size 1.

The readable NumPy reference (reference.gradient_descent.sgd_epoch at batch size 1) allocates
whole matrices at every step, which makes a 100-epoch run (6 million steps) slow (docs/speed.md).
This kernel does the same arithmetic in compiled loops:

    s[1] = W[1]^T x[0]         from the non-zero inputs only (a zero input adds exactly 0)
    x[l] = [1; theta(s[l])],   s[l+1] = W[l+1]^T x[l]
    delta[L] = 2 (x[L] - y) theta'(s[L])   or   softmax(s[L]) - y
    delta[l] = theta'(s[l]) (x) [W[l+1] delta[l+1]]_{1..d[l]}
    W[l] <- W[l] - eta (x[l-1] delta[l]^T)

Each update is rounded as the reference rounds it (eta times the product x_i delta_j); only the order
of the additions inside each signal differs, so trajectories agree to rounding (tests/test_fast_paths.py
runs both on real MNIST and records the per-step maximum weight difference).

It is not part of reference/ (which is NumPy only); it is an accelerator for the experiments.
"""

from __future__ import annotations

import numba
import numpy as np

from reference.gradient_descent import check_learning_rate, check_training
from reference.network import Architecture

ACTIVATION_CODES = {"identity": 0, "sigmoid": 1, "tanh": 2, "relu": 3}


@numba.njit(cache=True, inline="always")
def _theta(code, s):
    if code == 1:
        if s >= 0.0:
            return 1.0 / (1.0 + np.exp(-s))
        z = np.exp(s)
        return z / (1.0 + z)
    if code == 2:
        return np.tanh(s)
    if code == 3:
        return s if s > 0.0 else 0.0 * s
    return s


@numba.njit(cache=True, inline="always")
def _theta_prime(code, s, t):
    """theta'(s) given t = theta(s), already in x: sigmoid and tanh need no second exp or tanh."""
    if code == 1:
        return t * (1.0 - t)
    if code == 2:
        return 1.0 - t * t
    if code == 3:
        return 1.0 if s > 0.0 else 0.0
    return 1.0


@numba.njit(cache=True, inline="always")
def _forward(flat, offsets, d, codes, indptr, indices, values, n, s, x):
    """s[l] and x[l] for sample n; layer 1 from the sparse input (a zero input adds exactly 0)."""
    L = d.shape[0] - 1
    w = flat[offsets[1] : offsets[2]].reshape(d[0] + 1, d[1])
    for j in range(d[1]):
        s[1, j] = w[0, j]
    for k in range(indptr[n], indptr[n + 1]):
        i = indices[k]
        v = values[k]
        for j in range(d[1]):
            s[1, j] += v * w[i + 1, j]
    for l in range(1, L + 1):
        if l > 1:
            w = flat[offsets[l] : offsets[l + 1]].reshape(d[l - 1] + 1, d[l])
            for j in range(d[l]):
                s[l, j] = 0.0
            for i in range(d[l - 1] + 1):
                xi = x[l - 1, i]
                for j in range(d[l]):
                    s[l, j] += xi * w[i, j]
        x[l, 0] = 1.0
        for j in range(d[l]):
            x[l, j + 1] = _theta(codes[l], s[l, j])


@numba.njit(cache=True, inline="always")
def _output_delta(d, codes, cross_entropy, Y, n, s, x, delta, total):
    """delta[L] for sample n; returns total + its pointwise error e_n (added term by term, in order)."""
    L = d.shape[0] - 1
    e = total
    if cross_entropy:
        m = s[L, 0]
        for j in range(d[L]):
            m = max(m, s[L, j])
        z = 0.0
        for j in range(d[L]):
            z += np.exp(s[L, j] - m)
        lse = np.log(z)
        for j in range(d[L]):
            delta[L, j] = np.exp(s[L, j] - m - lse) - Y[n, j]
            e -= Y[n, j] * (s[L, j] - m - lse)
    else:
        for j in range(d[L]):
            r = x[L, j + 1] - Y[n, j]
            e += r * r
            delta[L, j] = 2.0 * r * _theta_prime(codes[L], s[L, j], x[L, j + 1])
    return e


@numba.njit(cache=True, inline="always")
def _back_signals(w, dl, n_units, out):
    """out[i] = sum over j, in order, of w[i + 1, j] dl[j], for i < n_units: eight sums at a time, so that eight
    independent chains of additions overlap (one chain waits on each addition's latency); each sum keeps its
    order, so the result is bitwise that of one sum at a time (measured 0.87-0.91x the time per step)."""
    m = n_units - n_units % 8
    for i in range(0, m, 8):
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
        for j in range(dl.shape[0]):
            dj = dl[j]
            a0 += w[i + 1, j] * dj
            a1 += w[i + 2, j] * dj
            a2 += w[i + 3, j] * dj
            a3 += w[i + 4, j] * dj
            a4 += w[i + 5, j] * dj
            a5 += w[i + 6, j] * dj
            a6 += w[i + 7, j] * dj
            a7 += w[i + 8, j] * dj
        out[i], out[i + 1], out[i + 2], out[i + 3] = a0, a1, a2, a3
        out[i + 4], out[i + 5], out[i + 6], out[i + 7] = a4, a5, a6, a7
    for i in range(m, n_units):
        acc = 0.0
        for j in range(dl.shape[0]):
            acc += w[i + 1, j] * dl[j]
        out[i] = acc


@numba.njit(cache=True, inline="always")
def _backward_update(flat, offsets, d, codes, eta, indptr, indices, values, n, s, x, delta):
    """Layer L down to 2 (delta[l-1] from W[l] before its update), then layer 1's bias row and the rows
    of sample n's non-zero inputs."""
    L = d.shape[0] - 1
    for l in range(L, 1, -1):
        w = flat[offsets[l] : offsets[l + 1]].reshape(d[l - 1] + 1, d[l])
        _back_signals(w, delta[l, : d[l]], d[l - 1], delta[l - 1])
        for i in range(d[l - 1]):
            delta[l - 1, i] = _theta_prime(codes[l - 1], s[l - 1, i], x[l - 1, i + 1]) * delta[l - 1, i]
        for i in range(d[l - 1] + 1):
            xi = x[l - 1, i]
            for j in range(d[l]):
                w[i, j] -= eta * (xi * delta[l, j])
    w = flat[offsets[1] : offsets[2]].reshape(d[0] + 1, d[1])
    for j in range(d[1]):
        w[0, j] -= eta * delta[1, j]
    for k in range(indptr[n], indptr[n + 1]):
        i = indices[k]
        v = values[k]
        for j in range(d[1]):
            w[i + 1, j] -= eta * (v * delta[1, j])


@numba.njit(cache=True)
def _epoch(flat, offsets, d, codes, cross_entropy, eta, indptr, indices, values, Y, order, s, x, delta):
    """One epoch over `order`, updating `flat` (all W[l], row-major, back to back) in place.

    s, x, delta: work arrays (L + 1, max d + 1). Returns the sum of the pointwise errors e_n.
    """
    total = 0.0
    for n in order:
        _forward(flat, offsets, d, codes, indptr, indices, values, n, s, x)
        total = _output_delta(d, codes, cross_entropy, Y, n, s, x, delta, total)
        _backward_update(flat, offsets, d, codes, eta, indptr, indices, values, n, s, x, delta)
    return total


class SparseRows:
    """X in compressed sparse row form: sample n's non-zero inputs are indices[indptr[n]:indptr[n+1]]."""

    def __init__(self, X: np.ndarray):
        nz = X != 0
        self.indptr = np.concatenate([[0], np.cumsum(nz.sum(axis=1))]).astype(np.int64)
        self.indices = np.nonzero(nz)[1].astype(np.int64)
        self.values = X[nz]


def pack_weights(W: list) -> tuple[np.ndarray, np.ndarray, list]:
    """Copy W[1..L] into one flat buffer; return (flat, offsets, views) with views[l] = W[l] in flat."""
    sizes = [0] + [w.size for w in W[1:]]
    offsets = np.concatenate([[0, 0], np.cumsum(sizes[1:])]).astype(np.int64)
    flat = np.empty(int(offsets[-1]), dtype=W[1].dtype)
    views = [None]
    for l in range(1, len(W)):
        v = flat[offsets[l] : offsets[l + 1]].reshape(W[l].shape)
        v[...] = W[l]
        views.append(v)
    return flat, offsets, views


class FastBatch1Trainer:
    """Trains W (copied in) with the compiled kernel; `W` holds views of the live weights."""

    def __init__(self, arch: Architecture, W: list, X: np.ndarray, Y: np.ndarray):
        check_training(arch, W, X, Y)
        if W[1].dtype != np.float64:
            raise TypeError(f"the compiled path runs in float64 only, got {W[1].dtype}")
        for name in (arch.hidden, arch.output):
            if name not in ACTIVATION_CODES:
                raise ValueError(f"the compiled path has no activation {name!r}; it has {sorted(ACTIVATION_CODES)}")
        self.arch = arch
        self.flat, self.offsets, self.W = pack_weights(W)
        self.d = np.array(arch.d, dtype=np.int64)
        codes = [0] + [ACTIVATION_CODES[arch.theta(l).name] for l in range(1, arch.L + 1)]
        self.codes = np.array(codes, dtype=np.int64)
        self.rows = SparseRows(X)
        self.Y = np.ascontiguousarray(Y, dtype=np.float64)
        width = max(arch.d) + 1
        self._work = [np.zeros((arch.L + 1, width)) for _ in range(3)]

    def epoch(self, eta: float, order: np.ndarray) -> float:
        """One epoch of SGD at batch size 1 over `order`; returns the mean pointwise error (E_in)."""
        check_learning_rate(eta)
        order = np.ascontiguousarray(order, dtype=np.int64)
        total = _epoch(self.flat, self.offsets, self.d, self.codes, self.arch.loss == "cross_entropy",
                       float(eta), self.rows.indptr, self.rows.indices, self.rows.values, self.Y, order, *self._work)
        return total / max(len(order), 1)
