"""How one layer case line (experiments/equivalence/cases.py) becomes rows: data, ours, the twin, central
differences, tolerances. The format of a line is in cases.py's docstring; the row names in names.py.

For a case and a dtype, from numpy.random.default_rng(seed), in this order:

    x        the input, by `data`: normal N(1.5, 2^2) (non-zero mean, non-unit spread); ties (integers
             0..3, max-pooling's ties); negative (all in [-2, -0.5]); kinks (N(0.5, 2^2) with exact 0s
             and entries 20x larger: kinks and saturation); zero_row (normal with row 1 set to 0)
    params   layer.init, then perturbed: every array + N(0, 1), gamma + N(0, 0.5^2) (a scale stays
             near 1), so no zeros, no ones, no symmetry
    state    running_mean ~ N(0, 1), running_var ~ U(0.5, 2), num_batches_tracked 3 (never the
             initial 0, 1, 0)
    dy       the upstream gradient, N(0, 1) of the output's shape (never ones)

and the forward pass draws its randomness (dropout's mask) from default_rng(seed + 1); the twin is
handed what the layer drew (Twin.share). Rows (check.compare): every quantity of ours against the
twin (framework/layers.py TWINS, torch autograd), and in float64 (central=True) the input and every
parameter gradient against central differences of f = sum(dy * y) in the same mode (check.py's
tolerances). float32 sums of n terms (a convolution's outputs and gradients, batch normalisation's
gamma and beta gradients) are held to assert_close's tolerances times sqrt(n) (cases.py's docstring).

Another framework's twins fit beside layer_torch: a function (case, x, params, state, dy, cache) ->
the same {quantity: array} from that framework's registry, compared with ours by `compared`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from experiments.equivalence import names
from experiments.equivalence.check import central_difference, central_rows, compare, require_random, tolerances
from framework.layers import twin_of
from framework.tables import torch_dtype
from reference import conv_shapes as cs
from reference import sequential as seq

DTYPES = (np.float64, np.float32)


@dataclass(frozen=True)
class Case:
    """One line of the layer table (cases.py's docstring)."""

    layer: object
    x_shape: tuple
    train: bool | None = None  # None: a layer without modes, run in train mode, no mode in the name
    data: str = "normal"
    central: bool = True  # False where the data sit on a kink (ReLU at 0, max-pooling's ties)
    quick: bool = False  # in the --quick subset
    note: str = ""
    dtypes: tuple = DTYPES

    @property
    def component(self) -> str:
        return names.component(self)

    @property
    def name(self) -> str:
        return names.case_name(self)

    @property
    def mode(self) -> bool:
        return True if self.train is None else self.train


def random_array(rng, shape, dtype, data="normal"):
    """normal: N(0, 1); ties: integers 0..3; negative: all in [-2, -0.5]."""
    if data == "ties":
        return rng.integers(0, 4, size=shape).astype(dtype)
    if data == "negative":
        return (-rng.uniform(0.5, 2.0, size=shape)).astype(dtype)
    return rng.normal(size=shape).astype(dtype)


def signals_with_kinks(rng, shape, dtype, mean: float = 0.0) -> np.ndarray:
    """Random signals with some entries exactly 0 (ReLU's kink) and some large (saturation)."""
    s = rng.normal(mean, 2, size=shape)
    s.flat[:: max(s.size // 5, 1)] = 0.0
    s.flat[1 :: max(s.size // 7, 1)] *= 20
    return s.astype(dtype)


def layer_input(rng, shape, dtype, data: str) -> np.ndarray:
    """x of the case's `data` kind (module docstring)."""
    if data in ("ties", "negative"):
        return random_array(rng, shape, dtype, data)
    if data == "kinks":
        return signals_with_kinks(rng, shape, dtype, mean=0.5)
    if data not in ("normal", "zero_row"):
        raise ValueError(f"unknown case data {data!r}; known: normal, ties, negative, kinks, zero_row")
    x = rng.normal(1.5, 2.0, size=shape).astype(dtype)
    if data == "zero_row":
        x[1] = 0.0
    return x


def random_state(state: dict, dtype, rng) -> dict:
    """Running statistics away from their initial values (module docstring)."""
    if not state:
        return state
    if set(state) != {"running_mean", "running_var", "num_batches_tracked"}:
        raise ValueError(f"no rule to randomise state {sorted(state)}; add one to layer_check.random_state")
    C = state["running_mean"].shape[0]
    return {"running_mean": rng.normal(size=C).astype(dtype), "running_var": rng.uniform(0.5, 2.0, C).astype(dtype),
            "num_batches_tracked": np.int64(3)}


def randomised_layer(layer, dtype, rng: np.random.Generator) -> tuple[dict, dict]:
    """layer.init, then every parameter + N(0, 1) (gamma + N(0, 0.5^2)) and random state."""
    params, state = layer.init(rng, dtype)
    params = {k: (v + (0.5 if k == "gamma" else 1.0) * rng.normal(size=v.shape)).astype(dtype)
              for k, v in params.items()}
    return params, random_state(state, dtype, rng)


def case_data(case: Case, dtype, seed: int = 0):
    """x, params, state, the upstream gradient dy (module docstring), and the forward's rng seed."""
    rng = np.random.default_rng(seed)
    x = layer_input(rng, case.x_shape, dtype, case.data)
    params, state = randomised_layer(case.layer, dtype, rng)
    y = case.layer.forward(x, params, state, train=case.mode, rng=np.random.default_rng(seed + 1))[0]
    dy = rng.normal(size=y.shape).astype(dtype)
    return x, params, state, dy, seed + 1


STATE_KEYS = ("running_mean", "running_var", "num_batches_tracked")


def state_quantities(state: dict) -> dict:
    return {f"state {k}": np.asarray(state[k]).reshape(-1) for k in STATE_KEYS if k in state}


def layer_ours(case: Case, x, params, state, dy, rng_seed) -> tuple[dict, object]:
    """Our forward and backward: quantities by name, and the cache (it holds what the layer drew)."""
    y, cache, new_state = case.layer.forward(x, params, state, train=case.mode, rng=np.random.default_rng(rng_seed))
    dx, grads = case.layer.backward(dy, cache)
    out = {"output": y, "input_grad": dx, **{f"grad {k}": v for k, v in grads.items()}}
    return {**out, **state_quantities(new_state)}, cache


def layer_torch(case: Case, x, params, state, dy, cache) -> dict:
    """The twin's forward and autograd backward on the same data (and what our layer drew)."""
    twin = twin_of(case.layer)
    m = twin.build(case.layer, params, state, torch_dtype(x.dtype))
    m.train(case.mode)
    twin.share(m, cache)
    xt = torch.from_numpy(x).requires_grad_(True)
    y = m(xt)
    y.backward(torch.from_numpy(dy))
    out = {"output": y.detach().numpy(), "input_grad": xt.grad.numpy()}
    out.update({f"grad {k}": v for k, v in twin.read(m, lambda p: p.grad).items()})
    return {**out, **state_quantities(twin.read_state(m))}


def layer_central(case: Case, x, params, state, dy, rng_seed) -> tuple[dict, float]:
    """Central differences of f = sum(dy * y) for the input and every parameter, and sum|dy * y|."""
    x, params = x.copy(), {k: v.copy() for k, v in params.items()}

    def y():
        return case.layer.forward(x, params, state, train=case.mode, rng=np.random.default_rng(rng_seed))[0]

    def f():
        return float(np.sum(dy * y()))

    out = {"input_grad": central_difference(f, x)}
    out.update({f"grad {k}": central_difference(f, v) for k, v in params.items()})
    return out, float(np.sum(np.abs(dy * y())))


def conv_terms(case: Case) -> dict:
    """The longest sum behind each quantity of a convolution."""
    l, (N, _, H, W) = case.layer, case.x_shape
    kernel = cs.pair(l.kernel, "kernel", l.name)
    k = kernel[0] * kernel[1]
    H_out, W_out = cs.output_shape((H, W), kernel, cs.per_side(l.padding), cs.pair(l.stride, "stride", l.name))
    return {"output": l.c_in * k, "input_grad": l.c_out * k, "grad K": N * H_out * W_out, "grad b": N * H_out * W_out}


def channel_terms(case: Case) -> dict:
    """gamma's and beta's gradients sum the m = N (L or H W) values of a channel."""
    m = int(np.prod(case.x_shape)) // case.x_shape[1]
    return {"grad gamma": m, "grad beta": m}


SUM_TERMS = {seq.Conv2d: conv_terms, seq.BatchNorm1d: channel_terms, seq.BatchNorm2d: channel_terms}


def sum_tolerances(case: Case, dtype) -> dict:
    """{quantity: (rtol, atol, note)} for float32 sums of n > 1 terms: assert_close's times sqrt(n)."""
    terms = SUM_TERMS.get(type(case.layer), lambda c: {})(case)
    if np.dtype(dtype) != np.float32:
        return {}
    r, a = tolerances(dtype, 1)
    return {q: (r * np.sqrt(n), a * np.sqrt(n), " (assert_close's x sqrt(n), n = terms per sum)")
            for q, n in terms.items() if n > 1}


def renamed(d: dict, new: dict) -> dict:
    return {new.get(k, k): v for k, v in d.items()}


def compared(case: Case, dtype, ours: dict, theirs: dict) -> list[dict]:
    """ours against the twin, quantity by quantity, under the row names of names.py."""
    new = names.quantity_names(case)
    tols = renamed(sum_tolerances(case, dtype), new)
    rows = []
    for q, t in renamed(theirs, new).items():
        rtol, atol, note = tols.get(q, (None, None, ""))
        rows.append(compare(case.component, case.name, q, renamed(ours, new)[q], t, dtype=dtype, rtol=rtol, atol=atol))
        rows[-1]["tolerance"] += note
    return rows


def case_rows(case: Case, dtype) -> list[dict]:
    """Rows of one case in one dtype: ours against the twin, and in float64 against central differences."""
    data = case_data(case, dtype)
    require_random(data[3])
    ours, cache = layer_ours(case, *data)
    theirs = layer_torch(case, *data[:4], cache)
    if set(ours) != set(theirs):
        raise AssertionError(f"{case.component}/{case.name}: quantities differ, ours {sorted(ours)}, "
                             f"theirs {sorted(theirs)}")
    rows = compared(case, dtype, ours, theirs)
    if np.dtype(dtype) == np.float64 and case.central:
        cd, f_scale = layer_central(case, *data)
        new = names.quantity_names(case)
        rows += central_rows(case.component, case.name, renamed(ours, new), renamed(cd, new), f_scale)
    return rows


def rows(cases, quick: bool = False) -> list[dict]:
    """Every row of the cases (quick: the lines marked quick), dtype by dtype as the table lists them."""
    picked = [c for c in cases if c.quick or not quick]
    return [r for dtype in DTYPES for c in picked if dtype in c.dtypes for r in case_rows(c, dtype)]
