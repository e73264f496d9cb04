"""Equivalence rows for the convolutional layers and the CNN (results/equivalence.csv).

For every named case, in float64 and float32, the reference (reference/conv.py, pooling.py,
flatten.py, sequential.py) is compared with its PyTorch twin (framework/conv.py, cnn.py) on the
forward output and every gradient, with a random upstream gradient (never ones) and random,
non-symmetric parameters:

    conv     output, input_grad, kernel_grad, bias_grad
    maxpool  output, input_grad        (ties from integer inputs; all-negative inputs with padding)
    avgpool  output, input_grad        (count_include_pad True and False)
    flatten  output, input_grad
    cnn      output (logits), loss, input_grad, grad <layer>.<param> for every parameter

Tolerances (experiments.compare): float64 rtol 1e-10 / atol 1e-12; float32 assert_close's
(1.3e-6, 1e-5) times the depth. A convolution's float32 quantities are sums of n products (the
output c_in k_h k_w, the input gradient c_out k_h k_w, the kernel and bias gradients N H_out W_out,
e.g. 1,728 for LeNet's first layer at batch 3), and float32 rounding of a sum of n terms grows like
sqrt(n) (Higham, Accuracy and Stability of Numerical Algorithms, 2002, the probabilistic bound):
those rows scale assert_close's tolerances by sqrt(n), written in the row. tests/test_conv.py checks
that, against the float64 result, our float32 error is no larger than PyTorch's own (up to 2x). Central differences (float64 only, quantity "<q> vs central
difference") compare our analytic backward with (f(a + h) - f(a - h)) / 2h, h = 1e-6, of the
scalar f = sum(upstream * output) (the CNN: its loss), with their own tolerance CD_RTOL / CD_ATOL:
rounding in f costs about eps |f| / h ~ 1e-10, and for the CNN's smooth parts the h^2 truncation
is ~1e-12.

Raw MNIST images have large uniform backgrounds, so the first convolution's output holds many
windows with identical content: after ReLU, max pooling sees exact mathematical ties between
positive values that each implementation rounds in its own way (1 ulp apart, or not), and "the first
maximum" then picks different pixels. Every choice is a valid subgradient, and the parameter
gradients do not depend on it (tied windows have identical inputs), but the gradient with respect to
the input image does. So the raw-MNIST case ("lenet_mnist_n8") compares outputs, loss and every
parameter gradient, and the input gradient is compared on the same images plus N(0, 0.01^2) noise
("lenet_mnist_jitter0.01_n8"), where no ties remain. Ties themselves are tested on purpose with
integer inputs fed straight into pooling (no rounding before the comparison).

The trajectory row: the LeNet CNN and its twin, same initial weights, same MNIST samples in the
same order, 200 SGD steps at batch size 16 in float64; the row compares the two parameter
trajectories (every parameter after every step, (201, P) each): max_abs_err is the largest
difference over all steps, tolerance 1e-8 absolute.

Case names read kKHxKW_sSHxSW_pPADS_cCINtoCOUT_nN: padding "2x0" means 2 rows on top and bottom and
0 columns left and right (PyTorch's (p_h, p_w)); "t0b1l1r0" lists an asymmetric (top, bottom,
left, right).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from experiments.compare import central_difference, compare
from framework import cnn as tcnn
from framework.optim import torch_optimizer
from framework.conv import avgpool2d_twin, conv2d_twin, flatten_twin, maxpool2d_twin
from reference import conv, conv_shapes as cs, flatten, optim, pooling, sequential as seq

CD_H = 1e-6
CD_RTOL, CD_ATOL = 1e-6, 1e-8
TRAJ_ATOL = 1e-8
DTYPES = (np.float64, np.float32)


def pad_name(pad: cs.Pad4) -> str:
    t, b, l, r = pad
    return f"{t}x{l}" if (t == b and l == r) else f"t{t}b{b}l{l}r{r}"


@dataclass(frozen=True)
class ConvCase:
    N: int
    c_in: int
    c_out: int
    H: int
    W: int
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: cs.Pad4 = (0, 0, 0, 0)
    note: str = ""

    @property
    def name(self) -> str:
        k, s = self.kernel, self.stride
        n = (f"k{k[0]}x{k[1]}_s{s[0]}x{s[1]}_p{pad_name(self.padding)}_c{self.c_in}to{self.c_out}"
             f"_n{self.N}_{self.H}x{self.W}")
        return n + (f"_{self.note}" if self.note else "")


CONV_CASES = (
    ConvCase(2, 3, 4, 9, 11, (3, 5), (2, 1), (2, 2, 0, 0)),
    ConvCase(1, 1, 1, 5, 6, (2, 3), (1, 1), (0, 0, 0, 0), "batch1"),
    ConvCase(2, 3, 2, 7, 8, (3, 3), (3, 2), (0, 1, 1, 0), "odd_total_padding"),
    ConvCase(2, 2, 3, 4, 5, (6, 7), (1, 1), (1, 1, 1, 1), "kernel_equals_padded_input"),
    ConvCase(3, 4, 5, 6, 5, (1, 1), (1, 2), (0, 0, 0, 0), "1x1"),
    ConvCase(3, 1, 8, 28, 28, (5, 5), (1, 1), (0, 0, 0, 0), "lenet_conv1"),
    ConvCase(2, 8, 16, 12, 12, (5, 5), (1, 1), (0, 0, 0, 0), "lenet_conv2"),
)


@dataclass(frozen=True)
class PoolCase:
    kind: str  # "max" or "avg"
    N: int
    C: int
    H: int
    W: int
    window: tuple[int, int]
    stride: tuple[int, int] | None = None
    padding: tuple[int, int] = (0, 0)
    count_include_pad: bool = True
    data: str = "normal"  # "normal", "ties" (integers 0..3), "negative" (all < 0)

    @property
    def name(self) -> str:
        s = self.stride or self.window
        n = (f"k{self.window[0]}x{self.window[1]}_s{s[0]}x{s[1]}_p{self.padding[0]}x{self.padding[1]}"
             f"_c{self.C}_n{self.N}_{self.H}x{self.W}_{self.data}")
        return n + ("" if self.kind == "max" or self.count_include_pad else "_exclude_pad")


POOL_CASES = (
    PoolCase("max", 2, 3, 7, 9, (3, 2), (2, 1), (1, 1)),
    PoolCase("max", 2, 3, 6, 6, (2, 2), None, (0, 0), data="ties"),
    PoolCase("max", 2, 2, 7, 6, (3, 3), (1, 1), (1, 1), data="ties"),
    PoolCase("max", 1, 3, 5, 7, (4, 3), (2, 2), (2, 1), data="negative"),
    PoolCase("max", 1, 1, 4, 5, (5, 6), (1, 1), (1, 1), data="normal"),  # window = padded input - 1
    PoolCase("avg", 2, 3, 7, 9, (3, 2), (2, 1), (1, 1)),
    PoolCase("avg", 2, 3, 7, 9, (3, 2), (2, 1), (1, 1), count_include_pad=False),
    PoolCase("avg", 1, 2, 5, 7, (4, 5), (3, 1), (2, 2), count_include_pad=False, data="negative"),
    # square output, divisor varying along rows only: catches a transposed divisor
    PoolCase("avg", 2, 2, 4, 5, (3, 2), (1, 1), (1, 0), count_include_pad=False),
)


def _random(rng, shape, dtype, data="normal"):
    if data == "ties":
        return rng.integers(0, 4, size=shape).astype(dtype)
    if data == "negative":
        return (-rng.uniform(0.5, 2.0, size=shape)).astype(dtype)
    return rng.normal(size=shape).astype(dtype)


def conv_data(case: ConvCase, dtype, seed: int = 0):
    """x, K, b and the upstream gradient ds (random, not ones) for a case."""
    rng = np.random.default_rng(seed)
    x = _random(rng, (case.N, case.c_in, case.H, case.W), dtype)
    K = _random(rng, (case.c_out, case.c_in) + tuple(case.kernel), dtype)
    b = _random(rng, (case.c_out,), dtype)
    out = cs.output_shape((case.H, case.W), case.kernel, case.padding, case.stride)
    ds = _random(rng, (case.N, case.c_out) + out, dtype)
    return x, K, b, ds


def f32_scale(n_terms: int) -> float:
    """sqrt(n): the growth of float32 rounding in a sum of n terms (module docstring)."""
    return float(np.sqrt(max(1, n_terms)))


def conv_terms(case: ConvCase) -> dict:
    """The length of the longest sum behind each quantity of a convolution."""
    k = case.kernel[0] * case.kernel[1]
    H_out, W_out = cs.output_shape((case.H, case.W), case.kernel, case.padding, case.stride)
    return {"output": case.c_in * k, "input_grad": case.c_out * k,
            "kernel_grad": case.N * H_out * W_out, "bias_grad": case.N * H_out * W_out}


def conv_tolerances(case: ConvCase, dtype) -> dict:
    """{quantity: (rtol, atol)}: float64 as compare's; float32 assert_close's times sqrt(n)."""
    from experiments.compare import tolerances
    r, a = tolerances(dtype, 1)
    if np.dtype(dtype) == np.float64:
        return {q: (r, a) for q in conv_terms(case)}
    return {q: (r * f32_scale(n), a * f32_scale(n)) for q, n in conv_terms(case).items()}


def conv_ours(case: ConvCase, x, K, b, ds) -> dict:
    s, cache = conv.forward(x, K, b, case.stride, case.padding)
    dx, g = conv.backward(ds, cache)
    return {"output": s, "input_grad": dx, "kernel_grad": g["K"], "bias_grad": g["b"]}


def conv_torch(case: ConvCase, x, K, b, ds) -> dict:
    m = conv2d_twin(K, b, case.stride, case.padding)
    xt = torch.from_numpy(x).requires_grad_(True)
    s = m(xt)
    s.backward(torch.from_numpy(ds))
    g = m.grads()
    return {"output": s.detach().numpy(), "input_grad": xt.grad.numpy(), "kernel_grad": g["K"], "bias_grad": g["b"]}


def conv_central(case: ConvCase, x, K, b, ds) -> dict:
    """Central differences of f = sum(ds * s) with respect to x, K and b (float64)."""
    x, K, b = x.copy(), K.copy(), b.copy()
    f = lambda: float(np.sum(ds * conv.forward(x, K, b, case.stride, case.padding)[0]))
    return {"input_grad": central_difference(f, x, CD_H), "kernel_grad": central_difference(f, K, CD_H),
            "bias_grad": central_difference(f, b, CD_H)}


def conv_f_scale(case: ConvCase, x, K, b, ds) -> float:
    """sum |terms of f = sum(ds * s)|: f's rounding error is ~eps times this (bounds central differences)."""
    return float(np.sum(np.abs(ds * conv.forward(x, K, b, case.stride, case.padding)[0])))


def pool_data(case: PoolCase, dtype, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = _random(rng, (case.N, case.C, case.H, case.W), dtype, case.data)
    p4 = cs.per_side(case.padding)
    out = cs.output_shape((case.H, case.W), case.window, p4, case.stride or case.window)
    return x, _random(rng, (case.N, case.C) + out, dtype)


def pool_ours(case: PoolCase, x, dy) -> dict:
    if case.kind == "max":
        y, cache = pooling.maxpool_forward(x, case.window, case.stride, case.padding)
        dx, _ = pooling.maxpool_backward(dy, cache)
    else:
        y, cache = pooling.avgpool_forward(x, case.window, case.stride, case.padding, case.count_include_pad)
        dx, _ = pooling.avgpool_backward(dy, cache)
    return {"output": y, "input_grad": dx}


def pool_torch(case: PoolCase, x, dy) -> dict:
    m = (maxpool2d_twin(case.window, case.stride, case.padding) if case.kind == "max" else
         avgpool2d_twin(case.window, case.stride, case.padding, case.count_include_pad))
    xt = torch.from_numpy(x).requires_grad_(True)
    y = m(xt)
    y.backward(torch.from_numpy(dy))
    return {"output": y.detach().numpy(), "input_grad": xt.grad.numpy()}


def pool_central(case: PoolCase, x, dy) -> dict:
    x = x.copy()
    f = lambda: float(np.sum(dy * pool_ours(case, x, dy)["output"]))
    return {"input_grad": central_difference(f, x, CD_H)}


def small_cnn() -> seq.Sequential:
    """A CNN small enough for central differences over every parameter, with every layer kind."""
    return seq.Sequential((
        seq.Conv2d(2, 3, (3, 2), stride=(1, 2), padding=(1, 0, 1, 1), name="conv1"),
        seq.Activation("tanh", name="tanh1"),
        seq.MaxPool2d((2, 3), stride=(2, 1), padding=(1, 1), name="pool1"),
        seq.Conv2d(3, 4, (2, 2), name="conv2"),
        seq.Activation("relu", name="relu2"),
        seq.AvgPool2d(2, stride=1, padding=1, count_include_pad=False, name="pool2"),
        seq.Flatten(name="flatten"),
    ))


def randomised(model: seq.Sequential, seed: int, dtype, scale: float = 0.1) -> list[dict]:
    """model.init(seed) with every parameter (biases too) perturbed: no zeros, no symmetry."""
    rng = np.random.default_rng(seed + 1000)
    params, _ = model.init(seed, dtype)
    for p in params:
        for k in p:
            p[k] += (scale * rng.normal(size=p[k].shape)).astype(dtype)
    return params


def with_head(model: seq.Sequential, x_shape, classes: int = 10) -> seq.Sequential:
    """Append a dense layer -> classes sized to the flattened output of `model` on inputs x_shape."""
    params, state = model.init(0, np.float64)
    d = model.forward(np.zeros(x_shape), params, state, train=True)[0].shape[1]
    return seq.Sequential(model.layers + (seq.Dense(d, classes, gain=1.0, name="dense"),))


def cnn_ours(model, params, x, labels) -> dict:
    s_L, caches, _ = model.forward(x, params, [{} for _ in model.layers], train=True)
    y = seq.one_hot(labels, s_L.shape[1], s_L.dtype)
    from reference.losses import cross_entropy, cross_entropy_grad
    E = np.mean(cross_entropy(s_L, y))
    dx, grads = model.backward(cross_entropy_grad(s_L, y) / s_L.shape[0], caches)
    out = {"output": s_L, "loss": np.array([E]), "input_grad": dx}
    for layer, g in zip(model.layers, grads):
        for k, v in g.items():
            out[f"grad {layer.name}.{k}"] = v
    return out


def cnn_torch(model, params, x, labels) -> dict:
    twin = tcnn.build_twin(model, params)
    xt = torch.from_numpy(x).requires_grad_(True)
    s_L = twin(xt)
    E = F.cross_entropy(s_L, torch.from_numpy(labels))
    E.backward()
    out = {"output": s_L.detach().numpy(), "loss": np.array([E.item()]), "input_grad": xt.grad.numpy()}
    for layer, g in zip(model.layers, tcnn.twin_grads(twin, model)):
        for k, v in g.items():
            out[f"grad {layer.name}.{k}"] = v
    return out


def cnn_central(model, params, x, labels) -> dict:
    """Central differences of E_in with respect to x and every parameter (float64)."""
    params = [{k: v.copy() for k, v in p.items()} for p in params]
    x = x.copy()
    y = seq.one_hot(labels, 10, np.float64)
    from reference.losses import cross_entropy
    state = [{} for _ in model.layers]
    f = lambda: float(np.mean(cross_entropy(model.forward(x, params, state, train=True)[0], y)))
    out = {"input_grad": central_difference(f, x, CD_H)}
    for layer, p in zip(model.layers, params):
        for k in p:
            out[f"grad {layer.name}.{k}"] = central_difference(f, p[k], CD_H)
    return out


def mnist_batch(n: int, dtype, seed: int = 0):
    """n standardised MNIST training images and labels (a seeded random choice)."""
    from experiments.cnn_mnist import load_data
    X, y, _, _ = load_data(dtype, train_n=None, test_n=0)
    idx = np.random.default_rng(seed).choice(X.shape[0], n, replace=False)
    return X[idx], y[idx]


def flat_params(params: list[dict]) -> np.ndarray:
    """Every parameter in one vector (layer order, keys sorted)."""
    return np.concatenate([p[k].ravel() for p in params for k in sorted(p)])


def trajectory(steps: int = 200, batch_size: int = 16, lr: float = 0.05, seed: int = 0,
               dtype=np.float64, hidden: int | None = None, data=None, states: bool = False):
    """Per-step max |ours - twin| over all parameters while both train on the same MNIST batches.

    Returns an array of length steps + 1 (entry 0: after copying the initial weights); with
    states=True also both parameter trajectories, (steps + 1, P) each.
    `data` = (X, y) overrides MNIST (standardised images, labels).
    """
    from experiments.cnn_mnist import batch_order, load_data, max_param_diff

    if data is None:
        X, y, _, _ = load_data(np.dtype(dtype).name, test_n=0)
    else:
        X, y = data
    model = seq.lenet(hidden)
    params, state = model.init(seed, dtype)
    twin = tcnn.build_twin(model, params)
    sgd = optim.SGD()
    opt_state, torch_sgd = sgd.init(params), torch_optimizer(sgd, twin, lr)
    diffs = [max_param_diff(params, tcnn.twin_params(twin, model))]
    ours, theirs = [flat_params(params)], [flat_params(tcnn.twin_params(twin, model))]
    order = batch_order(seed, X.shape[0], -(-steps * batch_size // X.shape[0]), batch_size)
    for _, idx in zip(range(steps), order):
        _, grads, _, state = model.loss_and_grads(X[idx], y[idx], params, state)
        opt_state = sgd.step(params, grads, opt_state, lr)
        tcnn.loss_and_grads(twin, model, X[idx], y[idx])
        torch_sgd.step()
        tp = tcnn.twin_params(twin, model)
        diffs.append(max_param_diff(params, tp))
        if states:
            ours.append(flat_params(params))
            theirs.append(flat_params(tp))
    if states:
        return np.array(diffs), np.array(ours), np.array(theirs)
    return np.array(diffs)


def _rows_for(component, case, dtype, ours, theirs, depth=1, tols=None):
    rows = []
    for q in theirs:
        rtol, atol = tols[q] if tols else (None, None)
        rows.append(compare(component, case, q, ours[q], theirs[q], dtype=dtype, depth=depth, rtol=rtol, atol=atol))
        if tols and np.dtype(dtype) == np.float32:
            rows[-1]["tolerance"] += " (assert_close's x sqrt(n), n = terms per sum)"
    return rows


def _cd_rows(component, case, ours, cd, f_scale: float = 0.0):
    """Rows for central differences; atol is at least the estimate's rounding bound 2 eps sum|terms| / 2h."""
    atol = max(CD_ATOL, 2 * np.finfo(np.float64).eps * f_scale / (2 * CD_H))
    rows = [compare(component, case, f"{q} vs central difference", ours[q], cd[q], dtype=np.float64,
                    rtol=CD_RTOL, atol=atol) for q in cd]
    if atol > CD_ATOL:
        for r in rows:
            r["tolerance"] += f" (atol = 2 eps sum|terms of f| / 2h, sum = {f_scale:.3g})"
    return rows


def rows(quick: bool = False) -> list[dict]:
    """Every CNN-related row of results/equivalence.csv (quick: fewer cases, 20-step trajectory)."""
    out = []
    conv_cases = CONV_CASES[:3] if quick else CONV_CASES
    pool_cases = POOL_CASES[::2] if quick else POOL_CASES
    for dtype in DTYPES:
        for case in conv_cases:
            data = conv_data(case, dtype)
            ours = conv_ours(case, *data)
            out += _rows_for("conv", case.name, dtype, ours, conv_torch(case, *data), tols=conv_tolerances(case, dtype))
            if dtype == np.float64 and (not quick or case is conv_cases[0]):
                out += _cd_rows("conv", case.name, ours, conv_central(case, *data), conv_f_scale(case, *data))
        for case in pool_cases:
            data = pool_data(case, dtype)
            ours = pool_ours(case, *data)
            out += _rows_for(f"{case.kind}pool", case.name, dtype, ours, pool_torch(case, *data))
            if dtype == np.float64 and case.data != "ties" and (not quick or case is pool_cases[0]):
                # Ties make max pooling non-differentiable there; central differences would average.
                out += _cd_rows(f"{case.kind}pool", case.name, ours, pool_central(case, *data))
        # flatten
        rng = np.random.default_rng(0)
        x, dy = rng.normal(size=(2, 3, 4, 5)).astype(dtype), rng.normal(size=(2, 60)).astype(dtype)
        y, c = flatten.forward(x)
        ours = {"output": y, "input_grad": flatten.backward(dy, c)[0]}
        xt = torch.from_numpy(x).requires_grad_(True)
        yt = flatten_twin()(xt)
        yt.backward(torch.from_numpy(dy))
        out += _rows_for("flatten", "c3_n2_4x5", dtype, ours, {"output": yt, "input_grad": xt.grad})
        # CNN: LeNet on real MNIST images, and the small CNN with every layer kind
        x, labels = mnist_batch(8, dtype)
        lenet = seq.lenet()
        params = randomised(lenet, 0, dtype)
        depth = len(lenet.layers)
        ours, theirs = cnn_ours(lenet, params, x, labels), cnn_torch(lenet, params, x, labels)
        del ours["input_grad"], theirs["input_grad"]  # ill-posed on raw MNIST: tied maxima (docstring)
        out += _rows_for("cnn", "lenet_mnist_n8", dtype, ours, theirs, depth)
        xj = (x + 0.01 * np.random.default_rng(2).normal(size=x.shape)).astype(dtype)
        out += _rows_for("cnn", "lenet_mnist_jitter0.01_n8", dtype, cnn_ours(lenet, params, xj, labels),
                         cnn_torch(lenet, params, xj, labels), depth)
        small = with_head(small_cnn(), (3, 2, 7, 6))
        rng = np.random.default_rng(1)
        xs, ls = rng.normal(size=(3, 2, 7, 6)).astype(dtype), rng.integers(0, 10, 3)
        ps = randomised(small, 1, dtype)
        ours = cnn_ours(small, ps, xs, ls)
        out += _rows_for("cnn", "small_all_layers_n3", dtype, ours, cnn_torch(small, ps, xs, ls), len(small.layers))
        if dtype == np.float64:
            out += _cd_rows("cnn", "small_all_layers_n3", ours, cnn_central(small, ps, xs, ls))
    steps = 20 if quick else 200
    seed = 0  # the LeNet's initial parameters and batch order (recorded in the row)
    diffs, ours, theirs = trajectory(steps=steps, batch_size=16, seed=seed, states=True)
    row = compare("cnn", f"lenet_mnist_sgd_{steps}steps_b16_lr0.05", "trajectory", ours, theirs,
                  dtype=np.float64, rtol=0.0, atol=TRAJ_ATOL)
    row["tolerance"] += (f" for every parameter after every step; largest difference at the last step "
                         f"{diffs[-1]:.3g}")
    row["seed"] = seed
    out.append(row)
    return out
