"""A sequential model (study 1.4): convolution, pooling, activations, flatten, dense, softmax.

Every layer is a small frozen description with pure functions

    init(rng, dtype)                              -> (params, state)
    forward(x, params, state, *, train, rng)      -> (y, cache, state)
    backward(dy, cache, need_dx=True)             -> (dx, grads)     grads has the keys of params

params are what an optimizer trains (a dict of arrays, {} for layers without any); state is what
the layer itself updates in train mode (batch normalisation's running statistics; {} for most
layers), returned anew by forward, never changed in place. `train` selects the mode (batch
statistics or running statistics, dropout on or off); `rng` (a numpy Generator) is where a layer
draws its randomness (dropout masks) and may be None for layers that draw nothing. dy = dE/dy is
the gradient of the scalar error E with respect to the layer's output; need_dx=False tells a layer
that nobody needs dE/dx (the model's input), so it may return None for it and skip the work.

The model composes them: forward in order, backward in reverse order (the study's
backpropagation, with the sensitivities delta now being the gradients dE/ds of each layer's signal).

The output is the last layer's signal s[L] (N, classes); the error is the study's
E_in = (1/N) sum_n e_n with the softmax cross-entropy e_n = -log softmax(s[L]_n)_{y_n}
(reference/losses.py), so dE_in/ds[L] = (softmax(s[L]) - y) / N, y one-hot; a model given another
Loss (e.g. the additive-margin softmax on a CosineDense layer's cosines) uses its e_n and delta instead.

Initialisation (seeded from numpy: numpy.random.default_rng(seed), layers drawn in order):
weights ~ N(0, gain / fan_in) with gain 2 (He et al. 2015) for layers followed by ReLU and gain 1
(LeCun's fan_in^-1/2) for the output layer; biases 0. fan_in = c_in k_h k_w for a convolution and
d_in for a dense layer. Batch normalisation starts at gamma = 1, beta = 0 and draws nothing.

Training updates params with an optimizer (reference/optim.py); the study's fixed-rate gradient
descent is optim.SGD() (no momentum, no weight decay).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

import numpy as np

from reference import batchnorm as bn
from reference import conv, cosine, dense, dropout, flatten, leaky_relu, pooling
from reference import conv_shapes as cs
from reference.activations import get_activation
from reference.checks import require_upstream
from reference.losses import Loss, cross_entropy, cross_entropy_grad


@dataclass(frozen=True)
class Conv2d:
    """Cross-correlation layer (reference/conv.py). padding per side: int, (p_h, p_w) or 4-tuple."""

    c_in: int
    c_out: int
    kernel: int | tuple[int, int]
    stride: int | tuple[int, int] = 1
    padding: int | tuple = 0
    gain: float = 2.0
    name: str = "conv"

    def init(self, rng: np.random.Generator, dtype) -> tuple[dict, dict]:
        k_h, k_w = cs.pair(self.kernel, "kernel", self.name)
        fan_in = self.c_in * k_h * k_w
        K = rng.normal(0.0, np.sqrt(self.gain / fan_in), size=(self.c_out, self.c_in, k_h, k_w))
        return {"K": K.astype(dtype), "b": np.zeros(self.c_out, dtype=dtype)}, {}

    def forward(self, x, params, state, *, train: bool, rng=None):
        y, cache = conv.forward(x, params["K"], params["b"], self.stride, self.padding, self.name)
        return y, cache, state

    def backward(self, dy, cache, need_dx: bool = True):
        return conv.backward(dy, cache, need_dx)


class Stateless:
    """Shared by layers with neither params nor state: init gives ({}, {}); the mode is irrelevant."""

    def init(self, rng, dtype) -> tuple[dict, dict]:
        return {}, {}

    def forward(self, x, params, state, *, train: bool, rng=None):
        y, cache = self.apply(x)
        return y, cache, state

    def backward(self, dy, cache, need_dx: bool = True):
        return self.apply_backward(dy, cache)


@dataclass(frozen=True)
class MaxPool2d(Stateless):
    """Max pooling (reference/pooling.py); stride None means the window."""

    window: int | tuple[int, int] = 2
    stride: int | tuple[int, int] | None = None
    padding: int | tuple[int, int] = 0
    name: str = "maxpool"

    def apply(self, x):
        return pooling.maxpool_forward(x, self.window, self.stride, self.padding, self.name)

    def apply_backward(self, dy, cache):
        return pooling.maxpool_backward(dy, cache)


@dataclass(frozen=True)
class AvgPool2d(Stateless):
    """Average pooling (reference/pooling.py); count_include_pad as PyTorch's default."""

    window: int | tuple[int, int] = 2
    stride: int | tuple[int, int] | None = None
    padding: int | tuple[int, int] = 0
    count_include_pad: bool = True
    name: str = "avgpool"

    def apply(self, x):
        return pooling.avgpool_forward(x, self.window, self.stride, self.padding, self.count_include_pad, self.name)

    def apply_backward(self, dy, cache):
        return pooling.avgpool_backward(dy, cache)


@dataclass(frozen=True)
class Activation(Stateless):
    """x = theta(s) element-wise (reference/activations.py); backward dE/ds = theta'(s) dE/dx."""

    activation: str = "relu"
    name: str = "activation"

    def __post_init__(self):
        a = get_activation(self.activation)
        if not a.trainable:
            raise ValueError(f"{self.name}: activation {self.activation!r} has derivative 0 "
                             f"everywhere and cannot be trained by backpropagation")

    def apply(self, s):
        return get_activation(self.activation).theta(s), s

    def apply_backward(self, dx, s):
        require_upstream(dx, s.shape, s.dtype, self.name)
        return dx * get_activation(self.activation).theta_prime(s), {}


@dataclass(frozen=True)
class LeakyReLU(Stateless):
    """y = s where s > 0, negative_slope s elsewhere (reference/leaky_relu.py), as nn.LeakyReLU."""

    negative_slope: float = 0.01
    name: str = "leakyrelu"

    def apply(self, s):
        return leaky_relu.forward(s, self.negative_slope, self.name)

    def apply_backward(self, dy, cache):
        return leaky_relu.backward(dy, cache), {}


@dataclass(frozen=True)
class Flatten(Stateless):
    """(N, C, H, W) -> (N, C H W), row-major (reference/flatten.py)."""

    name: str = "flatten"

    def apply(self, x):
        return flatten.forward(x, self.name)

    def apply_backward(self, dy, cache):
        return flatten.backward(dy, cache)


@dataclass(frozen=True)
class Dense:
    """The study's dense layer s = [1, x] W, W (d_in + 1, d_out), row 0 the bias (reference/dense.py)."""

    d_in: int
    d_out: int
    gain: float = 2.0
    name: str = "dense"

    def init(self, rng: np.random.Generator, dtype) -> tuple[dict, dict]:
        W = rng.normal(0.0, np.sqrt(self.gain / self.d_in), size=(self.d_in + 1, self.d_out))
        W[0] = 0.0  # biases
        return {"W": W.astype(dtype)}, {}

    def forward(self, x, params, state, *, train: bool, rng=None):
        y, cache = dense.forward(x, params["W"], self.name)
        return y, cache, state

    def backward(self, dy, cache, need_dx: bool = True):
        return dense.backward(dy, cache)


@dataclass(frozen=True)
class L2Normalize(Stateless):
    """y = x / max(||x||, eps) for every row of x (N, d) (reference/cosine.py), as F.normalize(dim=1)."""

    eps: float = cosine.EPS
    name: str = "l2normalize"

    def apply(self, x):
        if x.ndim != 2:
            raise ValueError(f"{self.name}: input must be (N, d), got shape {x.shape}")
        return cosine.normalize(x, 1, self.eps)

    def apply_backward(self, dy, cache):
        require_upstream(dy, cache[0].shape, cache[0].dtype, self.name)
        return cosine.normalize_backward(dy, cache), {}


@dataclass(frozen=True)
class CosineDense:
    """cos = normalize(x) normalize(W), W (d_in, d_out) without bias (reference/cosine.py): the cosines
    between each row and each class's weight column, the signal of a margin softmax (CosFace) head."""

    d_in: int
    d_out: int
    name: str = "cosine"

    def init(self, rng: np.random.Generator, dtype) -> tuple[dict, dict]:
        W = rng.normal(0.0, np.sqrt(1.0 / self.d_in), size=(self.d_in, self.d_out))
        return {"W": W.astype(dtype)}, {}

    def forward(self, x, params, state, *, train: bool, rng=None):
        y, cache = cosine.forward(x, params["W"], self.name)
        return y, cache, state

    def backward(self, dy, cache, need_dx: bool = True):
        return cosine.backward(dy, cache, need_dx)


@dataclass(frozen=True)
class BatchNorm:
    """Batch normalisation over channel axis 1 (reference/batchnorm.py), PyTorch's defaults.

    params {"gamma", "beta"} (C,) when affine; state {"running_mean", "running_var" (C,),
    "num_batches_tracked" (a numpy int64)} when track_running_stats (updated by train-mode forward
    passes only).
    """

    num_features: int
    eps: float = 1e-5
    momentum: float | None = 0.1
    affine: bool = True
    track_running_stats: bool = True
    name: str = "batchnorm"
    input_ndims: ClassVar[tuple[int, ...]] = (2, 3, 4)

    def init(self, rng, dtype) -> tuple[dict, dict]:
        C = self.num_features
        params = {"gamma": np.ones(C, dtype=dtype), "beta": np.zeros(C, dtype=dtype)} if self.affine else {}
        state = ({"running_mean": np.zeros(C, dtype=dtype), "running_var": np.ones(C, dtype=dtype),
                  "num_batches_tracked": np.int64(0)} if self.track_running_stats else {})
        return params, state

    def forward(self, x, params, state, *, train: bool, rng=None):
        bn.check_input(x, self.num_features, self.input_ndims, self.name)
        gamma, beta = (params["gamma"], params["beta"]) if self.affine else (None, None)
        if train or not self.track_running_stats:
            mu, var, xc = bn.batch_statistics(x, self.eps, self.name)
            y, cache = bn.forward(xc, x.shape, gamma, beta, var, self.eps, True, self.name)
            if train and self.track_running_stats:
                state = bn.updated_running_stats(state, mu, var, bn.values_per_channel(x), self.momentum)
            return y, cache, state
        bn.require_eps(self.eps, False, self.name)
        xc = bn.centred(x, state["running_mean"])
        y, cache = bn.forward(xc, x.shape, gamma, beta, state["running_var"], self.eps, False, self.name)
        return y, cache, state

    def backward(self, dy, cache, need_dx: bool = True):
        return bn.backward(dy, cache)


@dataclass(frozen=True)
class BatchNorm1d(BatchNorm):
    """nn.BatchNorm1d: inputs (N, C) or (N, C, L)."""

    input_ndims: ClassVar[tuple[int, ...]] = (2, 3)


@dataclass(frozen=True)
class BatchNorm2d(BatchNorm):
    """nn.BatchNorm2d: inputs (N, C, H, W)."""

    input_ndims: ClassVar[tuple[int, ...]] = (4,)


@dataclass(frozen=True)
class Dropout:
    """Inverted dropout (reference/dropout.py); the train-mode mask is drawn from the forward's rng."""

    p: float = 0.5
    name: str = "dropout"

    def __post_init__(self):
        dropout.check_p(self.p, self.name)

    def init(self, rng, dtype) -> tuple[dict, dict]:
        return {}, {}

    def forward(self, x, params, state, *, train: bool, rng=None):
        mask = None
        if train and 0 < self.p < 1:
            if rng is None:
                raise ValueError(f"{self.name}: train mode with p = {self.p} needs an rng to draw the mask from")
            mask = dropout.draw_mask(rng, x.shape, self.p)
        y, cache = dropout.forward(x, self.p, train, mask, self.name)
        return y, cache, state

    def backward(self, dy, cache, need_dx: bool = True):
        return dropout.backward(dy, cache)


def one_hot(labels: np.ndarray, classes: int, dtype) -> np.ndarray:
    """y (N, classes) with y[n, labels[n]] = 1."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or (labels.size and (labels.min() < 0 or labels.max() >= classes)):
        raise ValueError(f"labels must be a 1-D array of integers in 0..{classes - 1}, got shape "
                         f"{labels.shape}" + (f", range {labels.min()}..{labels.max()}" if labels.size else ""))
    y = np.zeros((labels.shape[0], classes), dtype=dtype)
    y[np.arange(labels.shape[0]), labels] = 1
    return y


class LossAndGrads(NamedTuple):
    """What one training evaluation of the model gives."""

    loss: float          # E_in, the mean softmax cross-entropy
    grads: list          # dE_in/d(params), aligned with the model's layers
    s_L: np.ndarray      # the logits
    state: list          # the layers' state after this forward pass (running statistics)


def as_rng(seed_or_rng) -> np.random.Generator:
    """A numpy Generator: an int seeds default_rng; a Generator is used as is."""
    if isinstance(seed_or_rng, np.random.Generator):
        return seed_or_rng
    return np.random.default_rng(seed_or_rng)


@dataclass(frozen=True)
class Sequential:
    """Layers applied in order; the last layer's output is the signal s[L] fed to softmax cross-entropy."""

    layers: tuple = field(default_factory=tuple)
    loss: Loss | None = None  # None: the softmax cross-entropy; else a Loss on s[L] (e.g. losses.am_softmax)

    def init(self, seed=0, dtype=np.float64) -> tuple[list[dict], list[dict]]:
        """(params, state) of every layer (lists aligned with self.layers), drawn in layer order from
        default_rng(seed) (or from the Generator given)."""
        rng = as_rng(seed)
        pairs = [layer.init(rng, dtype) for layer in self.layers]
        return [p for p, _ in pairs], [s for _, s in pairs]

    def forward(self, x: np.ndarray, params: list[dict], state: list[dict], *, train: bool,
                rng: np.random.Generator | None = None) -> tuple[np.ndarray, list, list[dict]]:
        """(s[L], the per-layer caches, the new state); train selects the mode of every layer."""
        for what, given in (("parameter", params), ("state", state)):
            if len(given) != len(self.layers):
                raise ValueError(f"model has {len(self.layers)} layers but {len(given)} {what} dicts were given")
        caches, new_state = [], []
        for layer, p, s in zip(self.layers, params, state):
            x, cache, s = layer.forward(x, p, s, train=train, rng=rng)
            caches.append(cache)
            new_state.append(s)
        return x, caches, new_state

    def backward(self, ds_L: np.ndarray, caches: list,
                 need_input_grad: bool = True) -> tuple[np.ndarray | None, list[dict]]:
        """dE/dx of the model input and the per-layer gradients, given ds_L = dE/ds[L].

        need_input_grad=False lets the first layer skip dE/dx (then returned as None or computed anyway).
        """
        grads = [None] * len(self.layers)
        d = ds_L
        for i in range(len(self.layers) - 1, -1, -1):
            d, grads[i] = self.layers[i].backward(d, caches[i], need_dx=i > 0 or need_input_grad)
        return d, grads

    def loss_and_grads(self, x: np.ndarray, labels: np.ndarray, params: list[dict], state: list[dict], *,
                       train: bool = True, rng: np.random.Generator | None = None) -> LossAndGrads:
        """E_in = mean softmax cross-entropy, its gradients for every parameter, s[L] and the new state."""
        return self.forward_backward(x, labels, params, state, train=train, rng=rng)[0]

    def forward_backward(self, x: np.ndarray, labels: np.ndarray, params: list[dict], state: list[dict], *,
                         train: bool = True, rng: np.random.Generator | None = None) -> tuple[LossAndGrads, list]:
        """loss_and_grads and the forward pass's caches (which hold what the layers drew, e.g. dropout masks)."""
        s_L, caches, state = self.forward(x, params, state, train=train, rng=rng)
        E, ds_L = self.error(s_L, labels)
        _, grads = self.backward(ds_L, caches, need_input_grad=False)
        return LossAndGrads(E, grads, s_L, state), caches

    def error(self, s_L: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
        """(E_in, dE_in/ds[L]) of the model's loss (softmax cross-entropy unless self.loss is given)."""
        if self.loss is not None and self.loss.pairwise:  # an embedding loss reads the labels themselves
            labels = np.asarray(labels)
            return float(np.mean(self.loss.e(s_L, s_L, labels))), self.loss.delta(s_L, s_L, labels, None) / len(labels)
        y = one_hot(labels, s_L.shape[1], s_L.dtype)
        if self.loss is None:
            return float(np.mean(cross_entropy(s_L, y))), cross_entropy_grad(s_L, y) / s_L.shape[0]
        return float(np.mean(self.loss.e(s_L, s_L, y))), self.loss.delta(s_L, s_L, y, None) / s_L.shape[0]

    def predict(self, x: np.ndarray, params: list[dict], state: list[dict], batch_size: int = 1000) -> np.ndarray:
        """argmax_j s[L]_j for every sample, in eval mode, computed in batches."""
        out = [np.argmax(self.forward(x[i:i + batch_size], params, state, train=False)[0], axis=1)
               for i in range(0, x.shape[0], batch_size)]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def lenet(hidden: int | None = None, input_shape: tuple[int, int, int] = (1, 28, 28), classes: int = 10) -> Sequential:
    """LeNet-style CNN for images of input_shape = (C, H, W) (MNIST: 1 x 28 x 28).

    conv C->8 5x5, ReLU, max-pool 2, conv 8->16 5x5, ReLU, max-pool 2, flatten, then dense -> classes,
    or with `hidden` units: dense -> hidden, ReLU, dense hidden -> classes. The flattened width is
    16 H' W' with H', W' from the study's output-size formula (reference/conv_shapes.py); for
    28 x 28: 24, 12, 8, 4, so 16 * 4 * 4 = 256.
    """
    c, h, w = input_shape
    for kernel in (5, 2, 5, 2):  # conv, pool, conv, pool; pooling's stride is its window
        stride = 2 if kernel == 2 else 1
        h, w = cs.output_shape((h, w), (kernel, kernel), (0, 0, 0, 0), (stride, stride))
    if min(h, w) < 1:
        raise ValueError(f"lenet: input (C, H, W) = {tuple(input_shape)} is too small for two 5x5 convolutions "
                         f"and two 2x2 poolings (needs H, W >= 16)")
    width = 16 * h * w
    layers = [
        Conv2d(c, 8, 5, name="conv1"), Activation("relu", name="relu1"), MaxPool2d(2, name="pool1"),
        Conv2d(8, 16, 5, name="conv2"), Activation("relu", name="relu2"), MaxPool2d(2, name="pool2"),
        Flatten(name="flatten"),
    ]
    if hidden:
        layers += [Dense(width, hidden, name="dense1"), Activation("relu", name="relu3"),
                   Dense(hidden, classes, gain=1.0, name="dense2")]
    else:
        layers += [Dense(width, classes, gain=1.0, name="dense1")]
    return Sequential(tuple(layers))
