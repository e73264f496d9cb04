"""The cases of every layer check, one line each, and how one case becomes rows (check.check).

Families and their quantities (each with a random upstream gradient, never ones):

    activation  theta, theta_prime*upstream                      (signals with exact 0s and saturation)
    loss        e_n, upstream*de_n/d_input; E_in, dE_in/d_input  (the study's mean over N)
    conv        output, input_grad, kernel_grad, bias_grad
    maxpool     output, input_grad        (ties from integer inputs; all-negative inputs with padding)
    avgpool     output, input_grad        (count_include_pad True and False)
    flatten     output, input_grad

and, in float64, the same gradients against central differences (quantity "<q> vs central difference").

A convolution's float32 quantities are sums of n products (the output c_in k_h k_w, the input
gradient c_out k_h k_w, the kernel and bias gradients N H_out W_out, e.g. 1,728 for LeNet's first
layer at batch 3), and float32 rounding of a sum of n terms grows like sqrt(n) (Higham, Accuracy and
Stability of Numerical Algorithms, 2002, the probabilistic bound): those rows scale assert_close's
tolerances by sqrt(n), written in the row.

Case names read kKHxKW_sSHxSW_pPADS_cCINtoCOUT_nN: padding "2x0" means 2 rows on top and bottom and
0 columns left and right (PyTorch's (p_h, p_w)); "t0b1l1r0" lists an asymmetric (top, bottom,
left, right). A new family is a case list plus a function case -> rows built on check.check.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from experiments.equivalence.check import check, compare, run_central, run_ours, run_twin, tolerances
from framework.conv import avgpool2d_twin, conv2d, flatten_twin, maxpool2d_twin
from framework.tables import torch_activation, torch_e, torch_loss
from reference import conv, flatten, pooling
from reference import conv_shapes as cs
from reference.activations import get_activation
from reference.losses import get_loss

DTYPES = (np.float64, np.float32)


def random_array(rng, shape, dtype, data="normal"):
    """normal: N(0, 1); ties: integers 0..3; negative: all in [-2, -0.5]."""
    if data == "ties":
        return rng.integers(0, 4, size=shape).astype(dtype)
    if data == "negative":
        return (-rng.uniform(0.5, 2.0, size=shape)).astype(dtype)
    return rng.normal(size=shape).astype(dtype)


# ---------------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------------

ACTIVATION_CASES = (("identity", (6, 7)), ("sign", (6, 7)), ("sigmoid", (6, 7)), ("tanh", (6, 7)), ("relu", (6, 7)))
SMOOTH = ("identity", "sigmoid", "tanh")  # central differences are meaningless at ReLU's and sign's kinks


def signals_with_kinks(rng, shape, dtype) -> np.ndarray:
    """Random signals with some entries exactly 0 (ReLU's kink) and some large (saturation)."""
    s = rng.normal(0, 2, size=shape)
    s.flat[:: max(s.size // 5, 1)] = 0.0
    s.flat[1 :: max(s.size // 7, 1)] *= 20
    return s.astype(dtype)


def activation_rows(name: str, dtype=np.float64, shape=(7, 5), seed: int = 0, central: bool = False) -> list:
    """theta and theta' (times a random upstream gradient) against the torch module."""
    rng = np.random.default_rng(seed)
    s = signals_with_kinks(rng, shape, dtype)
    up = rng.normal(size=shape).astype(dtype)
    act = get_activation(name)
    def fn(a):
        return act.theta(a["s"]), lambda dy: {"s": act.theta_prime(a["s"]) * dy}

    def twin(t):
        return torch_activation(name)(t["s"])
    case = f"{name}_{'x'.join(map(str, shape))}"
    return check("activation", case, fn, twin, {"s": s}, up, {"output": "theta", "s": "theta_prime*upstream"},
                 central=("s",) if central else ())


# ---------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------

LOSS_CASES = (  # (loss, N, C, logit scale, targets, label smoothing)
    ("squared_error", 5, 10, 1.0, "onehot", 0.0),
    ("cross_entropy", 5, 10, 1.0, "onehot", 0.0),
    ("cross_entropy", 5, 10, 1000.0, "onehot", 0.0),
    ("cross_entropy", 5, 10, 1.0, "onehot", 0.1),
    ("cross_entropy", 3, 7, 3.0, "soft", 0.0),
    ("cross_entropy", 3, 7, 3.0, "soft", 0.25),
)


def targets(rng, N: int, C: int, kind: str, dtype) -> np.ndarray:
    """onehot rows, or soft: positive rows that do not sum to 1 (torch accepts both as probabilities)."""
    if kind == "soft":
        return rng.uniform(0.1, 0.6, size=(N, C)).astype(dtype)
    return np.eye(C, dtype=dtype)[rng.integers(0, C, N)]


def loss_rows(loss: str, dtype=np.float64, N: int = 6, C: int = 10, seed: int = 0, scale: float = 1.0,
              kind: str = "onehot", label_smoothing: float = 0.0) -> list:
    """e_n with a random upstream gradient (and central differences), and E_in with its gradient."""
    rng = np.random.default_rng(seed)
    z = (rng.normal(size=(N, C)) * scale).astype(dtype)
    y = targets(rng, N, C, kind, dtype)
    up = rng.normal(size=N).astype(dtype)
    L = get_loss(loss, label_smoothing)
    one = get_activation("identity").theta_prime
    yt = torch.tensor(y)

    def fn(a):
        return L.e(a["s"], a["s"], y), lambda dy: {"s": dy[:, None] * L.delta(a["s"], a["s"], y, one)}

    def twin(t):
        return torch_e(L, t["s"], t["s"], yt)
    case = f"N{N}_C{C}_scale{scale:g}" + ("" if kind == "onehot" else f"_{kind}") + (
        f"_ls{label_smoothing:g}" if label_smoothing else "")
    comp = f"loss:{loss}"
    rows = check(comp, case, fn, twin, {"s": z}, up, {"output": "e_n", "s": "upstream*de_n/d_input"},
                 central=("s",) if scale < 100 else ())
    zt = torch.tensor(z, requires_grad=True)
    E_t = torch_loss(L, zt, zt, yt)
    E_t.backward()
    rows += [compare(comp, case, "E_in", np.array(np.mean(L.e(z, z, y))), E_t, dtype),
             compare(comp, case, "dE_in/d_input", L.delta(z, z, y, one) / N, zt.grad, dtype)]
    return rows


# ---------------------------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------------------------

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

CONV_NAMES = {"output": "output", "x": "input_grad", "K": "kernel_grad", "b": "bias_grad"}


def conv_data(case: ConvCase, dtype, seed: int = 0):
    """x, K, b and the upstream gradient ds (random, not ones) for a case."""
    rng = np.random.default_rng(seed)
    x = random_array(rng, (case.N, case.c_in, case.H, case.W), dtype)
    K = random_array(rng, (case.c_out, case.c_in) + tuple(case.kernel), dtype)
    b = random_array(rng, (case.c_out,), dtype)
    out = cs.output_shape((case.H, case.W), case.kernel, case.padding, case.stride)
    ds = random_array(rng, (case.N, case.c_out) + out, dtype)
    return x, K, b, ds


def conv_fn(case: ConvCase):
    """The reference layer as check.check takes it: arrays {x, K, b} -> (s, back)."""
    def fn(a):
        s, cache = conv.forward(a["x"], a["K"], a["b"], case.stride, case.padding)

        def back(ds):
            dx, g = conv.backward(ds, cache)
            return {"x": dx, "K": g["K"], "b": g["b"]}
        return s, back
    return fn


def conv_twin(case: ConvCase):
    return lambda t: conv2d(t["x"], t["K"], t["b"], case.stride, case.padding)


def conv_ours(case: ConvCase, x, K, b, ds) -> dict:
    """{quantity: array} of the reference (the tests take the quantities one by one)."""
    return run_ours(conv_fn(case), {"x": x, "K": K, "b": b}, ds, CONV_NAMES)


def conv_torch(case: ConvCase, x, K, b, ds) -> dict:
    return run_twin(conv_twin(case), {"x": x, "K": K, "b": b}, ds, CONV_NAMES)


def conv_central(case: ConvCase, x, K, b, ds) -> dict:
    """Central differences of f = sum(ds * s) with respect to x, K and b (float64)."""
    return run_central(conv_fn(case), {"x": x, "K": K, "b": b}, ds, CONV_NAMES, ("x", "K", "b"))[0]


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
    """{quantity: (rtol, atol, note)}: float64 as compare's; float32 assert_close's times sqrt(n)."""
    r, a = tolerances(dtype, 1)
    if np.dtype(dtype) == np.float64:
        return {q: (r, a, "") for q in conv_terms(case)}
    return {q: (r * f32_scale(n), a * f32_scale(n), " (assert_close's x sqrt(n), n = terms per sum)")
            for q, n in conv_terms(case).items()}


def conv_rows(case: ConvCase, dtype, seed: int = 0, central: bool = True) -> list:
    x, K, b, ds = conv_data(case, dtype, seed)
    return check("conv", case.name, conv_fn(case), conv_twin(case), {"x": x, "K": K, "b": b}, ds, CONV_NAMES,
                 tols=conv_tolerances(case, dtype), central=("x", "K", "b") if central else ())


# ---------------------------------------------------------------------------------------------
# Pooling and flatten
# ---------------------------------------------------------------------------------------------

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

POOL_NAMES = {"output": "output", "x": "input_grad"}


def pool_data(case: PoolCase, dtype, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = random_array(rng, (case.N, case.C, case.H, case.W), dtype, case.data)
    p4 = cs.per_side(case.padding)
    out = cs.output_shape((case.H, case.W), case.window, p4, case.stride or case.window)
    return x, random_array(rng, (case.N, case.C) + out, dtype)


def pool_fn(case: PoolCase):
    def fn(a):
        if case.kind == "max":
            y, cache = pooling.maxpool_forward(a["x"], case.window, case.stride, case.padding)
            return y, lambda dy: {"x": pooling.maxpool_backward(dy, cache)[0]}
        y, cache = pooling.avgpool_forward(a["x"], case.window, case.stride, case.padding, case.count_include_pad)
        return y, lambda dy: {"x": pooling.avgpool_backward(dy, cache)[0]}
    return fn


def pool_twin(case: PoolCase):
    m = (maxpool2d_twin(case.window, case.stride, case.padding) if case.kind == "max" else
         avgpool2d_twin(case.window, case.stride, case.padding, case.count_include_pad))
    return lambda t: m(t["x"])


def pool_ours(case: PoolCase, x, dy) -> dict:
    return run_ours(pool_fn(case), {"x": x}, dy, POOL_NAMES)


def pool_torch(case: PoolCase, x, dy) -> dict:
    return run_twin(pool_twin(case), {"x": x}, dy, POOL_NAMES)


def pool_central(case: PoolCase, x, dy) -> dict:
    return run_central(pool_fn(case), {"x": x}, dy, POOL_NAMES, ("x",))[0]


def pool_rows(case: PoolCase, dtype, seed: int = 0, central: bool = True) -> list:
    x, dy = pool_data(case, dtype, seed)
    # Ties make max pooling non-differentiable there; central differences would average.
    central = central and case.data != "ties"
    return check(f"{case.kind}pool", case.name, pool_fn(case), pool_twin(case), {"x": x}, dy, POOL_NAMES,
                 central=("x",) if central else ())


FLATTEN_CASES = ((2, 3, 4, 5),)


def flatten_rows(shape, dtype, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    N, C, H, W = shape
    x, dy = rng.normal(size=shape).astype(dtype), rng.normal(size=(N, C * H * W)).astype(dtype)

    def fn(a):
        y, cache = flatten.forward(a["x"])
        return y, lambda d: {"x": flatten.backward(d, cache)[0]}
    twin = flatten_twin()
    return check("flatten", f"c{C}_n{N}_{H}x{W}", fn, lambda t: twin(t["x"]), {"x": x}, dy, POOL_NAMES)


def rows(quick: bool = False) -> list[dict]:
    """Every layer row of results/equivalence.csv (quick: fewer conv and pooling cases)."""
    out = []
    conv_cases = CONV_CASES[:3] if quick else CONV_CASES
    pool_cases = POOL_CASES[::2] if quick else POOL_CASES
    for dtype in DTYPES:
        out += [r for name, shape in ACTIVATION_CASES
                for r in activation_rows(name, dtype, shape, central=name in SMOOTH)]
        out += [r for loss, N, C, scale, kind, eps in LOSS_CASES
                for r in loss_rows(loss, dtype, N, C, 0, scale, kind, eps)]
        out += [r for i, case in enumerate(conv_cases) for r in conv_rows(case, dtype, central=not quick or i == 0)]
        out += [r for i, case in enumerate(pool_cases) for r in pool_rows(case, dtype, central=not quick or i == 0)]
        out += [r for shape in FLATTEN_CASES for r in flatten_rows(shape, dtype)]
    return out
