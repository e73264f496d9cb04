"""The JAX side of the one check (check.py): the same quantities from a JAX twin and jax.vjp, and the
four-way comparison (ours, torch autograd, JAX autograd, central differences) as rows with a framework.

    run_jax(jtwin, arrays, dy, names)        check.run_twin's counterpart: jtwin(dict of jnp arrays) -> y,
                                             the gradients by jax.vjp with the same upstream gradient dy
    run_layer(layer, params, state, x, dy, train, shared)
                                             a reference Sequential layer's JAX twin from the registry
                                             (framework/jax/layers.py): output, input_grad, "grad <key>" in
                                             the reference's layout (read back by the twin's converter),
                                             and the new state as "state <key>"
    four_way(component, case, quantities)    rows: framework "torch" (ours vs torch, ours vs central
                                             differences), "jax" (ours vs JAX, JAX vs central differences)
                                             and "torch-vs-jax" (the two frameworks directly)

Tolerances are check.py's: float64 rtol 1e-10, atol 1e-12 (float32: assert_close's times depth), central
differences rtol 1e-6 with the rounding bound as atol.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from experiments.equivalence.check import central_rows, compare
from framework.jax.layers import jax_twin_of

FRAMEWORKS = ("torch", "jax", "torch-vs-jax")
NEW_FRAMEWORKS = ("jax", "torch-vs-jax")  # the rows the JAX twin adds to the harness's torch rows
STATE_KEYS = {"running_mean": "running_mean", "running_var": "running_var",
              "num_batches_tracked": "num_batches_tracked"}


def run_jax(jtwin, arrays: dict, dy: np.ndarray, names: dict) -> dict:
    """{quantity: array} from the JAX twin: the output and the vjp of dy for every array in `names`."""
    diff = {k: jnp.asarray(a) for k, a in arrays.items() if k in names}
    fixed = {k: jnp.asarray(a) for k, a in arrays.items() if k not in names}

    @jax.jit  # one compilation for the whole case (op by op, JAX compiles every primitive per shape)
    def forward_backward(diff, fixed, dy):
        y, vjp = jax.vjp(lambda d: jtwin({**fixed, **d}), diff)
        return y, vjp(dy)[0]
    y, grads = forward_backward(diff, fixed, jnp.asarray(dy))
    return {names["output"]: np.asarray(y), **{q: np.asarray(grads[k]) for k, q in names.items() if k != "output"}}


def run_layer(layer, params: dict, state: dict, x: np.ndarray, dy: np.ndarray, train: bool, cache=None) -> dict:
    """The registry twin of a reference layer on x: output, input_grad, "grad <key>" (reference layout, read by
    the twin's converter) and "state <key>" (the state after the pass); cache: the reference's forward cache,
    whose randomness (dropout's mask) the twin is handed."""
    twin = jax_twin_of(layer)
    built = twin.build(layer, params, state)
    shared = twin.share(cache) if cache is not None else None

    def f(p, x):
        return built.apply(p, built.state, x, train, shared)

    @jax.jit
    def forward_backward(p, x, dy):
        (y, new_state), vjp = jax.vjp(f, p, x)
        return y, new_state, vjp((dy, jax.tree_util.tree_map(jnp.zeros_like, new_state)))

    y, new_state, (g_params, g_x) = forward_backward(built.params, jnp.asarray(x), jnp.asarray(dy))
    out = {"output": np.asarray(y), "input_grad": np.asarray(g_x)}
    out.update({f"grad {k}": v for k, v in twin.read(g_params).items()})
    st = twin.read_state(new_state)
    out.update({f"state {k}": np.asarray(st[k]).reshape(-1) for k in STATE_KEYS if k in st})
    return out


class Quantities(NamedTuple):
    """What each side computed, {quantity: array}; central: central differences (float64, may be empty)."""

    ours: dict
    torch: dict
    jax: dict
    central: dict
    central_scale: float = 0.0


def tagged(rows: list[dict], framework: str) -> list[dict]:
    for r in rows:
        r["framework"] = framework
    return rows


def pair_rows(component: str, case: str, a: dict, b: dict, dtype, depth: int = 1, tols: dict | None = None) -> list:
    """One row per quantity of b: a against b under the dtype's tolerances (or tols[q] = (rtol, atol, note))."""
    if set(a) != set(b):
        raise AssertionError(f"{component}/{case}: quantities differ, {sorted(a)} vs {sorted(b)}")
    rows = []
    for q in b:
        rtol, atol, note = (tols or {}).get(q, (None, None, ""))
        rows.append(compare(component, case, q, a[q], b[q], dtype, depth, rtol, atol))
        rows[-1]["tolerance"] += note
    return rows


def four_way(component: str, case: str, q: Quantities, dtype, depth: int = 1, tols: dict | None = None,
             frameworks=FRAMEWORKS) -> list:
    """Rows of the four-way check, each with its framework (module docstring), for the frameworks asked
    (the harness's torch rows come from its own modules, so it asks for NEW_FRAMEWORKS)."""
    rows = []
    if "torch" in frameworks:
        rows += tagged(pair_rows(component, case, q.ours, q.torch, dtype, depth, tols), "torch")
    if "jax" in frameworks:
        rows += tagged(pair_rows(component, case, q.ours, q.jax, dtype, depth, tols), "jax")
    if "torch-vs-jax" in frameworks:
        rows += tagged(pair_rows(component, case, q.torch, q.jax, dtype, depth, tols), "torch-vs-jax")
    if q.central and "torch" in frameworks:
        rows += tagged(central_rows(component, case, q.ours, q.central, q.central_scale), "torch")
    if q.central and "jax" in frameworks:
        rows += tagged(central_rows(component, case, q.jax, q.central, q.central_scale), "jax")
    return rows
