"""Fast ReLU: y = max(0, s) and dE/ds = dy (s > 0), each one NumPy pass that keeps its input's memory
layout (so channel-major arrays stay channel-major, layout.py). The reference multiplies by
theta'(s) = (s > 0) cast to the dtype; multiplying by the boolean gives the same numbers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference import sequential as seq


@dataclass(frozen=True)
class ReLU(seq.Activation):
    """reference.sequential.Activation("relu") without the cast of the derivative to a float array."""

    def apply(self, s):
        return np.maximum(s, 0), s

    def apply_backward(self, dx, s):
        return np.multiply(dx, s > 0), {}
