"""The registry of JAX twins: each reference layer type (reference/sequential.py) -> its twin.

JAX_TWINS[type(layer)] is a JaxTwin of four functions, the shape of framework/layers.py's torch registry:

    build(layer, params, state) -> Built(apply, params, state)   the twin: a pure function
                                      apply(params, state, x, train, shared) -> (y, new state)
                                      and copies of params and state in JAX's own layout
    read(tree) -> dict                a tree of the twin's params layout (the params, their gradients or an
                                      optimizer's buffers) in the reference's layout, with its keys
    read_state(state) -> dict         the twin's state as the reference's state
    share(cache) -> array | None      the randomness the reference layer drew in the forward pass that made
                                      `cache` (dropout's keep-mask), handed to apply as `shared`

so that a new layer type needs one entry here and nothing else in framework/jax/.

Layouts (JAX's, as flax and Keras keep them, so the converters are exercised, not skipped):
    Conv2d       kernel (k_h, k_w, c_in, c_out) "HWIO", bias (c_out,); images stay NCHW, and
                 lax.conv_general_dilated is told so by its dimension numbers ("NCHW", "HWIO", "NCHW").
                 The reference's K (c_out, c_in, k_h, k_w) "OIHW" is K.transpose(2, 3, 1, 0).
    Dense        kernel (d_in, d_out) = W[1:], bias (d_out,) = W[0]   (the study's W has the bias as row 0)
    CosineDense  kernel (d_in, d_out) = W
    BatchNorm    scale = gamma, bias = beta; state mean, var, count (flax's names)

Padding: the reference's per-side (top, bottom, left, right) is lax's ((top, bottom), (left, right)) as is;
lax pads max pooling with its init value -inf and average pooling with 0.

Max pooling's gradient: JAX differentiates reduce_window(max) through select-and-scatter with a
greater-or-equal selection, so on ties the first maximum in row-major order takes the gradient, PyTorch's
CPU rule (the tie cases of experiments/equivalence/cases.py check it).

Batch normalisation's running statistics, mapped onto the flax/Keras convention:
    flax/Keras:  ra <- decay ra + (1 - decay) stat       decay weights the OLD value (Keras default 0.99)
    torch:       ra <- (1 - momentum) ra + momentum stat  momentum weights the NEW batch (default 0.1)
  so decay = 1 - momentum (momentum None, torch's cumulative average: decay = 1 - 1/count after counting
  the batch). torch normalises with the biased variance but stores the unbiased one, var m / (m - 1), in
  running_var; the twin feeds var m / (m - 1) into the average. The batch variance is the two-pass
  mean((x - mu)^2), not flax's one-pass mean(x^2) - mu^2, which loses digits to cancellation when |mu| >> sigma.

Dropout: flax's form y = where(mask, x / (1 - p), 0) with the reference's keep-mask handed in (JAX's
own random bits cannot reproduce NumPy's generator); identity in eval mode or for p = 0, x * 0 for p = 1.

L2 normalisation: optax.safe_norm(x, eps) = max(||x||, eps) with the gradient of the constant eps below it
(jnp.maximum of jnp.linalg.norm would give NaN at a zero row: d||x||/dx = x / ||x|| = 0/0).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from framework.jax.tables import jax_activation
from reference import conv_shapes as cs
from reference import cosine, dropout
from reference import sequential as seq

CONV_DIMENSIONS = ("NCHW", "HWIO", "NCHW")  # input, kernel, output layouts for lax.conv_general_dilated


class Built(NamedTuple):
    apply: Callable   # apply(params, state, x, train, shared) -> (y, new state)
    params: dict
    state: dict


def no_arrays(tree) -> dict:
    return {}


def no_randomness(cache):
    return None


class JaxTwin(NamedTuple):
    build: Callable
    read: Callable = no_arrays
    read_state: Callable = no_arrays
    share: Callable = no_randomness


def arrays(d: dict) -> dict:
    """jnp copies of a dict of NumPy arrays."""
    return {k: jnp.asarray(np.array(v)) for k, v in d.items()}


def as_numpy(a) -> np.ndarray:
    return np.array(a)


def stateless(f: Callable) -> Callable:
    """apply for a layer without params, state or randomness: y = f(x)."""
    return lambda params, state, x, train, shared: (f(x), state)


# ---------------------------------------------------------------------------------------------
# Convolution and pooling (jax.lax)
# ---------------------------------------------------------------------------------------------

def oihw_to_hwio(K) -> np.ndarray:
    """The reference's / torch's kernel (c_out, c_in, k_h, k_w) -> JAX's (k_h, k_w, c_in, c_out)."""
    return np.transpose(np.asarray(K), (2, 3, 1, 0))


def hwio_to_oihw(kernel) -> np.ndarray:
    return np.transpose(np.asarray(kernel), (3, 2, 0, 1))


def conv2d(x, kernel, bias, stride, pad4):
    """Cross-correlation of NCHW x with an HWIO kernel, per-side padding (top, bottom, left, right)."""
    top, bottom, left, right = pad4
    s = lax.conv_general_dilated(x, kernel, window_strides=stride, padding=((top, bottom), (left, right)),
                                 dimension_numbers=CONV_DIMENSIONS, precision=lax.Precision.HIGHEST)
    return s + bias[None, :, None, None]


def build_conv(layer: seq.Conv2d, params: dict, state: dict) -> Built:
    stride = cs.pair(layer.stride, "stride", layer.name)
    pad4 = cs.per_side(layer.padding, layer.name)

    def apply(p, st, x, train, shared):
        return conv2d(x, p["kernel"], p["bias"], stride, pad4), st
    return Built(apply, {"kernel": jnp.asarray(oihw_to_hwio(params["K"])), "bias": jnp.asarray(params["b"])}, {})


def read_conv(tree: dict) -> dict:
    return {"K": hwio_to_oihw(tree["kernel"]), "b": as_numpy(tree["bias"])}


def pool_geometry(layer) -> tuple[tuple, tuple, tuple]:
    """reduce_window's window, strides and padding over all four NCHW axes (stride None = window)."""
    k = cs.pair(layer.window, "window", layer.name)
    s = cs.pair(layer.window if layer.stride is None else layer.stride, "stride", layer.name)
    p = cs.pair(layer.padding, "padding", layer.name)
    return (1, 1) + k, (1, 1) + s, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1]))


def maxpool2d(x, window, strides, padding):
    """max over each window; lax pads with the init value -inf, so padding is never the maximum."""
    return lax.reduce_window(x, -jnp.inf, lax.max, window, strides, padding)


def avgpool2d(x, window, strides, padding, count_include_pad: bool):
    """window sums / (k_h k_w), or / the number of real pixels in the window (reduce_window of ones)."""
    sums = lax.reduce_window(x, 0.0, lax.add, window, strides, padding)
    if count_include_pad:
        return sums / (window[2] * window[3])
    ones = jnp.ones((1, 1) + x.shape[2:], x.dtype)
    return sums / lax.reduce_window(ones, 0.0, lax.add, window, strides, padding)


def build_maxpool(layer: seq.MaxPool2d, params, state) -> Built:
    return Built(stateless(lambda x: maxpool2d(x, *pool_geometry(layer))), {}, {})


def build_avgpool(layer: seq.AvgPool2d, params, state) -> Built:
    return Built(stateless(lambda x: avgpool2d(x, *pool_geometry(layer), layer.count_include_pad)), {}, {})


# ---------------------------------------------------------------------------------------------
# Dense layers
# ---------------------------------------------------------------------------------------------

def dense_to_kernel(W) -> dict:
    """The study's W (d_in + 1, d_out), bias row 0 -> {"kernel": W[1:], "bias": W[0]}."""
    W = np.asarray(W)
    return {"kernel": jnp.asarray(W[1:]), "bias": jnp.asarray(W[0])}


def kernel_to_dense(tree: dict) -> np.ndarray:
    return np.concatenate([as_numpy(tree["bias"])[None, :], as_numpy(tree["kernel"])], axis=0)


def build_dense(layer: seq.Dense, params: dict, state: dict) -> Built:
    return Built(lambda p, st, x, train, shared: (x @ p["kernel"] + p["bias"], st), dense_to_kernel(params["W"]), {})


def l2_normalize(x, axis: int, eps: float):
    return x / optax.safe_norm(x, eps, axis=axis, keepdims=True)


def build_cosine(layer: seq.CosineDense, params: dict, state: dict) -> Built:
    def apply(p, st, x, train, shared):
        return l2_normalize(x, 1, cosine.EPS) @ l2_normalize(p["kernel"], 0, cosine.EPS), st
    return Built(apply, {"kernel": jnp.asarray(np.array(params["W"]))}, {})


# ---------------------------------------------------------------------------------------------
# Batch normalisation (flax's convention, torch's settings mapped onto it: module docstring)
# ---------------------------------------------------------------------------------------------

def decay_of(momentum: float | None, count):
    """flax/Keras decay (weight of the old value) of torch's momentum (weight of the new batch)."""
    return 1.0 - (1.0 / count if momentum is None else momentum)


def batch_norm(layer: seq.BatchNorm, p: dict, st: dict, x, train: bool):
    """(y, new state) of one batch-normalisation pass (reference/batchnorm.py's formulas)."""
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    use_batch = train or not layer.track_running_stats
    if use_batch:
        mean = jnp.mean(x, axis=axes)
        var = jnp.mean(jnp.square(x - mean.reshape(shape)), axis=axes)
    else:
        mean, var = st["mean"], st["var"]
    mul = lax.rsqrt(var + layer.eps)
    if layer.affine:
        mul = mul * p["scale"]
    y = (x - mean.reshape(shape)) * mul.reshape(shape)
    if layer.affine:
        y = y + p["bias"].reshape(shape)
    if train and layer.track_running_stats:
        st = running_update(layer, st, lax.stop_gradient(mean), lax.stop_gradient(var), x.size // x.shape[1])
    return y, st


def running_update(layer: seq.BatchNorm, st: dict, mean, var, m: int) -> dict:
    count = st["count"] + 1
    decay = decay_of(layer.momentum, count)
    unbiased = var * (m / (m - 1))  # torch stores the unbiased variance
    return {"mean": decay * st["mean"] + (1 - decay) * mean, "var": decay * st["var"] + (1 - decay) * unbiased,
            "count": count}


def build_batchnorm(layer: seq.BatchNorm, params: dict, state: dict) -> Built:
    p = {"scale": jnp.asarray(np.array(params["gamma"])), "bias": jnp.asarray(np.array(params["beta"]))} \
        if layer.affine else {}
    st = ({"mean": jnp.asarray(np.array(state["running_mean"])), "var": jnp.asarray(np.array(state["running_var"])),
           "count": jnp.asarray(np.int64(state["num_batches_tracked"]))} if layer.track_running_stats else {})

    def apply(params, state, x, train, shared):
        return batch_norm(layer, params, state, x, train)
    return Built(apply, p, st)


def read_batchnorm(tree: dict) -> dict:
    return {"gamma": as_numpy(tree["scale"]), "beta": as_numpy(tree["bias"])} if tree else {}


def read_batchnorm_state(st: dict) -> dict:
    if not st:
        return {}
    return {"running_mean": as_numpy(st["mean"]), "running_var": as_numpy(st["var"]),
            "num_batches_tracked": np.int64(st["count"])}


# ---------------------------------------------------------------------------------------------
# Dropout, activations, flatten
# ---------------------------------------------------------------------------------------------

def build_dropout(layer: seq.Dropout, params, state) -> Built:
    dropout.check_p(layer.p, layer.name)
    p = layer.p

    def apply(params, st, x, train, keep):
        if not train or p == 0:
            return x, st
        if p == 1:
            return x * jnp.zeros((), x.dtype), st
        if keep is None or tuple(keep.shape) != tuple(x.shape):
            raise ValueError(f"{layer.name}: the JAX twin needs the reference's keep-mask of the input's shape "
                             f"{tuple(x.shape)}, got {None if keep is None else tuple(keep.shape)}")
        return jnp.where(keep, x / (1 - p), jnp.zeros((), x.dtype)), st
    return Built(apply, {}, {})


def share_dropout_mask(cache):
    scale = cache[0]
    return None if scale is None or scale.ndim == 0 else jnp.asarray(np.asarray(scale) != 0)


def build_activation(layer: seq.Activation, params, state) -> Built:
    return Built(stateless(jax_activation(layer.activation)), {}, {})


def leaky_relu(s, negative_slope: float):
    """s where s > 0, negative_slope s elsewhere: slope at 0, as torch (jax.nn.leaky_relu's where(s >= 0)
    gives derivative 1 at 0)."""
    return jnp.where(s > 0, s, negative_slope * s)


def build_leaky_relu(layer: seq.LeakyReLU, params, state) -> Built:
    return Built(stateless(lambda s: leaky_relu(s, layer.negative_slope)), {}, {})


def build_flatten(layer: seq.Flatten, params, state) -> Built:
    return Built(stateless(lambda x: x.reshape(x.shape[0], -1)), {}, {})


def build_l2normalize(layer: seq.L2Normalize, params, state) -> Built:
    return Built(stateless(lambda x: l2_normalize(x, 1, layer.eps)), {}, {})


JAX_TWINS: dict[type, JaxTwin] = {
    seq.Conv2d: JaxTwin(build_conv, read_conv),
    seq.Dense: JaxTwin(build_dense, lambda t: {"W": kernel_to_dense(t)}),
    seq.MaxPool2d: JaxTwin(build_maxpool),
    seq.AvgPool2d: JaxTwin(build_avgpool),
    seq.Activation: JaxTwin(build_activation),
    seq.Flatten: JaxTwin(build_flatten),
    seq.LeakyReLU: JaxTwin(build_leaky_relu),
    seq.BatchNorm1d: JaxTwin(build_batchnorm, read_batchnorm, read_batchnorm_state),
    seq.BatchNorm2d: JaxTwin(build_batchnorm, read_batchnorm, read_batchnorm_state),
    seq.Dropout: JaxTwin(build_dropout, share=share_dropout_mask),
    seq.L2Normalize: JaxTwin(build_l2normalize),
    seq.CosineDense: JaxTwin(build_cosine, lambda t: {"W": as_numpy(t["kernel"])}),
}


def jax_twin_of(layer) -> JaxTwin:
    """The registry entry of a reference layer (TypeError naming the layer if there is none)."""
    try:
        return JAX_TWINS[type(layer)]
    except KeyError:
        raise TypeError(f"no JAX twin registered for layer {layer!r}") from None
