"""The study's whole network against PyTorch: x[L], s[l], x[l], delta[l], G[l], E_in, against
autograd and (small networks, float64) central differences of E_in with respect to every W[l].

delta[l] is compared with N * dE_in/ds[l] from autograd (the study's delta is per sample, E_in the
mean). Finite differences use check.py's h and tolerances (quantity "G[l] vs finite differences").
"""

from __future__ import annotations

import numpy as np
import torch

from experiments.equivalence.check import CD_ATOL, CD_RTOL, central_difference, compare
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
        for l in range(1, L + 1):
            rows.append(compare(comp, case, f"G[{l}] vs finite differences", G[l], central_difference(E, W[l]),
                                dtype, rtol=CD_RTOL, atol=CD_ATOL))
    return rows


def rows(quick: bool = False) -> list[dict]:
    """Every network row; finite differences on the small networks only (cost)."""
    out = []
    for dtype in (np.float64, np.float32):
        for i, (d, h, o, loss, N) in enumerate(NETWORK_CASES):
            out += network_rows(d, h, o, loss, N, dtype, seed=i, finite_differences=max(d) < 100)
    return out
