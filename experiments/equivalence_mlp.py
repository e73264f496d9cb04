"""Reference versus PyTorch for the study's network: activations, losses, the whole network
(outputs, s[l], x[l], delta[l], G[l]), three ways (our backward, autograd, central differences),
and whole SGD trajectories on MNIST. Each function returns results/equivalence.csv rows
(experiments.compare.compare); the tests call the same functions on generated cases.

delta[l] is compared with N * dE_in/ds[l] from autograd (the study's delta is per sample, E_in the mean).
Finite differences: h = 1e-6 in float64, truncation and rounding error ~1e-9, so they are held to
rtol 1e-6, atol 1e-8 (stated in each row).
"""

from __future__ import annotations

import numpy as np
import torch

from experiments.compare import central_difference, compare
from framework.mlp import MLP, loss as torch_loss, torch_activation
from reference.activations import get_activation
from reference.backprop import backward
from reference.forward import forward
from reference.gradient_descent import loss_value
from reference.losses import cross_entropy, cross_entropy_grad, squared_error, squared_error_grad
from reference.network import Architecture, init_weights

FD_RTOL, FD_ATOL = 1e-6, 1e-8
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


def signals_with_kinks(rng, shape, dtype) -> np.ndarray:
    """Random signals with some entries exactly 0 (ReLU's kink) and some large (saturation)."""
    s = rng.normal(0, 2, size=shape)
    s.flat[:: max(s.size // 5, 1)] = 0.0
    s.flat[1 :: max(s.size // 7, 1)] *= 20
    return s.astype(dtype)


def activation_rows(name: str, dtype=np.float64, shape=(7, 5), seed: int = 0) -> list:
    """theta and theta' (via autograd with a random upstream gradient) against PyTorch."""
    rng = np.random.default_rng(seed)
    s = signals_with_kinks(rng, shape, dtype)
    up = rng.normal(size=shape).astype(dtype)
    act = get_activation(name)
    st = torch.tensor(s, requires_grad=True)
    out = torch_activation(name)(st)
    out.backward(torch.tensor(up))
    case = f"{name}_{'x'.join(map(str, shape))}"
    return [
        compare("activation", case, "theta", act.theta(s), out, dtype),
        compare("activation", case, "theta_prime*upstream", act.theta_prime(s) * up, st.grad, dtype),
    ]


def loss_rows(loss: str, dtype=np.float64, N: int = 6, C: int = 10, seed: int = 0, scale: float = 1.0) -> list:
    """e_n, E_in and dE_in/d(input) against PyTorch; scale 1000 checks cross-entropy's stability."""
    rng = np.random.default_rng(seed)
    z = (rng.normal(size=(N, C)) * scale).astype(dtype)
    y = np.eye(C, dtype=dtype)[rng.integers(0, C, N)]
    zt = torch.tensor(z, requires_grad=True)
    if loss == "cross_entropy":
        e_ref, g_ref = cross_entropy(z, y), cross_entropy_grad(z, y) / N
        e_t = torch.nn.functional.cross_entropy(zt, torch.tensor(y), reduction="none")
    else:
        e_ref, g_ref = squared_error(z, y), squared_error_grad(z, y) / N
        e_t = ((zt - torch.tensor(y)) ** 2).sum(dim=1)
    e_t.mean().backward()
    case = f"N{N}_C{C}_scale{scale:g}"
    return [
        compare(f"loss:{loss}", case, "e_n", e_ref, e_t, dtype),
        compare(f"loss:{loss}", case, "E_in", np.array(e_ref.mean()), e_t.mean(), dtype),
        compare(f"loss:{loss}", case, "dE_in/d_input", g_ref, zt.grad, dtype),
    ]


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
        rows.append(compare(comp, case, f"G[{l}]", G[l], np.concatenate([lin.bias.grad.numpy()[None], lin.weight.grad.numpy().T]), dtype, depth=L))
    if finite_differences and dtype == np.float64:
        def E():
            out, c = forward(arch, W, x, check=False)
            return loss_value(arch, c.s[L], out, y)
        for l in range(1, L + 1):
            rows.append(compare(comp, case, f"G[{l}] vs finite differences", G[l], central_difference(E, W[l]),
                                dtype, rtol=FD_RTOL, atol=FD_ATOL))
    return rows


def trajectory(cfg: dict, mnist, steps: int, batch_size: int, seed: int = 0, every: int = 1000, progress=False):
    """Train the reference (readable path) and the PyTorch twin from identical weights and order.

    Returns (max weight difference at the end, list of (step, max weight difference)).
    """
    from experiments.mlp_run import architecture, initial_weights, order_for, prepare, rate
    from framework.mlp import train_on_batch
    from reference.gradient_descent import fixed_rate_update, mini_batches

    torch.set_num_threads(1)
    arch = architecture(cfg)
    data = prepare(cfg, mnist)
    W = initial_weights(cfg, seed)
    model = MLP(arch, W)
    Xt, Yt = torch.from_numpy(data.X_train), torch.from_numpy(data.Y_train)
    order = np.concatenate([order_for(seed, e, len(data.X_train), cfg["shuffle"]) for e in range(1, 1 + -(-steps * batch_size // len(data.X_train)))])
    history = []
    for k, idx in enumerate(mini_batches(order[: steps * batch_size], batch_size), start=1):
        x_L, cache = forward(arch, W, data.X_train[idx], check=False)
        _, G = backward(arch, W, cache, data.Y_train[idx], check=False)
        W = fixed_rate_update(W, G, rate(cfg))
        train_on_batch(model, Xt[idx], Yt[idx], rate(cfg))
        if k % every == 0 or k == steps:
            Wt = model.weights()
            history.append((k, max(float(np.abs(W[l] - Wt[l]).max()) for l in range(1, arch.L + 1))))
            if progress:
                print(f"  step {k}/{steps}: max |W_numpy - W_torch| = {history[-1][1]:.3e}", flush=True)
    return history[-1][1], history
