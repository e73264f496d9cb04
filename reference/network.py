"""The study's neural network (1.3.2): architecture, weight shapes and initialisation.

A network is the layer widths d = (d[0], ..., d[L]), a hidden activation (layers 1..L-1), an output
activation (layer L) and a loss. Its weights are the list W with W[l] of shape (d[l-1] + 1, d[l])
for l = 1..L; W[0] is None so that indices read as in the study.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference.activations import get_activation
from reference.checks import require_finite, require_float
from reference.losses import LOSSES

INIT_SCHEMES = ("lecun_normal", "uniform", "normal")


@dataclass(frozen=True)
class Architecture:
    """d = (d[0], ..., d[L]); hidden/output activation names; loss in {squared_error, cross_entropy}."""

    d: tuple[int, ...]
    hidden: str = "tanh"
    output: str = "tanh"
    loss: str = "squared_error"

    def __post_init__(self):
        object.__setattr__(self, "d", tuple(int(n) for n in self.d))
        if len(self.d) < 2 or any(n < 1 for n in self.d):
            raise ValueError(f"layer widths d must have at least 2 entries, all >= 1, got {self.d}")
        get_activation(self.hidden)
        get_activation(self.output)
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; known losses: {', '.join(LOSSES)}")
        if self.loss == "cross_entropy" and self.output != "identity":
            raise ValueError(
                f"cross_entropy applies softmax to the signal s[L] itself, so the output activation "
                f"must be 'identity', got {self.output!r}"
            )

    @property
    def L(self) -> int:
        """Number of layers with weights."""
        return len(self.d) - 1

    def theta(self, l: int):
        """The activation of layer l (1..L)."""
        return get_activation(self.output if l == self.L else self.hidden)

    def weight_shapes(self) -> list:
        """[None, (d[0]+1, d[1]), ..., (d[L-1]+1, d[L])]."""
        return [None] + [(self.d[l - 1] + 1, self.d[l]) for l in range(1, self.L + 1)]


def init_weights(
    arch: Architecture,
    rng: np.random.Generator,
    scheme: str = "lecun_normal",
    gain: float = 1.0,
    dtype=np.float64,
) -> list:
    """Random initial weights, bias row included.

    lecun_normal: W[l]_ij ~ N(0, (gain / sqrt(d[l-1]))^2)  (LeCun et al., Efficient BackProp)
    uniform:      W[l]_ij ~ U(-gain / sqrt(d[l-1]), +gain / sqrt(d[l-1]))  (gain 1 = nn.Linear's default)
    normal:       W[l]_ij ~ N(0, gain^2)  (no fan-in scaling: the plain randn of much from-scratch code)
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; known: {', '.join(INIT_SCHEMES)}")
    if not gain > 0:
        raise ValueError(f"init gain must be > 0, got {gain}")
    W = [None]
    for l in range(1, arch.L + 1):
        shape = arch.weight_shapes()[l]
        bound = gain / np.sqrt(arch.d[l - 1])
        if scheme == "normal":
            w = rng.normal(0.0, gain, size=shape)
        elif scheme == "lecun_normal":
            w = rng.normal(0.0, bound, size=shape)
        else:
            w = rng.uniform(-bound, bound, size=shape)
        W.append(w.astype(dtype))
    return W


def check_weights(arch: Architecture, W: list) -> None:
    """Raise a clear error unless W = [None, W[1], ..., W[L]] has the architecture's shapes."""
    shapes = arch.weight_shapes()
    if len(W) != len(shapes):
        raise ValueError(f"expected {arch.L} weight matrices W[1..{arch.L}] (list of {arch.L + 1} with W[0] = None), "
                         f"got a list of {len(W)}")
    dtypes = set()
    for l in range(1, arch.L + 1):
        require_float(W[l], f"W[{l}]")
        if W[l].shape != shapes[l]:
            raise ValueError(
                f"W[{l}] has shape {W[l].shape}, expected {shapes[l]} = (d[{l - 1}] + 1, d[{l}]) "
                f"for d = {arch.d}"
            )
        require_finite(W[l], f"W[{l}]")
        dtypes.add(W[l].dtype)
    if len(dtypes) > 1:
        raise TypeError(f"all W[l] must share one dtype, got {sorted(str(t) for t in dtypes)}")


def copy_weights(W: list) -> list:
    """A deep copy of W (W[0] stays None)."""
    return [None] + [w.copy() for w in W[1:]]
