"""docs/conventions.md, row by row: where PyTorch, JAX/optax and Keras 3 (on its JAX backend) disagree.

Each test sets the same thing up in the frameworks, shows the raw disagreement (the defaults, or the same
number meaning different things), then the agreement after the conversion the table states. float64
throughout, so "agree" means to rounding (rtol 1e-12) and "disagree" means far beyond it.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")  # Keras 3 without TensorFlow; must precede the first keras import

import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from jax import lax  # noqa: E402

import framework.jax  # noqa: E402,F401  (64-bit JAX)
from framework.jax.layers import avgpool2d, conv2d, oihw_to_hwio  # noqa: E402

RTOL = 1e-12
KERAS_BN_RTOL = 1e-6  # Keras's BatchNormalization agrees to ~2e-7 only: it keeps float32 constants (measured)
keras.config.set_floatx("float64")  # Keras computes losses and optimizer steps in floatx (float32 by default)


def agree(a, b, rtol=RTOL, atol=1e-14):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


def disagree(a, b, by=1e-6):
    """Differ by more than `by` relatively somewhere (far beyond rounding)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)) > by, (a, b)


def test_keras_runs_on_jax_in_float64():
    assert keras.backend.backend() == "jax"
    assert keras.layers.Dense(2, dtype="float64")(np.ones((1, 3))).dtype == "float64"


# ---------------------------------------------------------------------------------------------
# Batch normalisation: momentum, epsilon, the unbiased running variance
# ---------------------------------------------------------------------------------------------

def bn_after_one_batch(x, torch_momentum, keras_momentum, keras_eps=1e-3):
    """(torch's running_mean, running_var, output), (Keras's moving_mean, moving_variance, output)."""
    t = torch.nn.BatchNorm1d(x.shape[1], momentum=torch_momentum, dtype=torch.float64)
    yt = t(torch.from_numpy(x)).detach().numpy()
    k = keras.layers.BatchNormalization(momentum=keras_momentum, epsilon=keras_eps, dtype="float64")
    yk = np.asarray(k(x, training=True))
    return ((t.running_mean.numpy(), t.running_var.numpy(), yt),
            (np.asarray(k.moving_mean.value), np.asarray(k.moving_variance.value), yk))


X_BN = np.random.default_rng(0).normal(1.5, 2.0, size=(6, 3))


def test_batchnorm_momentum_weighs_the_new_batch_in_torch_and_the_old_value_in_keras():
    (mt, _, _), (mk, _, _) = bn_after_one_batch(X_BN, 0.1, 0.1)
    disagree(mt, mk)  # the same number 0.1: torch keeps 0.1 of the batch mean, Keras 0.9
    (mt, _, _), (mk, _, _) = bn_after_one_batch(X_BN, 0.1, 0.9)  # keras momentum = 1 - torch momentum
    agree(mt, mk, rtol=KERAS_BN_RTOL)
    agree(mt, 0.1 * X_BN.mean(axis=0))


def test_batchnorm_epsilon_defaults_differ_and_torch_stores_the_unbiased_variance():
    (_, vt, yt), (_, vk, yk) = bn_after_one_batch(X_BN, 0.1, 0.9)  # Keras's default epsilon 1e-3
    disagree(yt, yk, by=1e-4)
    (_, vt, yt), (_, vk, yk) = bn_after_one_batch(X_BN, 0.1, 0.9, keras_eps=1e-5)  # torch's default 1e-5
    agree(yt, yk, rtol=KERAS_BN_RTOL)  # both normalise with the biased batch variance
    m = X_BN.shape[0]
    disagree(vt, vk)  # but the running variances differ: torch averages in var m / (m - 1)
    agree(vt, 0.9 + 0.1 * X_BN.var(axis=0) * m / (m - 1))
    agree(vt, 0.9 + (vk - 0.9) * m / (m - 1), rtol=KERAS_BN_RTOL)  # Keras's update, the batch's part rescaled


def test_the_jax_twin_keeps_torchs_batchnorm_statistics():
    from framework.jax.layers import jax_twin_of
    from reference import sequential as seq

    layer = seq.BatchNorm1d(3, momentum=0.1)
    params, state = layer.init(None, np.float64)
    built = jax_twin_of(layer).build(layer, params, state)
    y, st = built.apply(built.params, built.state, jnp.asarray(X_BN), True, None)
    (mt, vt, yt), _ = bn_after_one_batch(X_BN, 0.1, 0.9)
    agree(st["mean"], mt)
    agree(st["var"], vt)
    agree(y, yt)


# ---------------------------------------------------------------------------------------------
# 'same' padding, average pooling with padding, layouts
# ---------------------------------------------------------------------------------------------

def tf_same_pads(n: int, k: int, s: int) -> tuple[int, int]:
    """TF/Keras 'same': total max(0, (ceil(n / s) - 1) s + k - n), the extra pixel after (bottom/right)."""
    total = max(0, (-(-n // s) - 1) * s + k - n)
    return total // 2, total - total // 2


def test_same_padding_keras_pads_by_size_and_stride_torch_refuses_stride_2():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 8, 8))            # NCHW
    K = rng.normal(size=(4, 3, 3, 4))            # OIHW, an even kernel width
    b = rng.normal(size=4)
    k = keras.layers.Conv2D(4, (3, 4), strides=2, padding="same", dtype="float64")
    k.build((None, 8, 8, 3))
    k.set_weights([oihw_to_hwio(K), b])
    yk = np.asarray(k(x.transpose(0, 2, 3, 1))).transpose(0, 3, 1, 2)
    with pytest.raises((RuntimeError, ValueError), match="stride"):
        torch.nn.Conv2d(3, 4, (3, 4), stride=2, padding="same")
    naive = F.conv2d(torch.from_numpy(x), torch.from_numpy(K), torch.from_numpy(b), stride=2, padding=(1, 1))
    assert naive.shape[2:] == yk.shape[2:]
    disagree(naive.numpy(), yk)  # symmetric (k - 1) // 2: the same shape, rows shifted by one
    (top, bottom), (left, right) = tf_same_pads(8, 3, 2), tf_same_pads(8, 4, 2)
    assert (top, bottom, left, right) == (0, 1, 1, 1)  # an odd total: the pixel goes to the bottom
    xt = F.pad(torch.from_numpy(x), (left, right, top, bottom))  # F.pad lists the last axis first
    agree(F.conv2d(xt, torch.from_numpy(K), torch.from_numpy(b), stride=2).numpy(), yk)
    yj = conv2d(jnp.asarray(x), jnp.asarray(oihw_to_hwio(K)), jnp.asarray(b), (2, 2), (top, bottom, left, right))
    agree(yj, yk)
    same = lax.conv_general_dilated(jnp.asarray(x), jnp.asarray(oihw_to_hwio(K)), (2, 2), "SAME",
                                    dimension_numbers=("NCHW", "HWIO", "NCHW")) + b[None, :, None, None]
    agree(same, yk)  # lax's "SAME" is TF's rule


def test_average_pooling_counts_padding_in_torch_not_in_keras():
    x = np.random.default_rng(2).normal(size=(2, 3, 7, 7))
    assert tf_same_pads(7, 3, 2) == (1, 1)  # Keras 'same' pads one pixel each side here, as torch's padding=1
    yk = np.asarray(keras.layers.AveragePooling2D(3, strides=2, padding="same", dtype="float64")(
        x.transpose(0, 2, 3, 1))).transpose(0, 3, 1, 2)
    counted = torch.nn.AvgPool2d(3, stride=2, padding=1)(torch.from_numpy(x)).numpy()  # torch's default
    disagree(counted, yk)
    uncounted = torch.nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)(torch.from_numpy(x)).numpy()
    agree(uncounted, yk)
    agree(counted[:, :, 1:-1, 1:-1], yk[:, :, 1:-1, 1:-1])  # inner windows hold no padding
    geometry = ((1, 1, 3, 3), (1, 1, 2, 2), ((0, 0), (0, 0), (1, 1), (1, 1)))
    agree(avgpool2d(jnp.asarray(x), *geometry, False), yk)
    agree(avgpool2d(jnp.asarray(x), *geometry, True), counted)


def test_layouts_nchw_oihw_against_nhwc_hwio_and_the_flatten_order():
    rng = np.random.default_rng(3)
    x, K, b = rng.normal(size=(2, 3, 6, 5)), rng.normal(size=(4, 3, 3, 2)), rng.normal(size=4)
    k = keras.layers.Conv2D(4, (3, 2), dtype="float64")
    k.build((None, 6, 5, 3))
    assert tuple(k.kernel.shape) == (3, 2, 3, 4)  # HWIO
    k.set_weights([oihw_to_hwio(K), b])
    yt = F.conv2d(torch.from_numpy(x), torch.from_numpy(K), torch.from_numpy(b)).numpy()
    yk = np.asarray(k(x.transpose(0, 2, 3, 1)))  # NHWC in, NHWC out
    agree(yk.transpose(0, 3, 1, 2), yt)
    with pytest.raises(ValueError):
        k(x)  # NCHW fed as is: channels 5, not 3
    flat_t, flat_k = yt.reshape(2, -1), np.asarray(keras.layers.Flatten()(yk))
    disagree(flat_t, flat_k)  # (C, H, W) against (H, W, C) order: a dense layer after it needs its rows permuted
    agree(yk.transpose(0, 3, 1, 2).reshape(2, -1), flat_t)


# ---------------------------------------------------------------------------------------------
# Adam's epsilon, AdamW's decay, SGD's momentum with a changing rate
# ---------------------------------------------------------------------------------------------

P0 = np.array([1.0, -2.0, 0.5])
GRADS = [np.array([3e-8, -1e-8, 2e-7]), np.array([1e-8, 4e-8, -1e-7]), np.array([-2e-8, 1e-8, 5e-8])]


def torch_run(make, grads=GRADS, lrs=None):
    p = torch.nn.Parameter(torch.tensor(P0))
    opt = make([p])
    out = []
    for i, g in enumerate(grads):
        if lrs:
            opt.param_groups[0]["lr"] = lrs[i]
        p.grad = torch.tensor(g)
        opt.step()
        out.append(p.detach().numpy().copy())
    return np.array(out)


def keras_run(opt, grads=GRADS, lrs=None):
    v = keras.Variable(P0.copy(), dtype="float64")
    out = []
    for i, g in enumerate(grads):
        if lrs:
            opt.learning_rate.assign(lrs[i])
        opt.apply([g], [v])
        out.append(np.asarray(v.value).copy())
    return np.array(out)


def optax_run(tx, grads=GRADS):
    p, state, out = jnp.asarray(P0), tx.init(jnp.asarray(P0)), []
    for g in grads:
        u, state = tx.update(jnp.asarray(g), state, p)
        p = optax.apply_updates(p, u)
        out.append(np.asarray(p))
    return np.array(out)


def test_adam_epsilon_outside_the_root_in_torch_and_optax_epsilon_hat_in_keras():
    lr, b2 = 0.1, 0.999
    t = torch_run(lambda ps: torch.optim.Adam(ps, lr=lr, eps=1e-8))
    agree(optax_run(optax.adam(lr, eps=1e-8)), t)  # optax's eps is torch's (eps_root, inside the root, is 0)
    disagree(keras_run(keras.optimizers.Adam(learning_rate=lr)), t)  # default epsilon 1e-7, and epsilon hat
    disagree(keras_run(keras.optimizers.Adam(learning_rate=lr, epsilon=1e-8)), t)  # the same number: other place
    # epsilon hat = eps sqrt(1 - beta2^t): one step converts exactly, no constant converts every step
    one = keras_run(keras.optimizers.Adam(learning_rate=lr, epsilon=1e-8 * np.sqrt(1 - b2)), GRADS[:1])
    agree(one, t[:1])
    disagree(keras_run(keras.optimizers.Adam(learning_rate=lr, epsilon=1e-8 * np.sqrt(1 - b2)))[1:], t[1:])
    agree(keras_run(keras.optimizers.Adam(learning_rate=lr, epsilon=0.0)),
          torch_run(lambda ps: torch.optim.Adam(ps, lr=lr, eps=0.0)))  # without epsilon the forms coincide


def test_adamw_decay_is_times_the_learning_rate_in_all_three_and_the_defaults_differ():
    lr, wd = 0.1, 0.05
    grads = [np.array([0.3, -0.1, 0.2]), np.array([0.1, 0.4, -0.1]), np.array([-0.2, 0.1, 0.5])]
    t = torch_run(lambda ps: torch.optim.AdamW(ps, lr=lr, weight_decay=wd), grads)
    assert torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))]).defaults["weight_decay"] == 1e-2
    assert keras.optimizers.AdamW().weight_decay == 0.004
    defaults = (torch_run(lambda ps: torch.optim.AdamW(ps, lr=lr), grads),
                optax_run(optax.adamw(lr), grads), keras_run(keras.optimizers.AdamW(learning_rate=lr), grads))
    disagree(defaults[0], defaults[1])  # torch 1e-2, optax 1e-4, Keras 0.004
    disagree(defaults[0], defaults[2])
    agree(optax_run(optax.adamw(lr, weight_decay=wd), grads), t)  # decay lr wd p, of the pre-step p
    agree(keras_run(keras.optimizers.AdamW(learning_rate=lr, weight_decay=wd, epsilon=0.0), grads),
          torch_run(lambda ps: torch.optim.AdamW(ps, lr=lr, weight_decay=wd, eps=0.0), grads))
    # Loshchilov and Hutter's (and TF Addons') decoupled decay is not times lr: p <- p - lr adam - wd' p
    def untimed(wd_):
        return optax.chain(optax.scale_by_adam(), optax.scale_by_learning_rate(lr), optax.add_decayed_weights(-wd_))
    disagree(optax_run(untimed(wd), grads), t)
    agree(optax_run(untimed(lr * wd), grads), t)  # wd' = lr wd at a constant rate


def test_sgd_momentum_torch_buffers_gradients_keras_buffers_steps():
    grads = [np.array([0.3, -0.1, 0.2]), np.array([0.1, 0.4, -0.1]), np.array([-0.2, 0.1, 0.5])]
    lrs = [0.1, 0.05, 0.02]  # a schedule: the forms part when the rate changes
    for nest in (False, True):
        def sgd(ps, nest=nest):
            return torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=nest)
        t = torch_run(sgd, grads, lrs)
        disagree(t, keras_run(keras.optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=nest), grads, lrs))
        agree(keras_run(keras.optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=nest), grads),
              torch_run(sgd, grads))  # a constant rate: the two forms coincide
        # optax.trace is torch's form (buffer of gradients, rate applied after), rate injected per step
        tx = optax.inject_hyperparams(lambda learning_rate, nest=nest: optax.sgd(learning_rate, 0.9, nest))(
            learning_rate=0.1)
        p, state, out = jnp.asarray(P0), tx.init(jnp.asarray(P0)), []
        for g, lr in zip(grads, lrs):
            state.hyperparams["learning_rate"] = jnp.asarray(lr)
            u, state = tx.update(jnp.asarray(g), state, p)
            p = optax.apply_updates(p, u)
            out.append(np.asarray(p))
        agree(np.array(out), t)


# ---------------------------------------------------------------------------------------------
# Dropout scaling, cross-entropy with label smoothing
# ---------------------------------------------------------------------------------------------

def test_dropout_is_inverted_in_all_three_unlike_the_papers_test_time_scaling():
    x, p = np.random.default_rng(4).uniform(1, 2, size=(40, 50)), 0.3
    yt = F.dropout(torch.from_numpy(x), p, training=True).numpy()
    yk = np.asarray(keras.layers.Dropout(p, seed=0, dtype="float64")(x, training=True))
    for y in (yt, yk):
        kept = y != 0
        assert 0.6 < kept.mean() < 0.8
        agree(y[kept], x[kept] / (1 - p))  # kept values scaled by 1 / (1 - p) in training
    agree(np.asarray(keras.layers.Dropout(p)(x, training=False)), x)  # eval: the identity
    agree(F.dropout(torch.from_numpy(x), p, training=False).numpy(), x)
    # Srivastava et al. 2014 keep x in training and scale by (1 - p) at test time: eval outputs differ by 1 - p
    disagree(x * (1 - p), x)
    from framework.jax.layers import build_dropout
    from reference import sequential as seq

    built = build_dropout(seq.Dropout(p), {}, {})
    yj = np.asarray(built.apply({}, {}, jnp.asarray(x), True, jnp.asarray(yt != 0))[0])
    agree(yj, yt)  # given torch's mask, the JAX twin's scaling is torch's


def test_cross_entropy_takes_logits_in_torch_and_optax_probabilities_by_default_in_keras():
    rng = np.random.default_rng(5)
    z, eps = rng.normal(size=(6, 5)) * 3, 0.1
    y = np.eye(5)[rng.integers(0, 5, 6)]
    t = F.cross_entropy(torch.from_numpy(z), torch.from_numpy(y), label_smoothing=eps).item()
    o = float(jnp.mean(optax.softmax_cross_entropy(jnp.asarray(z), optax.smooth_labels(jnp.asarray(y), eps))))
    agree(o, t)  # smoothed targets (1 - eps) y + eps / K in both
    k_default = float(keras.losses.CategoricalCrossentropy(label_smoothing=eps)(y, z))
    disagree(k_default, t)  # from_logits=False: the logits are taken for probabilities
    k = float(keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=eps)(y, z))
    agree(k, t)
    labels = torch.from_numpy(y.argmax(axis=1))
    agree(F.cross_entropy(torch.from_numpy(z), labels, label_smoothing=eps).item(), t)  # class indices: the same
