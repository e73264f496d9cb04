"""The fast path of the Sequential CNN: the reference's layers (reference/sequential.py) computed fast.

    fast(model)        the same model with its convolution, pooling, 2-D batch-norm and ReLU layers
                       replaced by fast twins (same fields, init draws, interface and caches' meaning)
    reference(model)   back to the reference layers (the definition; the torch twins know these)
    on_path(model, p)  the one or the other, as a run's `path` setting ("reference" or "fast") names it

The reference stays the definition; tests/test_fast_cnn.py proves every fast layer against it
(forward and backward, float64 to 1e-12 relative, float32 within rounding) and whole trainings step
for step. How the speed is won: layout.py (channel-major memory between layers, no transposing copies),
conv.py (the reference's GEMMs, col2im as one compiled gather; float32 stride-1 layers by direct.py's direct
convolution on simd.py's register-blocked micro-kernels), pooling.py and batchnorm.py (compiled passes over
contiguous rows), kernels.py (the numba loops).
"""

from __future__ import annotations

from dataclasses import fields

from experiments.engines.fast.activation import ReLU
from experiments.engines.fast.batchnorm import BatchNorm2d
from experiments.engines.fast.conv import Conv2d
from experiments.engines.fast.pooling import AvgPool2d, MaxPool2d
from reference import sequential as seq

FAST_LAYERS = {seq.Conv2d: Conv2d, seq.MaxPool2d: MaxPool2d, seq.AvgPool2d: AvgPool2d,
               seq.BatchNorm2d: BatchNorm2d, seq.Activation: ReLU}
REFERENCE_LAYERS = {v: k for k, v in FAST_LAYERS.items()}


def has_fast_twin(layer) -> bool:
    """Whether fast() replaces this layer (a ReLU activation; batch norm only with affine parameters)."""
    kind = type(layer)
    if kind is seq.Activation:
        return layer.activation == "relu"
    if kind is seq.BatchNorm2d:
        return layer.affine
    return kind in FAST_LAYERS


def convert(layer, table: dict):
    """The layer rebuilt as table[type(layer)] with the same fields."""
    return table[type(layer)](**{f.name: getattr(layer, f.name) for f in fields(layer)})


def fast(model: seq.Sequential) -> seq.Sequential:
    """The fast twin of a reference Sequential model (layers without a fast twin are kept as they are)."""
    layers = tuple(convert(layer, FAST_LAYERS) if has_fast_twin(layer) else layer for layer in model.layers)
    return seq.Sequential(layers, model.loss)


def is_fast(model: seq.Sequential) -> bool:
    """Whether any layer of the model is a fast twin."""
    return any(type(layer) in REFERENCE_LAYERS for layer in model.layers)


def on_path(model: seq.Sequential, path: str) -> seq.Sequential:
    """The model on the NumPy path a run setting names: "reference" (as defined) or "fast"."""
    if path not in ("reference", "fast"):
        raise ValueError(f"unknown NumPy path {path!r}; known: reference, fast")
    return fast(model) if path == "fast" else reference(model)


def reference(model: seq.Sequential) -> seq.Sequential:
    """The reference model of a fast twin (a reference model is returned as it is)."""
    layers = tuple(convert(layer, REFERENCE_LAYERS) if type(layer) in REFERENCE_LAYERS else layer
                   for layer in model.layers)
    return seq.Sequential(layers, model.loss)
