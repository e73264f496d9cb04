"""The study's whole network against PyTorch: x[L], s[l], x[l], delta[l], G[l], E_in, against
autograd and (small networks, float64) central differences of E_in with respect to every W[l].

delta[l] is compared with N * dE_in/ds[l] from autograd (the study's delta is per sample, E_in the
mean). Finite differences use check.py's h and tolerances (quantity "G[l] vs finite differences"), with
atol raised to the estimate's rounding bound 2 |fl(E_in) - E_in| / 2h where that is larger; the bound on
|fl(E_in) - E_in| is carried through the forward pass by `rounding_bound`.
"""

from __future__ import annotations

import numpy as np
import torch

from experiments.equivalence.check import CD_ATOL, CD_H, CD_RTOL, central_difference, compare
from framework.mlp import MLP
from framework.mlp import loss as torch_loss
from reference.backprop import backward
from reference.forward import forward
from reference.gradient_descent import loss_value
from reference.network import Architecture, init_weights

NETWORK_CASES = (  # (d, hidden, output, loss, N)
    ((784, 128, 64, 10), "tanh", "tanh", "squared_error", 1),
    ((784, 128, 64, 10), "sigmoid", "identity", "cross_entropy", 4),
    ((7, 5, 3), "tanh", "sigmoid", "squared_error", 1),
    ((7, 5, 3), "relu", "identity", "cross_entropy", 6),
    ((6, 9, 4, 2), "sigmoid", "tanh", "squared_error", 5),
    ((3, 8, 5, 4, 6), "relu", "identity", "squared_error", 2),
)


def network_case(d, hidden, output, loss, N, dtype, seed):
    """Architecture, weights, inputs and targets for one generated case (non-symmetric, random)."""
    arch = Architecture(tuple(d), hidden, output, loss)
    rng = np.random.default_rng(seed)
    W = init_weights(arch, rng, "lecun_normal", 1.5, dtype)
    x = rng.normal(size=(N, d[0])).astype(dtype)
    if loss == "cross_entropy":
        y = np.eye(d[-1], dtype=dtype)[rng.integers(0, d[-1], N)]
    else:
        y = rng.uniform(-1, 1, size=(N, d[-1])).astype(dtype)
    return arch, W, x, y


def rounding_bound(arch: Architecture, W: list, cache, y: np.ndarray) -> float:
    """A first-order bound on |fl(E_in) - E_in| in float64, carried layer by layer.

    A product fl(x W) errs by at most gamma_n |x| |W| ~ n u |x| |W| with n = d[l-1] + 1 terms and u = eps/2
    (Higham, Accuracy and Stability, 3.5), so with e[l] bounding the error of x[l]:
        e_s[l] = e[l-1] |W[l]| + n u |x[l-1]| |W[l]|,   e[l] = e_s[l] + 4 eps |x[l]|
    (every theta here is 1-Lipschitz; 4 eps covers exp, tanh and the divisions). Then
        squared error:  |dE| <= (1/N) sum 2 |x[L] - y| e[L] + (d[L] + 3) eps E_in
        cross entropy:  |dE| <= (1/N) sum_n (2 max_j e_s[L]_nj + 8 eps (max_j |s[L]_nj| + log d[L]))
    (|softmax - y|_1 <= 2; log-softmax costs a few ulps of its largest term).
    """
    eps = np.finfo(np.float64).eps
    u = eps / 2
    L, N = arch.L, cache.x[0].shape[0]
    e = np.zeros_like(cache.x[0], dtype=np.float64)
    for l in range(1, L + 1):
        absW = np.abs(W[l]).astype(np.float64)
        e_s = e @ absW + W[l].shape[0] * u * (np.abs(cache.x[l - 1]) @ absW)
        x_l = cache.x[l] if l == L else cache.x[l][:, 1:]
        e_x = e_s + 4 * eps * np.abs(x_l)
        e = e_x if l == L else np.concatenate([np.zeros((N, 1)), e_x], axis=1)
    if arch.loss == "squared_error":
        r = np.abs(cache.x[L] - y)
        return float(np.sum(2 * r * e) / N + (arch.d[L] + 3) * eps * np.sum(r * r) / N)
    s_L = np.abs(cache.s[L])
    return float(np.sum(2 * e_s.max(axis=1) + 8 * eps * (s_L.max(axis=1) + np.log(arch.d[L]))) / N)


def network_rows(d=(5, 4, 3), hidden="tanh", output="sigmoid", loss="squared_error", N=3,
                 dtype=np.float64, seed=0, finite_differences=True) -> list:
    """The whole network: x[L], s[l], x[l], delta[l], G[l] against autograd (and finite differences)."""
    arch, W, x, y = network_case(d, hidden, output, loss, N, dtype, seed)
    x_L, cache = forward(arch, W, x)
    delta, G = backward(arch, W, cache, y)
    model = MLP(arch, W)
    s_t, outs_t = model.signals(torch.tensor(x))
    E_t = torch_loss(arch, s_t[-1], outs_t[-1], torch.tensor(y))
    E_t.backward()
    case = f"{'-'.join(map(str, d))}_{hidden}_{output}_{loss}_N{N}"
    comp = f"network:{loss}"
    L = arch.L
    rows = [compare(comp, case, "E_in", np.array(loss_value(arch, cache.s[L], x_L, y)), E_t, dtype, depth=L),
            compare(comp, case, "x[L]", x_L, outs_t[-1], dtype, depth=L)]
    for l in range(1, L + 1):
        rows.append(compare(comp, case, f"s[{l}]", cache.s[l], s_t[l], dtype, depth=l))
        if l < L:
            rows.append(compare(comp, case, f"x[{l}]", cache.x[l][:, 1:], outs_t[l], dtype, depth=l))
        rows.append(compare(comp, case, f"delta[{l}]", delta[l], s_t[l].grad * N, dtype, depth=L - l + 1))
        lin = model.linears[l - 1]
        G_t = np.concatenate([lin.bias.grad.numpy()[None], lin.weight.grad.numpy().T])
        rows.append(compare(comp, case, f"G[{l}]", G[l], G_t, dtype, depth=L))
    if finite_differences and dtype == np.float64:
        def E():
            out, c = forward(arch, W, x, check=False)
            return loss_value(arch, c.s[L], out, y)
        bound = 2 * rounding_bound(arch, W, cache, y) / (2 * CD_H)
        atol = max(CD_ATOL, bound)
        for l in range(1, L + 1):
            row = compare(comp, case, f"G[{l}] vs finite differences", G[l], central_difference(E, W[l]),
                          dtype, rtol=CD_RTOL, atol=atol)
            if atol > CD_ATOL:
                row["tolerance"] += f" (atol = 2 |fl(E_in) - E_in| / 2h, the forward pass's rounding bound {bound:.3g})"
            rows.append(row)
    return rows


def rows(quick: bool = False) -> list[dict]:
    """Every network row; finite differences on the small networks only (cost)."""
    out = []
    for dtype in (np.float64, np.float32):
        for i, (d, h, o, loss, N) in enumerate(NETWORK_CASES):
            out += network_rows(d, h, o, loss, N, dtype, seed=i, finite_differences=max(d) < 100)
    return out
