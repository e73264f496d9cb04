"""Optimizers over the params of a Sequential model, as torch.optim defines them.

An optimizer is a frozen description of its hyper-parameters with two functions

    init(params)                            -> opt_state
    step(params, grads, opt_state, lr)      -> opt_state

params and grads are the model's lists of dicts of arrays (reference/sequential.py). step updates
every array of params in place and returns the optimizer state to pass to the next step; the state
(step count, momentum buffers, Adam's moments) lives apart from params, one dict of buffers per
parameter, {"step": t, "slots": [{key: {buffer name: array}}]} aligned with params. Buffers are
updated in place too (speed); treat the opt_state passed in as consumed. The learning rate is given
at every step, so a schedule (reference/schedules.py) is a plain function of the step or epoch.

For one parameter p with gradient g, at step t = 1, 2, ... (lr the step's learning rate):

SGD(momentum mu, dampening tau, nesterov, weight_decay lambda)         (torch.optim.SGD)
    g <- g + lambda p                               weight decay is added to the gradient first
    b <- g at t = 1, else mu b + (1 - tau) g        the momentum buffer (only when mu != 0)
    g <- g + mu b if nesterov, else b               (only when mu != 0)
    p <- p - lr g
  With mu = 0 and lambda = 0 this is the study's fixed-rate gradient descent W <- W - lr G.

Adam(betas (beta1, beta2), eps, weight_decay lambda)                    (torch.optim.Adam)
    g <- g + lambda p                               coupled decay: part of the gradient
    m <- beta1 m + (1 - beta1) g,   v <- beta2 v + (1 - beta2) g^2      (m, v start at 0)
    p <- p - (lr / (1 - beta1^t)) m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
  eps is added outside the square root, after the bias correction of v.

AdamW: as Adam, but the decay is decoupled (Loshchilov and Hutter 2019): p <- p (1 - lr lambda)
  before the update, and g is not changed.                              (torch.optim.AdamW)

The operations follow torch's single-tensor implementations in the same order (the moment update is
torch's lerp, m + w (g - m) for w < 0.5 and g - (g - m)(1 - w) otherwise), so that float64
trajectories agree to rounding. Hyper-parameters torch refuses are refused here, with torch's rule
and the value: negative lr, momentum, weight_decay or eps; betas outside [0, 1); nesterov without
momentum or with dampening.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def check_lr(lr: float, name: str) -> None:
    """torch: "Invalid learning rate"."""
    if not lr >= 0.0:
        raise ValueError(f"{name}: learning rate must be >= 0, got lr = {lr}")


def check_non_negative(value: float, what: str, name: str) -> None:
    if not value >= 0.0:
        raise ValueError(f"{name}: {what} must be >= 0, got {what} = {value}")


def empty_state(params: list[dict]) -> dict:
    """Step count 0 and no buffers yet (torch creates them at the first step)."""
    return {"step": 0, "slots": [{key: {} for key in p} for p in params]}


def check_aligned(params: list[dict], grads: list[dict], opt_state: dict, name: str) -> None:
    if not (len(params) == len(grads) == len(opt_state["slots"])):
        raise ValueError(f"{name}: {len(params)} parameter dicts, {len(grads)} gradient dicts and "
                         f"{len(opt_state['slots'])} state dicts; they must be aligned")
    for i, (p, g) in enumerate(zip(params, grads)):
        if set(p) != set(g):
            raise ValueError(f"{name}: layer {i} has parameters {sorted(p)} but gradients {sorted(g)}")


def lerp_(a: np.ndarray, b: np.ndarray, w: float) -> None:
    """a <- a + w (b - a), in place, in torch.lerp's two forms (exact at w = 0 and w = 1)."""
    if abs(w) < 0.5:
        a += w * (b - a)
    else:
        a[...] = b - (b - a) * (1.0 - w)


class Optimizer:
    """init and step shared by the optimizers: checks, the step count, and `update` per parameter."""

    name: str

    def init(self, params: list[dict]) -> dict:
        return empty_state(params)

    def step(self, params: list[dict], grads: list[dict], opt_state: dict, lr: float) -> dict:
        """One update of every parameter in place; returns the new opt_state."""
        check_lr(lr, self.name)
        check_aligned(params, grads, opt_state, self.name)
        t = opt_state["step"] + 1
        for p, g, slots in zip(params, grads, opt_state["slots"]):
            for key in p:
                self.update(p[key], g[key], slots[key], lr, t)
        return {"step": t, "slots": opt_state["slots"]}


@dataclass(frozen=True)
class SGD(Optimizer):
    """torch.optim.SGD: momentum, dampening, nesterov, weight_decay (formulas: module docstring)."""

    momentum: float = 0.0
    dampening: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    name: str = "SGD"

    def __post_init__(self):
        check_non_negative(self.momentum, "momentum", self.name)
        check_non_negative(self.weight_decay, "weight_decay", self.name)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError(f"{self.name}: nesterov momentum requires a momentum > 0 and zero dampening, "
                             f"got momentum = {self.momentum}, dampening = {self.dampening}")

    def update(self, w: np.ndarray, d: np.ndarray, s: dict, lr: float, t: int) -> None:
        """w <- w - lr d after decay and momentum; s holds the momentum buffer."""
        mu = self.momentum
        if self.weight_decay != 0:
            d = d + self.weight_decay * w
        if mu != 0:
            buf = s.get("momentum_buffer")
            if buf is None:
                buf = s["momentum_buffer"] = d.copy()
            else:
                buf *= mu
                buf += (1.0 - self.dampening) * d
            d = d + mu * buf if self.nesterov else buf
        w -= lr * d


@dataclass(frozen=True)
class Adam(Optimizer):
    """torch.optim.Adam (decoupled=False) or AdamW (decoupled=True); formulas: module docstring."""

    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    decoupled: bool = False
    name: str = "Adam"

    def __post_init__(self):
        check_non_negative(self.eps, "eps", self.name)
        check_non_negative(self.weight_decay, "weight_decay", self.name)
        for i, beta in enumerate(self.betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{self.name}: betas must lie in [0, 1), got betas[{i}] = {beta} "
                                 f"(betas = {tuple(self.betas)})")

    def update(self, w: np.ndarray, d: np.ndarray, s: dict, lr: float, t: int) -> None:
        """One Adam step of w at step t; s holds the moments exp_avg (m) and exp_avg_sq (v)."""
        beta1, beta2 = self.betas
        wd = self.weight_decay
        if not s:
            s["exp_avg"], s["exp_avg_sq"] = np.zeros_like(w), np.zeros_like(w)
        if wd != 0:
            if self.decoupled:
                w *= 1.0 - lr * wd
            else:
                d = d + wd * w
        m, v = s["exp_avg"], s["exp_avg_sq"]
        lerp_(m, d, 1.0 - beta1)
        v *= beta2
        v += (1.0 - beta2) * d * d
        denom = np.sqrt(v)
        denom /= (1.0 - beta2 ** t) ** 0.5
        denom += self.eps
        w += (-(lr / (1.0 - beta1 ** t)) * m) / denom


def AdamW(betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2) -> Adam:
    """torch.optim.AdamW: Adam with decoupled weight decay (default 0.01, as torch's)."""
    return Adam(betas, eps, weight_decay, decoupled=True, name="AdamW")
