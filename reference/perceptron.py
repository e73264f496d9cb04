"""The perceptron and the perceptron learning algorithm (study 1.1-1.2; Learning From Data 1.1.2).

    h(x) = sign(w^T x),   x = [x_0 = 1, x_1, ..., x_d],   w = [w_0, w_1, ..., w_d]

w_0 is the bias weight (the study's -threshold).  Rows are samples: a data set X is (N, d)
*without* the bias coordinate; :func:`add_bias` prepends x_0 = 1, giving (N, d + 1), and every
function here takes X without it and w with it (length d + 1).

sign(0) = 0 (``np.sign``), and the labels are y_n in {-1, +1}, so a point exactly on the boundary,
w^T x_n = 0, has h(x_n) = 0 != y_n and counts as misclassified.  In particular PLA started from
w = 0 sees every point as misclassified, as in Learning From Data.

PLA: while some n has sign(w^T x_n) != y_n, pick one such n and update

    w(t + 1) = w(t) + y_n x_n.

On linearly separable data it stops after at most R^2 ||w*||^2 / rho^2 updates (Novikoff), with
R = max_n ||x_n|| and rho = min_n y_n w*^T x_n for any separating w*.  On XOR it never stops; two
layers of perceptrons with hand-set weights compute XOR exactly (:func:`xor_network`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _as_float_array(a, what: str) -> np.ndarray:
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what} must be numeric: {e}") from e
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(
            f"{what} has {int(bad.sum())} non-finite value(s) (NaN or inf), "
            f"first at index {tuple(int(i) for i in np.argwhere(bad)[0])}"
        )
    return arr


def check_X(X, what: str = "X") -> np.ndarray:
    """X as a finite float64 (N, d) array, N >= 1 (one sample per row, no bias column)."""
    X = _as_float_array(X, what)
    if X.ndim != 2:
        raise ValueError(f"{what} must be 2-D (N, d) with one sample per row, got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{what} has no samples (shape {X.shape})")
    return X


def check_w(w, d: int) -> np.ndarray:
    """w as a finite float64 vector of length d + 1 (w_0 is the bias weight)."""
    w = _as_float_array(w, "w")
    if w.ndim != 1:
        raise ValueError(f"w must be a vector of length d + 1, got shape {w.shape}")
    if w.shape[0] != d + 1:
        raise ValueError(
            f"w has {w.shape[0]} weights but X has d = {d} columns, so w needs d + 1 = {d + 1} "
            "(w_0 is the bias weight; pass X without the bias column)"
        )
    return w


def check_y(y, N: int) -> np.ndarray:
    """y as a float64 vector of N labels, each -1 or +1."""
    y = _as_float_array(y, "labels y")
    if y.shape != (N,):
        raise ValueError(f"labels y must have shape ({N},) to match X's {N} rows, got shape {y.shape}")
    bad = (y != 1) & (y != -1)
    if bad.any():
        values = np.unique(y[bad])[:5].tolist()
        raise ValueError(
            f"labels y must be -1 or +1; {int(bad.sum())} of {N} are not, e.g. {values}"
        )
    return y


# --------------------------------------------------------------------------------------------
# The perceptron
# --------------------------------------------------------------------------------------------


def add_bias(X) -> np.ndarray:
    """[1, X]: prepend the bias coordinate x_0 = 1.  (N, d) -> (N, d + 1)."""
    X = check_X(X)
    return np.hstack([np.ones((X.shape[0], 1)), X])


def signal(w, X) -> np.ndarray:
    """s_n = w^T x_n with x_0 = 1.  w: (d + 1,), X: (N, d) -> (N,)."""
    X = check_X(X)
    w = check_w(w, X.shape[1])
    return add_bias(X) @ w


def h(w, X) -> np.ndarray:
    """h(x_n) = sign(w^T x_n), values in {-1, 0, +1} (0 exactly on the boundary).  -> (N,)."""
    return np.sign(signal(w, X))


def misclassified(w, X, y) -> np.ndarray:
    """Boolean mask of sign(w^T x_n) != y_n; a point with w^T x_n = 0 is misclassified.  -> (N,)."""
    X = check_X(X)
    y = check_y(y, X.shape[0])
    return h(w, X) != y


def E_in(w, X, y) -> float:
    """In-sample error E_in(w) = (1/N) sum_n [sign(w^T x_n) != y_n]."""
    return float(np.mean(misclassified(w, X, y)))


def pla_update(w, x_n, y_n) -> np.ndarray:
    """One PLA step w(t + 1) = w(t) + y_n x_n, x_n = [1, x_n] of shape (d + 1,).

    ``x_n`` is one sample *without* the bias coordinate, shape (d,).
    """
    x_n = check_X(np.atleast_2d(x_n), "x_n")
    if x_n.shape[0] != 1:
        raise ValueError(f"x_n must be one sample of shape (d,), got shape {np.shape(x_n)}")
    w = check_w(w, x_n.shape[1])
    y_n = float(check_y(np.atleast_1d(y_n), 1)[0])
    return w + y_n * add_bias(x_n)[0]


@dataclass(frozen=True)
class PLAResult:
    """Outcome of :func:`pla`.

    w: final weights (d + 1,); updates: number of updates t made; converged: True when no point
    is misclassified by w; errors: (updates + 1,) int array, errors[t] = number of misclassified
    points under w(t), so errors[0] is for the start and errors[-1] for the returned w.
    """

    w: np.ndarray
    updates: int
    converged: bool
    errors: np.ndarray


def pla(X, y, w0=None, max_iterations: int = 1000, seed: int | np.random.Generator | None = None) -> PLAResult:
    """Perceptron learning algorithm.

    Starting from w(0) = ``w0`` (default 0), repeat: if no n has sign(w^T x_n) != y_n, stop
    (converged); otherwise pick a misclassified n and set w(t + 1) = w(t) + y_n x_n.  At most
    ``max_iterations`` updates.  The pick is deterministic: the first misclassified point when
    ``seed`` is None, else a uniform choice among the misclassified points drawn from
    ``np.random.default_rng(seed)``.

    X: (N, d) without bias column; y: (N,) in {-1, +1}; w0: (d + 1,).
    """
    X = check_X(X)
    N, d = X.shape
    y = check_y(y, N)
    w = np.zeros(d + 1) if w0 is None else check_w(w0, d).copy()
    if isinstance(max_iterations, bool) or not isinstance(max_iterations, (int, np.integer)) or max_iterations < 0:
        raise ValueError(f"max_iterations must be an integer >= 0, got {max_iterations!r}")
    rng = None if seed is None else np.random.default_rng(seed)
    Xb = add_bias(X)
    errors = []
    updates = 0
    while True:
        wrong = np.flatnonzero(np.sign(Xb @ w) != y)
        errors.append(wrong.size)
        if wrong.size == 0 or updates == max_iterations:
            break
        n = wrong[0] if rng is None else rng.choice(wrong)
        w = w + y[n] * Xb[n]
        updates += 1
    return PLAResult(w=w, updates=updates, converged=errors[-1] == 0, errors=np.array(errors))


# --------------------------------------------------------------------------------------------
# XOR from perceptrons (inputs and outputs in {-1, +1}, +1 = true)
# --------------------------------------------------------------------------------------------

#: The four XOR points and labels: XOR(x_1, x_2) = +1 iff x_1 != x_2.
XOR_X = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
XOR_y = np.array([-1.0, 1.0, 1.0, -1.0])

#: OR(x_1, x_2) = sign(1.5 + x_1 + x_2) and AND(x_1, x_2) = sign(-1.5 + x_1 + x_2) (LFD e-7.1).
w_OR = np.array([1.5, 1.0, 1.0])
w_AND = np.array([-1.5, 1.0, 1.0])

#: Hidden layer, W of shape (d[0] + 1, d[1]) = (3, 2), row 0 the bias:
#: column 1 is AND(x_1, not x_2) = sign(-1.5 + x_1 - x_2), column 2 AND(not x_1, x_2).
W_XOR_HIDDEN = np.array([[-1.5, -1.5], [1.0, -1.0], [-1.0, 1.0]])
#: Output perceptron OR(h_1, h_2) = sign(1.5 + h_1 + h_2), shape (3,).
w_XOR_OUT = w_OR


def perceptron_layer(X, W) -> np.ndarray:
    """Several perceptrons side by side: sign([1, X] W).  X: (N, d), W: (d + 1, m) -> (N, m)."""
    X = check_X(X)
    W = _as_float_array(W, "W")
    if W.ndim != 2 or W.shape[0] != X.shape[1] + 1:
        raise ValueError(
            f"W has shape {W.shape} but X has d = {X.shape[1]} columns, so W needs shape "
            f"({X.shape[1] + 1}, m) (row 0 is the bias)"
        )
    return np.sign(add_bias(X) @ W)


def check_boolean_inputs(X) -> np.ndarray:
    """X as an (N, 2) array with entries -1 or +1 (the encoding the XOR weights assume)."""
    X = check_X(X)
    if X.shape[1] != 2:
        raise ValueError(f"XOR takes 2 inputs per row, got X of shape {X.shape}")
    bad = (X != 1) & (X != -1)
    if bad.any():
        raise ValueError(
            f"XOR inputs must be -1 or +1 (not 0/1); {int(bad.sum())} entries are not, "
            f"e.g. {np.unique(X[bad])[:5].tolist()}"
        )
    return X


def xor_network(X) -> np.ndarray:
    """XOR(x_1, x_2) = OR(AND(x_1, not x_2), AND(not x_1, x_2)) from perceptrons.

    hidden = sign([1, X] W_XOR_HIDDEN)  (N, 2);  output = sign([1, hidden] w_XOR_OUT)  (N,).
    X: (N, 2) with entries in {-1, +1}; returns (N,) in {-1, +1}.
    """
    X = check_boolean_inputs(X)
    return h(w_XOR_OUT, perceptron_layer(X, W_XOR_HIDDEN))
