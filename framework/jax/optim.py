"""The reference optimizers and schedules (reference/optim.py, schedules.py) mapped onto optax.

`optax_transformation(opt, learning_rate)` is the optax GradientTransformation computing what `opt`
computes; `JaxOptimizer(opt, params)` wraps it in optax.inject_hyperparams so that each step is given its
learning rate, as the reference's step is, and jit-compiles the update. `optax_schedule(schedule, lr0)` is
the optax schedule of a reference schedule. Registries keyed by the reference type, as framework/optim.py's.

The mappings, and why (the reference's definitions are torch's):

SGD(momentum mu, nesterov, weight_decay lambda)
    chain(add_decayed_weights(lambda), trace(mu, nesterov), scale_by_learning_rate(lr))
    torch adds lambda p to the gradient BEFORE the momentum buffer, so the decay goes first in the chain
    (optax.sgd has no weight decay; putting add_decayed_weights after trace would keep the decay out of the
    buffer). optax.trace starts its buffer at 0, so its first value is g, torch's first buffer b = g; its
    nesterov form g + mu b is torch's. torch's dampening tau has no optax counterpart (trace always adds
    g whole): a twin with tau != 0 is refused, not approximated.
Adam(betas, eps, weight_decay lambda), coupled decay
    chain(add_decayed_weights(lambda), scale_by_adam(b1, b2, eps, eps_root=0), scale_by_learning_rate(lr))
    torch's Adam adds lambda p to the gradient before the moments (L2 regularisation), so the decay goes
    first. Epsilon: optax's eps is torch's, added after the square root of the bias-corrected v
    (m_hat / (sqrt(v_hat) + eps)); optax's eps_root (inside the root) stays 0. Keras's epsilon is
    Kingma and Ba's "epsilon hat", added to sqrt(v) before the bias correction (docs/conventions.md).
AdamW(betas, eps, weight_decay lambda), decoupled decay
    optax.adamw(lr, b1, b2, eps, weight_decay=lambda) = chain(scale_by_adam, add_decayed_weights(lambda),
    scale_by_learning_rate(lr)): the update is -lr (adam + lambda p), i.e. p (1 - lr lambda) - lr adam,
    torch's: both multiply the decay by the learning rate and both decay the pre-step p. optax's default
    lambda is 1e-4, torch's 1e-2, so lambda is always passed.

Schedules (t counts scheduler steps; each evaluated in Python and injected as the step's rate):
    Constant             constant_schedule(lr0)
    StepLR(k, gamma)     exponential_decay(lr0, transition_steps=k, decay_rate=gamma, staircase=True)
    ExponentialLR(gamma) exponential_decay(lr0, transition_steps=1, decay_rate=gamma)
    CosineAnnealingLR(T, eta_min)
                         cosine_decay_schedule(lr0, decay_steps=T, alpha=eta_min / lr0) at t folded into
                         [0, T]: optax holds eta_min after T, torch's cosine goes on (back to lr0 at 2T); the
                         cosine is even and 2T-periodic, so t -> |t mod 2T - ...| reproduces torch's rate.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from reference import optim, schedules


def sgd_transformation(o: optim.SGD, learning_rate) -> optax.GradientTransformation:
    if o.dampening != 0:
        raise ValueError(f"{o.name}: optax's trace has no dampening; no JAX twin for dampening = {o.dampening}")
    parts = [optax.add_decayed_weights(o.weight_decay)] if o.weight_decay else []
    if o.momentum:
        parts.append(optax.trace(decay=o.momentum, nesterov=o.nesterov))
    return optax.chain(*parts, optax.scale_by_learning_rate(learning_rate))


def adam_transformation(o: optim.Adam, learning_rate) -> optax.GradientTransformation:
    b1, b2 = o.betas
    if o.decoupled:
        return optax.adamw(learning_rate, b1=b1, b2=b2, eps=o.eps, eps_root=0.0, weight_decay=o.weight_decay)
    parts = [optax.add_decayed_weights(o.weight_decay)] if o.weight_decay else []
    return optax.chain(*parts, optax.scale_by_adam(b1=b1, b2=b2, eps=o.eps, eps_root=0.0),
                       optax.scale_by_learning_rate(learning_rate))


OPTIMIZERS = {optim.SGD: sgd_transformation, optim.Adam: adam_transformation}


def optax_transformation(opt, learning_rate) -> optax.GradientTransformation:
    """The optax transformation of the reference optimizer `opt` (TypeError when there is none)."""
    if type(opt) not in OPTIMIZERS:
        raise TypeError(f"no optax twin for optimizer {opt!r}")
    return OPTIMIZERS[type(opt)](opt, learning_rate)


def cosine_schedule(s: schedules.CosineAnnealingLR, lr0: float):
    decay = optax.cosine_decay_schedule(lr0, decay_steps=s.T_max, alpha=s.eta_min / lr0)

    def schedule(t: int):
        t = t % (2 * s.T_max)  # torch's cosine is 2 T_max-periodic and even about T_max
        return decay(t if t <= s.T_max else 2 * s.T_max - t)
    return schedule


SCHEDULES = {
    schedules.Constant: lambda s, lr0: optax.constant_schedule(lr0),
    schedules.StepLR: lambda s, lr0: optax.exponential_decay(lr0, s.step_size, s.gamma, staircase=True),
    schedules.ExponentialLR: lambda s, lr0: optax.exponential_decay(lr0, 1, s.gamma),
    schedules.CosineAnnealingLR: cosine_schedule,
}


def optax_schedule(schedule, lr0: float):
    """The optax schedule t -> learning rate of a reference schedule with base rate lr0."""
    if type(schedule) not in SCHEDULES:
        raise TypeError(f"no optax schedule for schedule {schedule!r}")
    return SCHEDULES[type(schedule)](schedule, lr0)


def injected(opt) -> optax.GradientTransformation:
    """optax_transformation(opt) with the learning rate a hyper-parameter of its state (set per step)."""
    return optax.inject_hyperparams(lambda learning_rate: optax_transformation(opt, learning_rate))(learning_rate=0.0)


@lru_cache(maxsize=32)
def compiled_update(opt):
    """jit of (params, grads, state) -> (new params, new state), compiled once per optimizer setting (the
    transformation depends on the reference optimizer's settings only; the rate lives in the state)."""
    tx = injected(opt)

    def update(params, grads, state):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state
    return jax.jit(update)


class JaxOptimizer:
    """An optax optimizer over a twin's params (JAX layout), one jit-compiled update per step."""

    def __init__(self, opt, params):
        self.state = injected(opt).init(params)
        self._update = compiled_update(opt)

    def step(self, params, grads, lr: float):
        """params after one update with learning rate lr."""
        self.state.hyperparams["learning_rate"] = jnp.asarray(lr, dtype=jnp.float64)
        params, self.state = self._update(params, grads, self.state)
        return params


class Buffers(NamedTuple):
    step: int
    buffers: dict  # reference buffer name -> tree in the params layout


def buffers(opt: JaxOptimizer) -> Buffers:
    """optax's per-parameter buffers under the reference's names: momentum_buffer (trace), exp_avg and
    exp_avg_sq (Adam's mu and nu); step = the number of updates."""
    found = {}
    for s in jax.tree_util.tree_leaves(opt.state.inner_state, is_leaf=lambda x: isinstance(
            x, (optax.TraceState, optax.ScaleByAdamState))):
        if isinstance(s, optax.TraceState):
            found["momentum_buffer"] = s.trace
        elif isinstance(s, optax.ScaleByAdamState):
            found["exp_avg"], found["exp_avg_sq"] = s.mu, s.nu
    return Buffers(int(opt.state.count), found)
