"""The margin softmax (CosFace) head: L2 normalisation, the cosine layer and the additive-margin softmax loss,
three ways (our backward, autograd, central differences), their refusals, the face CNN with the head against
its twin, and the face kind's settings (a softmax run's config, hence its run_id, is unchanged)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from experiments.config import ConfigError
from experiments.equivalence import cases
from experiments.equivalence import layer_check as lc
from experiments.faces import kind, models
from framework import cnn as tcnn
from reference import cosine
from reference import sequential as seq
from reference.losses import am_softmax, cross_entropy, cross_entropy_grad, get_loss


def test_every_row_passes_three_ways():
    lines = [c for c in cases.LAYER_CASES if isinstance(c.layer, (seq.L2Normalize, seq.CosineDense))]
    rows = lc.rows(lines) + [r for dtype in lc.DTYPES for s, m in cases.MARGINS for r in cases.margin_rows(s, m, dtype)]
    assert len(rows) == 57
    failed = [(r["component"], r["case"], r["dtype"], r["quantity"], r["max_abs_err"]) for r in rows if not r["passed"]]
    assert not failed
    f64 = [r for r in rows if r["dtype"] == "float64" and "central" not in r["quantity"]]
    assert all(r["rtol"] == 1e-10 for r in f64)  # float64 to 1e-10 relative
    assert {r["component"] for r in rows if "central" in r["quantity"]} == {"l2normalize", "cosinedense",
                                                                             "loss:am_softmax"}


def test_cosines_are_cosines_and_the_margin_is_taken_off_the_true_class():
    rng = np.random.default_rng(3)
    x, W = rng.normal(size=(4, 6)), rng.normal(size=(6, 3))
    cos, _ = cosine.forward(x, W)
    expected = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (W / np.linalg.norm(W, axis=0, keepdims=True))
    np.testing.assert_allclose(cos, expected, rtol=1e-14)
    y = np.eye(3)[[0, 2, 1, 1]]
    L = am_softmax(10.0, 0.3)
    np.testing.assert_allclose(L.e(cos, cos, y), cross_entropy(10.0 * (cos - 0.3 * y), y), rtol=1e-15)
    np.testing.assert_allclose(L.delta(cos, cos, y, None), 10.0 * cross_entropy_grad(10.0 * (cos - 0.3 * y), y),
                               rtol=1e-15)


def test_refusals():
    layer = seq.CosineDense(5, 4)
    params, _ = layer.init(np.random.default_rng(0), np.float64)
    x = np.random.default_rng(1).normal(size=(3, 6))
    with pytest.raises(ValueError, match="cosine: input"):
        layer.forward(x, params, {}, train=True)
    with pytest.raises(RuntimeError):  # torch refuses the same shapes
        F.linear(F.normalize(torch.tensor(x)), F.normalize(torch.tensor(params["W"].T)))
    with pytest.raises(ValueError, match="l2normalize: input must be"):
        seq.L2Normalize().forward(np.zeros((2, 3, 4)), {}, {}, train=True)
    for s, m, what in ((0.0, 0.2, "scale s must be > 0, got 0.0"), (-1.0, 0.2, "scale s must be > 0"),
                       (16.0, -0.1, "margin m must be >= 0, got -0.1")):
        with pytest.raises(ValueError, match=what):
            am_softmax(s, m)
    with pytest.raises(ValueError, match=r"cosines \(2, 3\) and targets \(2, 4\)"):
        am_softmax(16.0, 0.2).e(np.zeros((2, 3)), None, np.zeros((2, 4)))
    assert get_loss("am_softmax").scale == 30.0


def test_default_loss_path_is_the_cross_entropy_bit_for_bit():
    rng = np.random.default_rng(0)
    s_L, labels = rng.normal(size=(5, 4)), rng.integers(0, 4, 5)
    y = seq.one_hot(labels, 4, np.float64)
    E, ds = seq.Sequential(()).error(s_L, labels)
    assert E == float(np.mean(cross_entropy(s_L, y)))
    assert np.array_equal(ds, cross_entropy_grad(s_L, y) / 5)


@pytest.mark.parametrize("train", [True, False])
def test_face_cnn_with_the_cosface_head_against_its_twin(train):
    model = models.face_cnn((1, 12, 10), 5, (3,), hidden=6, dropout=0.0, head=am_softmax(16.0, 0.2))
    assert isinstance(model.layers[-1], seq.CosineDense) and model.loss.name == "am_softmax"
    params, state = model.init(0, np.float64)
    rng = np.random.default_rng(1)
    x, labels = rng.normal(size=(7, 1, 12, 10)), rng.integers(0, 5, 7)
    out = model.loss_and_grads(x, labels, params, state, train=train)
    twin = tcnn.build_twin(model, params, state)
    twin.train(train)
    cos = twin(torch.tensor(x))
    E = F.cross_entropy(16.0 * (cos - 0.2 * F.one_hot(torch.tensor(labels), 5).double()), torch.tensor(labels))
    E.backward()
    assert abs(out.loss - E.item()) <= 1e-12 * abs(E.item())
    for ours, theirs in zip(out.grads, tcnn.twin_grads(twin, model)):
        for k in ours:
            np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-10, atol=1e-12)


def test_the_kind_keeps_softmax_configs_as_they_were_and_checks_the_head():
    softmax = kind.validate("t", {"task": "verify", "embed": 128})
    assert softmax["head"] == "softmax" and not set(kind.HEAD_KEYS) & set(softmax)
    assert kind.KIND.identity(softmax) == {k: v for k, v in softmax.items() if k not in kind.FROZEN}  # run_ids hold
    assert kind.validate("t", {**softmax, "head": "softmax", "cosface_scale": 30.0}) == softmax
    cos = kind.validate("t", {"task": "verify", "embed": 128, "head": "cosface", "cosface_scale": 16.0})
    assert (cos["head"], cos["cosface_scale"], cos["cosface_margin"]) == ("cosface", 16.0, 0.35)
    assert kind.network(cos, (1, 28, 23), 32).loss.scale == 16.0
    assert kind.network(softmax, (1, 28, 23), 32).loss is None
    with pytest.raises(ConfigError, match="head 'cosface' is the cnn's output layer, got method 'eigenfaces'"):
        kind.validate("t", {"task": "verify", "method": "eigenfaces", "head": "cosface"})
    with pytest.raises(ConfigError, match="cosface_margin"):
        kind.validate("t", {"head": "cosface", "cosface_margin": -0.1})


def test_the_cosface_embedding_has_no_relu_and_the_softmax_one_keeps_it():
    model = models.face_cnn((1, 28, 23), 32, (16, 32, 64), 128, 0.2, am_softmax(30.0, 0.35))
    names = [layer.name for layer in model.layers]
    assert "relu_embed" not in names and names[-1] == "out"
    assert "relu_embed" in [layer.name for layer in models.face_cnn((1, 28, 23), 32, (16, 32, 64), 128, 0.2).layers]


@pytest.mark.parametrize("layer", [seq.L2Normalize(), seq.Activation("tanh", name="act")], ids=["l2normalize", "act"])
def test_an_upstream_gradient_of_another_dtype_is_refused_like_every_layer(layer):
    x = np.random.default_rng(4).normal(size=(3, 5))
    y, cache, _ = layer.forward(x, {}, {}, train=True)
    with pytest.raises(TypeError, match=f"{layer.name}: upstream gradient is float32, expected float64"):
        layer.backward(y.astype(np.float32), cache)
    with pytest.raises(ValueError, match=rf"{layer.name}: upstream gradient has shape \(3, 4\), expected \(3, 5\)"):
        layer.backward(y[:, :4], cache)
