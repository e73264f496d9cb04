"""A sequential model (study 1.4): convolution, pooling, activations, flatten, dense, softmax.

Every layer is a small frozen description with pure functions

    init(rng, dtype)        -> params (a dict of arrays; {} for layers without parameters)
    forward(x, params)      -> (y, cache)
    backward(dy, cache)     -> (dx, grads)     grads has the keys of params

where dy = dE/dy is the gradient of the scalar error E with respect to the layer's output. The
model composes them: forward in order, backward in reverse order (the study's backpropagation,
with the sensitivities delta now being the gradients dE/ds of each layer's signal).

The output is the last layer's signal s[L] (N, 10 for MNIST); the error is the study's
E_in = (1/N) sum_n e_n with the softmax cross-entropy e_n = -log softmax(s[L]_n)_{y_n}
(reference/losses.py), so dE_in/ds[L] = (softmax(s[L]) - y) / N, y one-hot.

Initialisation (seeded from numpy: numpy.random.default_rng(seed), layers drawn in order):
weights ~ N(0, gain / fan_in) with gain 2 (He et al. 2015) for layers followed by ReLU and gain 1
(LeCun's fan_in^-1/2) for the output layer; biases 0. fan_in = c_in k_h k_w for a convolution and
d_in for a dense layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from reference import conv, conv_shapes as cs, dense, flatten, pooling
from reference.activations import get_activation
from reference.losses import cross_entropy, cross_entropy_grad


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

    def init(self, rng: np.random.Generator, dtype) -> dict:
        k_h, k_w = cs.pair(self.kernel, "kernel", self.name)
        fan_in = self.c_in * k_h * k_w
        K = rng.normal(0.0, np.sqrt(self.gain / fan_in), size=(self.c_out, self.c_in, k_h, k_w))
        return {"K": K.astype(dtype), "b": np.zeros(self.c_out, dtype=dtype)}

    def forward(self, x, params):
        return conv.forward(x, params["K"], params["b"], self.stride, self.padding, self.name)

    def backward(self, dy, cache, need_dx: bool = True):
        return conv.backward(dy, cache, need_dx)


@dataclass(frozen=True)
class MaxPool2d:
    """Max pooling (reference/pooling.py); stride None means the window."""

    window: int | tuple[int, int] = 2
    stride: int | tuple[int, int] | None = None
    padding: int | tuple[int, int] = 0
    name: str = "maxpool"

    def init(self, rng, dtype) -> dict:
        return {}

    def forward(self, x, params):
        return pooling.maxpool_forward(x, self.window, self.stride, self.padding, self.name)

    def backward(self, dy, cache):
        return pooling.maxpool_backward(dy, cache)


@dataclass(frozen=True)
class AvgPool2d:
    """Average pooling (reference/pooling.py); count_include_pad as PyTorch's default."""

    window: int | tuple[int, int] = 2
    stride: int | tuple[int, int] | None = None
    padding: int | tuple[int, int] = 0
    count_include_pad: bool = True
    name: str = "avgpool"

    def init(self, rng, dtype) -> dict:
        return {}

    def forward(self, x, params):
        return pooling.avgpool_forward(x, self.window, self.stride, self.padding,
                                       self.count_include_pad, self.name)

    def backward(self, dy, cache):
        return pooling.avgpool_backward(dy, cache)


@dataclass(frozen=True)
class Activation:
    """x = theta(s) element-wise (reference/activations.py); backward dE/ds = theta'(s) dE/dx."""

    activation: str = "relu"
    name: str = "activation"

    def __post_init__(self):
        a = get_activation(self.activation)
        if not a.trainable:
            raise ValueError(f"{self.name}: activation {self.activation!r} has derivative 0 "
                             f"everywhere and cannot be trained by backpropagation")

    def init(self, rng, dtype) -> dict:
        return {}

    def forward(self, s, params):
        return get_activation(self.activation).theta(s), s

    def backward(self, dx, s):
        return dx * get_activation(self.activation).theta_prime(s), {}


@dataclass(frozen=True)
class Flatten:
    """(N, C, H, W) -> (N, C H W), row-major (reference/flatten.py)."""

    name: str = "flatten"

    def init(self, rng, dtype) -> dict:
        return {}

    def forward(self, x, params):
        return flatten.forward(x, self.name)

    def backward(self, dy, cache):
        return flatten.backward(dy, cache)


@dataclass(frozen=True)
class Dense:
    """The study's dense layer s = [1, x] W, W (d_in + 1, d_out), row 0 the bias (reference/dense.py)."""

    d_in: int
    d_out: int
    gain: float = 2.0
    name: str = "dense"

    def init(self, rng: np.random.Generator, dtype) -> dict:
        W = rng.normal(0.0, np.sqrt(self.gain / self.d_in), size=(self.d_in + 1, self.d_out))
        W[0] = 0.0  # biases
        return {"W": W.astype(dtype)}

    def forward(self, x, params):
        return dense.forward(x, params["W"], self.name)

    def backward(self, dy, cache):
        return dense.backward(dy, cache)


def one_hot(labels: np.ndarray, classes: int, dtype) -> np.ndarray:
    """y (N, classes) with y[n, labels[n]] = 1."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or (labels.size and (labels.min() < 0 or labels.max() >= classes)):
        raise ValueError(f"labels must be a 1-D array of integers in 0..{classes - 1}, got shape "
                         f"{labels.shape}" + (f", range {labels.min()}..{labels.max()}" if labels.size else ""))
    y = np.zeros((labels.shape[0], classes), dtype=dtype)
    y[np.arange(labels.shape[0]), labels] = 1
    return y


@dataclass(frozen=True)
class Sequential:
    """Layers applied in order; the last layer's output is the signal s[L] fed to softmax cross-entropy."""

    layers: tuple = field(default_factory=tuple)

    def init(self, seed: int = 0, dtype=np.float64) -> list[dict]:
        """Parameters of every layer (a list aligned with self.layers), drawn from default_rng(seed)."""
        rng = np.random.default_rng(seed)
        return [layer.init(rng, dtype) for layer in self.layers]

    def forward(self, x: np.ndarray, params: list[dict]) -> tuple[np.ndarray, list]:
        """s[L] and the per-layer caches."""
        if len(params) != len(self.layers):
            raise ValueError(f"model has {len(self.layers)} layers but {len(params)} parameter dicts were given")
        caches = []
        for layer, p in zip(self.layers, params):
            x, cache = layer.forward(x, p)
            caches.append(cache)
        return x, caches

    def backward(self, ds_L: np.ndarray, caches: list,
                 need_input_grad: bool = True) -> tuple[np.ndarray | None, list[dict]]:
        """dE/dx of the model input and the per-layer gradients, given ds_L = dE/ds[L].

        need_input_grad=False lets a first convolution skip dE/dx (returned as None then).
        """
        grads = [None] * len(self.layers)
        d = ds_L
        for i in range(len(self.layers) - 1, -1, -1):
            if i == 0 and not need_input_grad and isinstance(self.layers[0], Conv2d):
                d, grads[0] = self.layers[0].backward(d, caches[0], need_dx=False)
            else:
                d, grads[i] = self.layers[i].backward(d, caches[i])
        return d, grads

    def loss_and_grads(self, x: np.ndarray, labels: np.ndarray,
                       params: list[dict]) -> tuple[float, list[dict], np.ndarray]:
        """E_in = mean softmax cross-entropy, its gradients for every parameter, and s[L]."""
        s_L, caches = self.forward(x, params)
        y = one_hot(labels, s_L.shape[1], s_L.dtype)
        E = float(np.mean(cross_entropy(s_L, y)))
        ds_L = cross_entropy_grad(s_L, y) / s_L.shape[0]
        _, grads = self.backward(ds_L, caches, need_input_grad=False)
        return E, grads, s_L

    def predict(self, x: np.ndarray, params: list[dict], batch_size: int = 1000) -> np.ndarray:
        """argmax_j s[L]_j for every sample, computed in batches."""
        out = [np.argmax(self.forward(x[i:i + batch_size], params)[0], axis=1)
               for i in range(0, x.shape[0], batch_size)]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def sgd_step(params: list[dict], grads: list[dict], lr: float) -> None:
    """W <- W - eta G for every parameter, in place (the study's gradient-descent update)."""
    for p, g in zip(params, grads):
        for key in p:
            p[key] -= lr * g[key]


def lenet(hidden: int | None = None) -> Sequential:
    """LeNet-style CNN for 1 x 28 x 28 MNIST images.

    conv 1->8 5x5 (28 -> 24), ReLU, max-pool 2 (-> 12), conv 8->16 5x5 (-> 8), ReLU,
    max-pool 2 (-> 4), flatten (16 * 4 * 4 = 256), then dense 256 -> 10, or with `hidden` units:
    dense 256 -> hidden, ReLU, dense hidden -> 10.
    """
    layers = [
        Conv2d(1, 8, 5, name="conv1"), Activation("relu", name="relu1"), MaxPool2d(2, name="pool1"),
        Conv2d(8, 16, 5, name="conv2"), Activation("relu", name="relu2"), MaxPool2d(2, name="pool2"),
        Flatten(name="flatten"),
    ]
    if hidden:
        layers += [Dense(256, hidden, name="dense1"), Activation("relu", name="relu3"),
                   Dense(hidden, 10, gain=1.0, name="dense2")]
    else:
        layers += [Dense(256, 10, gain=1.0, name="dense1")]
    return Sequential(tuple(layers))
