"""Whole CNNs (reference/sequential.py) against their PyTorch twins (framework/cnn.py): logits, loss,
input gradient and every parameter gradient, and (the small CNN, float64) central differences.

Raw MNIST images have large uniform backgrounds, so the first convolution's output holds many
windows with identical content: after ReLU, max pooling sees exact mathematical ties between
positive values that each implementation rounds in its own way (1 ulp apart, or not), and "the first
maximum" then picks different pixels. Every choice is a valid subgradient, and the parameter
gradients do not depend on it (tied windows have identical inputs), but the gradient with respect to
the input image does. So the raw-MNIST case ("lenet_mnist_n8") compares outputs, loss and every
parameter gradient, and the input gradient is compared on the same images plus N(0, 0.01^2) noise
("lenet_mnist_jitter0.01_n8"), where no ties remain. Ties themselves are tested on purpose with
integer inputs fed straight into pooling (cases.py).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from experiments.equivalence.check import central_difference, central_rows, compare
from framework import cnn as tcnn
from reference import sequential as seq
from reference.losses import cross_entropy, cross_entropy_grad


def small_cnn() -> seq.Sequential:
    """A CNN small enough for central differences over every parameter, with every layer kind."""
    return seq.Sequential((
        seq.Conv2d(2, 3, (3, 2), stride=(1, 2), padding=(1, 0, 1, 1), name="conv1"),
        seq.Activation("tanh", name="tanh1"),
        seq.MaxPool2d((2, 3), stride=(2, 1), padding=(1, 1), name="pool1"),
        seq.Conv2d(3, 4, (2, 2), name="conv2"),
        seq.Activation("relu", name="relu2"),
        seq.AvgPool2d(2, stride=1, padding=1, count_include_pad=False, name="pool2"),
        seq.Flatten(name="flatten"),
    ))


def randomised(model: seq.Sequential, seed: int, dtype, scale: float = 0.1) -> list[dict]:
    """model.init(seed) with every parameter (biases too) perturbed: no zeros, no symmetry."""
    rng = np.random.default_rng(seed + 1000)
    params, _ = model.init(seed, dtype)
    for p in params:
        for k in p:
            p[k] += (scale * rng.normal(size=p[k].shape)).astype(dtype)
    return params


def with_head(model: seq.Sequential, x_shape, classes: int = 10) -> seq.Sequential:
    """Append a dense layer -> classes sized to the flattened output of `model` on inputs x_shape."""
    params, state = model.init(0, np.float64)
    d = model.forward(np.zeros(x_shape), params, state, train=True)[0].shape[1]
    return seq.Sequential(model.layers + (seq.Dense(d, classes, gain=1.0, name="dense"),))


def no_state(model: seq.Sequential) -> list[dict]:
    return [{} for _ in model.layers]


def cnn_ours(model, params, x, labels) -> dict:
    """{quantity: array}: s[L], E_in, dE_in/dx and dE_in/d<param> for every parameter."""
    s_L, caches, _ = model.forward(x, params, no_state(model), train=True)
    y = seq.one_hot(labels, s_L.shape[1], s_L.dtype)
    E = np.mean(cross_entropy(s_L, y))
    dx, grads = model.backward(cross_entropy_grad(s_L, y) / s_L.shape[0], caches)
    out = {"output": s_L, "loss": np.array([E]), "input_grad": dx}
    for layer, g in zip(model.layers, grads):
        for k, v in g.items():
            out[f"grad {layer.name}.{k}"] = v
    return out


def cnn_torch(model, params, x, labels) -> dict:
    """The same quantities from the twin, F.cross_entropy (mean) and autograd."""
    twin = tcnn.build_twin(model, params)
    xt = torch.from_numpy(x).requires_grad_(True)
    s_L = twin(xt)
    E = F.cross_entropy(s_L, torch.from_numpy(labels))
    E.backward()
    out = {"output": s_L.detach().numpy(), "loss": np.array([E.item()]), "input_grad": xt.grad.numpy()}
    for layer, g in zip(model.layers, tcnn.twin_grads(twin, model)):
        for k, v in g.items():
            out[f"grad {layer.name}.{k}"] = v
    return out


def cnn_central(model, params, x, labels) -> dict:
    """Central differences of E_in with respect to x and every parameter (float64)."""
    params = [{k: v.copy() for k, v in p.items()} for p in params]
    x = x.copy()
    y = seq.one_hot(labels, 10, np.float64)
    def f():
        return float(np.mean(cross_entropy(model.forward(x, params, no_state(model), train=True)[0], y)))
    out = {"input_grad": central_difference(f, x)}
    for layer, p in zip(model.layers, params):
        for k in p:
            out[f"grad {layer.name}.{k}"] = central_difference(f, p[k])
    return out


def mnist_images(dtype) -> tuple[np.ndarray, np.ndarray]:
    """The standardised MNIST training images (N, 1, 28, 28) and labels, as the cnn experiments see them."""
    from experiments.data import load
    from experiments.mnist.cnn import pixel_mean_std, prepare_images

    mnist = load("mnist")
    return prepare_images(mnist.train_x, *pixel_mean_std(mnist.train_x), dtype), mnist.train_y.astype(np.int64)


def mnist_batch(n: int, dtype, seed: int = 0):
    """n standardised MNIST training images and labels (a seeded random choice)."""
    X, y = mnist_images(dtype)
    idx = np.random.default_rng(seed).choice(X.shape[0], n, replace=False)
    return X[idx], y[idx]


def rows_of(component, case, dtype, ours, theirs, depth=1) -> list[dict]:
    return [compare(component, case, q, ours[q], theirs[q], dtype=dtype, depth=depth) for q in theirs]


def rows(quick: bool = False) -> list[dict]:
    """The LeNet on real MNIST images and the small CNN with every layer kind, float64 and float32."""
    out = []
    for dtype in (np.float64, np.float32):
        x, labels = mnist_batch(8, dtype)
        lenet = seq.lenet()
        params = randomised(lenet, 0, dtype)
        depth = len(lenet.layers)
        ours, theirs = cnn_ours(lenet, params, x, labels), cnn_torch(lenet, params, x, labels)
        del ours["input_grad"], theirs["input_grad"]  # ill-posed on raw MNIST: tied maxima (docstring)
        out += rows_of("cnn", "lenet_mnist_n8", dtype, ours, theirs, depth)
        xj = (x + 0.01 * np.random.default_rng(2).normal(size=x.shape)).astype(dtype)
        out += rows_of("cnn", "lenet_mnist_jitter0.01_n8", dtype, cnn_ours(lenet, params, xj, labels),
                       cnn_torch(lenet, params, xj, labels), depth)
        small = with_head(small_cnn(), (3, 2, 7, 6))
        rng = np.random.default_rng(1)
        xs, ls = rng.normal(size=(3, 2, 7, 6)).astype(dtype), rng.integers(0, 10, 3)
        ps = randomised(small, 1, dtype)
        ours = cnn_ours(small, ps, xs, ls)
        out += rows_of("cnn", "small_all_layers_n3", dtype, ours, cnn_torch(small, ps, xs, ls), len(small.layers))
        if dtype == np.float64:
            out += central_rows("cnn", "small_all_layers_n3", ours, cnn_central(small, ps, xs, ls))
    return out

