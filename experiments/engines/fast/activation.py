"""Fast ReLU: y = max(0, s) and dE/ds = dy (s > 0), each one pass that keeps its input's memory layout
(so channel-major arrays stay channel-major, layout.py): NumPy's maximum, and a compiled ufunc
(kernels.py) in place of the reference's three passes (compare, cast theta'(s) to a float array, multiply),
with the same products."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from experiments.engines.fast import kernels
from reference import sequential as seq
from reference.checks import require_upstream


@dataclass(frozen=True)
class ReLU(seq.Activation):
    """reference.sequential.Activation("relu") without the cast of the derivative to a float array."""

    def apply(self, s):
        return np.maximum(s, s.dtype.type(0)), s

    def apply_backward(self, dx, s):
        require_upstream(dx, s.shape, s.dtype, self.name)
        return kernels.relu_backward(dx, s), {}
