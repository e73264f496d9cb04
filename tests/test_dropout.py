"""Dropout (reference/dropout.py, the Dropout layer of reference/sequential.py) against F.dropout and
its twin: torch's own mask reproduced bit for bit, three ways with a shared mask, modes, p = 0 and
p = 1, and error parity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from experiments.equivalence import cases
from experiments.equivalence import layer_check as lc
from framework.layers import DropoutTwin
from reference import dropout
from reference import sequential as seq

DROPOUT_CASES = [c for c in cases.LAYER_CASES if isinstance(c.layer, seq.Dropout)]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 0.9, 1.0])
def test_torchs_own_mask_gives_torchs_bits(p, dtype):
    # F.dropout draws its own mask; read it back from the output (x has no zeros) and feed it to ours.
    torch.manual_seed(0)
    x = torch.randn(6, 4, 5, 3, dtype=dtype) + 0.1
    assert (x != 0).all()
    xt = x.clone().requires_grad_(True)
    y = F.dropout(xt, p, training=True)
    dy = torch.randn_like(y)
    y.backward(dy)
    mask = (y != 0).detach().numpy()
    ours, cache = dropout.forward(x.numpy(), p, True, mask)
    np.testing.assert_array_equal(ours, y.detach().numpy())
    np.testing.assert_array_equal(dropout.backward(dy.numpy(), cache)[0], xt.grad.numpy())
    twin = DropoutTwin(p)
    twin.mask = mask
    np.testing.assert_array_equal(twin(x).numpy(), y.detach().numpy())  # the twin is F.dropout with a given mask


@pytest.mark.parametrize("dtype", lc.DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("case", DROPOUT_CASES, ids=lambda c: c.name)
def test_three_ways_with_a_shared_mask(case, dtype):
    rows = lc.case_rows(case, dtype)
    assert {r["quantity"] for r in rows} >= {"output", "input_grad"}
    if dtype == np.float64:
        assert any(r["quantity"] == "input_grad vs central difference" for r in rows)
    failed = [r for r in rows if not r["passed"]]
    assert not failed, failed


def test_modes_and_extreme_p_as_torch():
    x = np.random.default_rng(0).normal(size=(3, 4))
    xt = torch.from_numpy(x)
    for p in (0.0, 0.5, 1.0):
        y, _, _ = seq.Dropout(p).forward(x, {}, {}, train=False)
        assert y is x and torch.equal(F.dropout(xt, p, training=False), xt)  # eval: identity
    y, _, _ = seq.Dropout(0.0).forward(x, {}, {}, train=True)
    np.testing.assert_array_equal(y, F.dropout(xt, 0.0, training=True).numpy())
    y, cache, _ = seq.Dropout(1.0).forward(x, {}, {}, train=True)
    y_t = F.dropout(xt, 1.0, training=True).numpy()
    np.testing.assert_array_equal(y, y_t)
    assert np.array_equal(np.signbit(y), np.signbit(y_t))  # x * 0, signed zeros included
    np.testing.assert_array_equal(dropout.backward(np.ones_like(x) * 0.7, cache)[0], 0.0)


def test_mask_is_drawn_from_the_rng_with_keep_probability_1_minus_p():
    layer = seq.Dropout(0.3)
    x = np.ones((200, 500))
    y1, _, _ = layer.forward(x, {}, {}, train=True, rng=np.random.default_rng(5))
    y2, _, _ = layer.forward(x, {}, {}, train=True, rng=np.random.default_rng(5))
    y3, _, _ = layer.forward(x, {}, {}, train=True, rng=np.random.default_rng(6))
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(y1, y3)
    kept = np.mean(y1 != 0)
    assert abs(kept - 0.7) < 4 * np.sqrt(0.7 * 0.3 / x.size)  # 4 standard errors
    np.testing.assert_array_equal(np.unique(y1), [0.0, np.float64(1) / np.float64(0.7)])
    assert abs(y1.mean() - 1.0) < 0.01  # inverted dropout keeps the expectation


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_p_outside_0_1_is_refused_like_torch(p):
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        torch.nn.Dropout(p)
    with pytest.raises(ValueError, match=f"drop1: dropout probability p must be between 0 and 1, got p = {p}"):
        seq.Dropout(p, name="drop1")
    with pytest.raises(ValueError, match="dropout: dropout probability p must be between 0 and 1"):
        dropout.forward(np.zeros((2, 2)), p, True, np.ones((2, 2), dtype=bool))


def test_train_mode_needs_an_rng_or_a_mask_of_the_right_shape():
    with pytest.raises(ValueError, match="drop: train mode with p = 0.5 needs an rng"):
        seq.Dropout(0.5, name="drop").forward(np.zeros((2, 3)), {}, {}, train=True)
    wrong_mask = r"dropout: train mode with p = 0.5 needs a mask of the input's shape \(2, 3\), got \(3, 2\)"
    with pytest.raises(ValueError, match=wrong_mask):
        dropout.forward(np.zeros((2, 3)), 0.5, True, np.ones((3, 2), dtype=bool))
    # eval mode and p = 0 draw nothing
    seq.Dropout(0.5).forward(np.zeros((2, 3)), {}, {}, train=False)
    seq.Dropout(0.0).forward(np.zeros((2, 3)), {}, {}, train=True)
