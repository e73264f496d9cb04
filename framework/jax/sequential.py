"""The JAX twin of a reference Sequential model (reference/sequential.py), same weights.

`build_twin(model, params, state)` maps each reference layer to its twin through the registry
framework/jax/layers.py (JAX_TWINS) and copies the parameters and state into JAX's layout. The twin is
pure: `forward(twin, params, state, x, train, shared)` gives (s[L], new state), and `loss_and_grads`
differentiates E_in of the model's own loss (its twin in framework/jax/tables.py; the softmax
cross-entropy when the model names none) by jax.value_and_grad, jit-compiled once per model and mode.
`shared` holds what each reference layer drew (dropout keep-masks, `share_randomness`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from framework.jax.layers import jax_twin_of
from framework.jax.tables import jax_loss
from reference import sequential as seq
from reference.losses import get_loss


class JaxSequential(NamedTuple):
    model: seq.Sequential
    applies: tuple
    params: list   # per layer, JAX's layout
    state: list


def build_twin(model: seq.Sequential, params: list[dict], state: list[dict] | None = None) -> JaxSequential:
    """The twin of `model` holding copies of `params` (and `state`) in JAX's layout."""
    state = [{} for _ in model.layers] if state is None else state
    built = [jax_twin_of(l).build(l, p, s) for l, p, s in zip(model.layers, params, state)]
    return JaxSequential(model, tuple(b.apply for b in built), [b.params for b in built], [b.state for b in built])


def forward(applies: tuple, params: list, state: list, x, train: bool, shared: list):
    """(s[L], the new state): every layer's apply in order."""
    new_state = []
    for apply, p, s, r in zip(applies, params, state, shared):
        x, s = apply(p, s, x, train, r)
        new_state.append(s)
    return x, new_state


def model_loss(model: seq.Sequential):
    return get_loss("cross_entropy") if model.loss is None else model.loss


_COMPILED: dict = {}


def compiled(model: seq.Sequential, applies: tuple, train: bool):
    """jit(value_and_grad(E_in)) of the model in one mode: (params, state, x, labels, shared) ->
    ((E_in, (s[L], new state)), dE_in/dparams). Cached by (model, mode): the applies of two twins of one
    model compute the same functions (a build closes over the layer's settings only, never its numbers),
    so a model compiles once per mode however many twins are built."""
    key = (model, train)
    if key not in _COMPILED:
        loss = model_loss(model)

        def E(params, state, x, labels, shared):
            s_L, new_state = forward(applies, params, state, x, train, shared)
            y = labels if loss.pairwise else jax.nn.one_hot(labels, s_L.shape[1], dtype=s_L.dtype)
            return jax_loss(loss, s_L, s_L, y), (s_L, new_state)
        _COMPILED[key] = jax.jit(jax.value_and_grad(E, has_aux=True))
    return _COMPILED[key]


def share_randomness(twin: JaxSequential, caches: list | None) -> list:
    """What each reference layer drew in the forward pass that made `caches` (None where nothing; caches None:
    nothing drawn anywhere)."""
    if caches is None:
        return no_randomness(twin)
    return [jax_twin_of(l).share(c) for l, c in zip(twin.model.layers, caches)]


def no_randomness(twin: JaxSequential) -> list:
    return [None] * len(twin.model.layers)


def read(twin: JaxSequential, trees: list) -> list[dict]:
    """Per-layer trees in the twin's params layout (params, gradients, optimizer buffers) -> reference layout."""
    return [jax_twin_of(l).read(t) for l, t in zip(twin.model.layers, trees)]


def read_state(twin: JaxSequential, state: list) -> list[dict]:
    return [jax_twin_of(l).read_state(s) for l, s in zip(twin.model.layers, state)]


def loss_and_grads(twin: JaxSequential, x: np.ndarray, labels: np.ndarray, *, train: bool = True,
                   shared: list | None = None) -> tuple[seq.LossAndGrads, list, list]:
    """E_in, its gradients (reference layout), s[L] and the new state (reference layout), plus the raw
    gradients and new state in the twin's layout (for an optax step)."""
    shared = no_randomness(twin) if shared is None else shared
    labels = np.asarray(labels, dtype=np.int64)
    (E, (s_L, new_state)), grads = compiled(twin.model, twin.applies, train)(
        twin.params, twin.state, jnp.asarray(x), jnp.asarray(labels), shared)
    result = seq.LossAndGrads(float(E), read(twin, grads), np.asarray(s_L), read_state(twin, new_state))
    return result, grads, new_state


def predict_logits(twin: JaxSequential, x: np.ndarray, train: bool = False) -> np.ndarray:
    """s[L] in eval mode (train=False) without gradients."""
    return np.asarray(forward(twin.applies, twin.params, twin.state, jnp.asarray(x), train, no_randomness(twin))[0])
