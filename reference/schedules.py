"""Learning-rate schedules as torch.optim.lr_scheduler defines them, as pure functions of the count t.

t counts scheduler steps (epochs, or optimizer steps, as the caller decides; t = 0 gives the base
rate lr0). Each schedule is a frozen description; schedule(lr0, t) is the learning rate:

    Constant()                       lr0
    StepLR(step_size, gamma=0.1)     lr0 gamma^floor(t / step_size)
    ExponentialLR(gamma)             lr0 gamma^t
    CosineAnnealingLR(T_max, eta_min=0)
                                     eta_min + (lr0 - eta_min) (1 + cos(pi t / T_max)) / 2
                                     (past T_max the cosine goes on: back up to lr0 at t = 2 T_max,
                                     as torch's scheduler does)

torch computes the same values recursively (each step multiplies the previous rate), so the two
agree to rounding (a few ulps after hundreds of steps; tests/test_optim.py bounds it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Constant:
    def __call__(self, lr0: float, t: int) -> float:
        return lr0


@dataclass(frozen=True)
class StepLR:
    step_size: int
    gamma: float = 0.1

    def __post_init__(self):
        if not (isinstance(self.step_size, int) and self.step_size >= 1):
            raise ValueError(f"StepLR: step_size must be an integer >= 1, got step_size = {self.step_size!r}")

    def __call__(self, lr0: float, t: int) -> float:
        return lr0 * self.gamma ** (t // self.step_size)


@dataclass(frozen=True)
class ExponentialLR:
    gamma: float

    def __call__(self, lr0: float, t: int) -> float:
        return lr0 * self.gamma ** t


@dataclass(frozen=True)
class CosineAnnealingLR:
    T_max: int
    eta_min: float = 0.0

    def __post_init__(self):
        if not self.T_max > 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be > 0, got T_max = {self.T_max!r}")

    def __call__(self, lr0: float, t: int) -> float:
        return self.eta_min + (lr0 - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2
