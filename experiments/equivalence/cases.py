"""The layer table: every layer check is one case line; the harness derives everything else.

A case line (experiments/equivalence/layer_check.py's Case):

    Case(layer, x_shape, train=None, data="normal", central=True, quick=False, note="", dtypes=DTYPES)

    layer    a Sequential layer of reference/sequential.py with its settings: seq.BatchNorm2d(3, eps=1e-3)
    x_shape  the input's shape: (4, 3, 5, 6)
    train    True / False for a layer whose mode matters (batch normalisation, dropout; the mode is in
             the case name), None for a layer without modes (run in train mode, no mode in the name)
    data     the input: "normal" N(1.5, 2^2); "ties" integers 0..3; "negative" all in [-2, -0.5];
             "kinks" exact 0s and 20x entries; "zero_row" row 1 all 0
    central  False where central differences are meaningless (the data sit on a kink: ReLU at 0,
             max-pooling's ties, a row below L2 normalisation's eps) or too slow (bench-size inputs)
    quick    in the `--quick` subset
    note     appended to the case name (e.g. "batch1", "lenet_conv1")
    dtypes   float64 (three ways: ours, torch autograd, central differences) and float32 (ours, torch)

e.g. Case(seq.BatchNorm2d(3, eps=1e-3), (4, 3, 5, 6), train=True). From it the harness
(layer_check.py) derives the rows' names (names.py: component "batchnorm2d", case "4x3x5x6_train_eps0.001"),
random non-symmetric parameters and state (the layer's init, then perturbed: never gamma 1, beta 0,
running statistics 0 and 1), an input of non-zero mean, a random upstream gradient, the twin
(framework/layers.py TWINS), the quantities (output, input_grad, grad <param>, state <key>) and their
tolerances. Adding a layer: its reference module, its Sequential class, one TWINS entry, one line
here; tests/test_equivalence_harness.py fails while a TWINS entry has no line.

Tolerances (check.py): float64 rtol 1e-10, atol 1e-12; float32 torch.testing.assert_close's (rtol
1.3e-6, atol 1e-5), and for a float32 sum of n terms assert_close's times sqrt(n): float32 rounding of
a sum of n terms grows like sqrt(n) (Higham, Accuracy and Stability of Numerical Algorithms, 2002, the
probabilistic bound). The sums are a convolution's (the output c_in k_h k_w terms, the input gradient
c_out k_h k_w, the kernel and bias gradients N H_out W_out, e.g. 1,728 for LeNet's first layer at
batch 3) and batch normalisation's gamma and beta gradients (the m = N (L or H W) values of a channel),
listed in layer_check.SUM_TERMS; the scale is written in the row. Central differences: check.py.

Besides the layer table, functions of the study that are not Sequential layers, each with a random
upstream gradient and in float64 against central differences:

    activation  theta, theta_prime*upstream for sign (derivative 0 everywhere: no Sequential layer
                takes it; the other activations are layer lines)
    loss        e_n, upstream*de_n/d_input; E_in, dE_in/d_input  (the study's mean over N), including
                the additive-margin softmax (CosFace) on cosines in [-1, 1]

and the convolution and pooling functions as tests/test_conv.py and test_pooling.py call them
(ConvCase, PoolCase: the table's conv and pooling lines, plus hypothesis's). Case names of the rows
committed before the table keep their format (names.py LEGACY): convolutions
kKHxKW_sSHxSW_pPADS_cCINtoCOUT_nN_HxW, where padding "2x0" means 2 rows on top and bottom and 0
columns left and right (PyTorch's (p_h, p_w)) and "t0b1l1r0" lists an asymmetric (top, bottom, left, right).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from experiments.equivalence import layer_check as lc
from experiments.equivalence import names
from experiments.equivalence.check import check, compare, run_central, run_ours, run_twin, tolerances
from experiments.equivalence.layer_check import Case, random_array, signals_with_kinks
from framework.conv import avgpool2d_twin, conv2d, maxpool2d_twin
from framework.tables import torch_activation, torch_e, torch_loss
from reference import conv, pooling
from reference import conv_shapes as cs
from reference import sequential as seq
from reference.activations import get_activation
from reference.losses import am_softmax, get_loss

DTYPES = lc.DTYPES


def batchnorm_grid(cls, spatial: tuple) -> list[Case]:
    """Batch sizes 2 and 7, channels 1 and 5, affine on and off, train and eval (small: all quick)."""
    return [Case(cls(C, affine=a), (N, C) + spatial, train=t, quick=True)
            for N in (2, 7) for C in (1, 5) for a in (True, False) for t in (True, False)]


LAYER_CASES = (
    Case(seq.Activation("identity"), (6, 7), data="kinks", quick=True),
    Case(seq.Activation("sigmoid"), (6, 7), data="kinks", quick=True),
    Case(seq.Activation("tanh"), (6, 7), data="kinks", quick=True),
    Case(seq.Activation("relu"), (6, 7), data="kinks", central=False, quick=True),
    Case(seq.LeakyReLU(0.1), (6, 7), data="kinks", central=False, quick=True),  # torch's slope at 0: a
    Case(seq.LeakyReLU(), (5, 3)),
    Case(seq.Dense(5, 4), (6, 5), quick=True),
    Case(seq.Dense(9, 3), (1, 9), note="batch1"),
    Case(seq.Conv2d(3, 4, (3, 5), (2, 1), (2, 2, 0, 0)), (2, 3, 9, 11), quick=True),
    Case(seq.Conv2d(1, 1, (2, 3)), (1, 1, 5, 6), note="batch1", quick=True),
    Case(seq.Conv2d(3, 2, (3, 3), (3, 2), (0, 1, 1, 0)), (2, 3, 7, 8), note="odd_total_padding", quick=True),
    Case(seq.Conv2d(2, 3, (6, 7), 1, (1, 1, 1, 1)), (2, 2, 4, 5), note="kernel_equals_padded_input"),
    Case(seq.Conv2d(4, 5, (1, 1), (1, 2)), (3, 4, 6, 5), note="1x1"),
    Case(seq.Conv2d(1, 8, 5), (3, 1, 28, 28), note="lenet_conv1"),
    Case(seq.Conv2d(8, 16, 5), (2, 8, 12, 12), note="lenet_conv2"),
    Case(seq.MaxPool2d((3, 2), (2, 1), (1, 1)), (2, 3, 7, 9), quick=True),
    Case(seq.MaxPool2d((2, 2)), (2, 3, 6, 6), data="ties", central=False, quick=True),
    Case(seq.MaxPool2d((3, 3), (1, 1), (1, 1)), (2, 2, 7, 6), data="ties", central=False, quick=True),
    Case(seq.MaxPool2d((4, 3), (2, 2), (2, 1)), (1, 3, 5, 7), data="negative", quick=True),
    Case(seq.MaxPool2d((5, 6), (1, 1), (1, 1)), (1, 1, 4, 5), quick=True),  # window = padded input - 1
    Case(seq.AvgPool2d((3, 2), (2, 1), (1, 1)), (2, 3, 7, 9), quick=True),
    Case(seq.AvgPool2d((3, 2), (2, 1), (1, 1), count_include_pad=False), (2, 3, 7, 9), quick=True),
    Case(seq.AvgPool2d((4, 5), (3, 1), (2, 2), count_include_pad=False), (1, 2, 5, 7), data="negative"),
    # square output, divisor varying along rows only: catches a transposed divisor
    Case(seq.AvgPool2d((3, 2), (1, 1), (1, 0), count_include_pad=False), (2, 2, 4, 5), quick=True),
    Case(seq.Flatten(), (2, 3, 4, 5), quick=True),
    *batchnorm_grid(seq.BatchNorm1d, ()),
    *batchnorm_grid(seq.BatchNorm2d, (3, 4)),
    Case(seq.BatchNorm1d(5, momentum=None, eps=1e-3), (7, 5, 3), train=True, quick=True),
    Case(seq.BatchNorm2d(5, momentum=0.3), (2, 5, 4, 3), train=True),
    Case(seq.BatchNorm2d(5, track_running_stats=False), (2, 5, 3, 4), train=False),
    Case(seq.BatchNorm1d(1), (1, 1, 2), train=True, quick=True),  # m = 2 from the length axis
    Case(seq.BatchNorm2d(16), (64, 16, 28, 28), train=True, central=False),  # bench size
    *[Case(seq.Dropout(p), (7, 5, 3, 4), train=True, quick=p in (0.3, 1.0)) for p in (0.0, 0.3, 0.5, 1.0)],
    Case(seq.Dropout(0.5), (2, 5), train=True),
    Case(seq.Dropout(0.5), (7, 5, 3, 4), train=False, quick=True),
    Case(seq.L2Normalize(), (6, 5), quick=True),
    Case(seq.L2Normalize(), (3, 9)),
    Case(seq.L2Normalize(), (4, 5), data="zero_row", central=False),  # norm 0 < eps: y = x / eps, dE/dx = dy / eps
    Case(seq.CosineDense(5, 4), (6, 5), quick=True),
    Case(seq.CosineDense(8, 11), (3, 8)),
)


# ---------------------------------------------------------------------------------------------
# Activation functions that are no Sequential layer
# ---------------------------------------------------------------------------------------------

FUNCTION_ACTIVATIONS = (("sign", (6, 7)),)  # the others are layer lines (seq.Activation refuses sign)
SMOOTH = ("identity", "sigmoid", "tanh")  # central differences are meaningless at ReLU's and sign's kinks


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


MARGINS = ((30.0, 0.35), (16.0, 0.2), (1.0, 0.0))  # (s, m) of the additive-margin softmax (CosFace)


def margin_rows(scale: float, margin: float, dtype, N: int = 6, C: int = 7, seed: int = 0) -> list[dict]:
    """e_n with a random upstream gradient (and central differences), E_in and its gradient, on cosines in [-1, 1]."""
    rng = np.random.default_rng(seed)
    cos = rng.uniform(-1.0, 1.0, size=(N, C)).astype(dtype)
    y = np.eye(C, dtype=dtype)[rng.integers(0, C, N)]
    up = rng.normal(size=N).astype(dtype)
    L = am_softmax(scale, margin)
    yt = torch.tensor(y)

    def fn(a):
        return L.e(a["s"], a["s"], y), lambda dy: {"s": dy[:, None] * L.delta(a["s"], a["s"], y, None)}

    def twin(t):
        return torch_e(L, t["s"], t["s"], yt)
    case, comp = f"N{N}_C{C}_s{scale:g}_m{margin:g}", "loss:am_softmax"
    rows = check(comp, case, fn, twin, {"s": cos}, up, {"output": "e_n", "s": "upstream*de_n/d_input"},
                 central=("s",))
    ct = torch.tensor(cos, requires_grad=True)
    E_t = torch_loss(L, ct, ct, yt)
    E_t.backward()
    return rows + [compare(comp, case, "E_in", np.array(np.mean(L.e(cos, cos, y))), E_t, dtype),
                   compare(comp, case, "dE_in/d_input", L.delta(cos, cos, y, None) / N, ct.grad, dtype)]


# ---------------------------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------------------------

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
        return self.layer_case.name

    @property
    def layer_case(self) -> Case:
        return Case(seq.Conv2d(self.c_in, self.c_out, self.kernel, self.stride, self.padding),
                    (self.N, self.c_in, self.H, self.W), note=self.note)

    @classmethod
    def of(cls, case: Case) -> ConvCase:
        (N, _, H, W), l = case.x_shape, case.layer
        return cls(N, l.c_in, l.c_out, H, W, *names.conv_settings(l), case.note)


CONV_CASES = tuple(ConvCase.of(c) for c in LAYER_CASES if isinstance(c.layer, seq.Conv2d))

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


def conv_tolerances(case: ConvCase, dtype) -> dict:
    """{quantity: (rtol, atol, note)}: float64 as compare's; float32 assert_close's times sqrt(n) (the table's)."""
    r, a = tolerances(dtype, 1)
    sums = lc.renamed(lc.sum_tolerances(case.layer_case, dtype), names.CONV_QUANTITIES)
    return {q: sums.get(q, (r, a, "")) for q in CONV_NAMES.values()}


# ---------------------------------------------------------------------------------------------
# Pooling
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
        return self.layer_case.name

    @property
    def layer_case(self) -> Case:
        layer = (seq.MaxPool2d(self.window, self.stride, self.padding) if self.kind == "max" else
                 seq.AvgPool2d(self.window, self.stride, self.padding, self.count_include_pad))
        return Case(layer, (self.N, self.C, self.H, self.W), data=self.data)

    @classmethod
    def of(cls, case: Case) -> PoolCase:
        kind, window, stride, padding, include = names.pool_settings(case.layer)
        return cls(kind, *case.x_shape, window, stride, padding, include, case.data)


POOL_CASES = tuple(PoolCase.of(c) for c in LAYER_CASES if isinstance(c.layer, (seq.MaxPool2d, seq.AvgPool2d)))

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


def rows(quick: bool = False) -> list[dict]:
    """Every row of the layer table and of the functions beside it (quick: the quick lines, the first margin)."""
    out = lc.rows(LAYER_CASES, quick)
    for dtype in DTYPES:
        out += [r for name, shape in FUNCTION_ACTIVATIONS for r in activation_rows(name, dtype, shape)]
        out += [r for loss, N, C, scale, kind, eps in LOSS_CASES
                for r in loss_rows(loss, dtype, N, C, 0, scale, kind, eps)]
        out += [r for s, m in (MARGINS[:1] if quick else MARGINS) for r in margin_rows(s, m, dtype)]
    return out
