"""Perceptron, PLA and the two-layer XOR (study 1.1-1.2)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import perceptron as P


def separable_data(seed: int, N: int, d: int, margin: float = 0.05):
    """Points in [-1, 1]^d labelled by a random target w*, keeping those at distance > margin."""
    rng = np.random.default_rng(seed)
    w_star = rng.normal(size=d + 1)
    X = rng.uniform(-1, 1, size=(4 * N, d))
    s = np.hstack([np.ones((4 * N, 1)), X]) @ w_star
    keep = np.abs(s) / np.linalg.norm(w_star[1:]) > margin
    X, s = X[keep][:N], s[keep][:N]
    return X, np.sign(s), w_star


def test_add_bias_prepends_ones():
    X = np.array([[2.0, -3.0], [0.5, 7.0], [0.0, 0.0]])
    Xb = P.add_bias(X)
    assert Xb.shape == (3, 3)
    np.testing.assert_array_equal(Xb[:, 0], [1, 1, 1])
    np.testing.assert_array_equal(Xb[:, 1:], X)


def test_h_is_sign_of_w_dot_x_with_bias():
    w = np.array([-1.0, 2.0, 0.5])  # s = -1 + 2 x_1 + 0.5 x_2
    X = np.array([[1.0, 0.0], [0.0, 0.0], [0.5, 0.0], [0.0, 4.0]])
    np.testing.assert_array_equal(P.signal(w, X), [1.0, -1.0, 0.0, 1.0])
    np.testing.assert_array_equal(P.h(w, X), [1.0, -1.0, 0.0, 1.0])


def test_sign_zero_counts_as_misclassified():
    X = np.array([[4.0], [-1.0], [3.0]])
    y = np.array([1.0, -1.0, -1.0])
    np.testing.assert_array_equal(P.misclassified(np.zeros(2), X, y), [True, True, True])
    assert P.E_in(np.zeros(2), X, y) == 1.0
    # w = (-3, 1): s = (1, -4, 0); x = 3 sits on the boundary and is wrong for either label.
    np.testing.assert_array_equal(P.h([-3.0, 1.0], X), [1.0, -1.0, 0.0])
    np.testing.assert_array_equal(P.misclassified([-3.0, 1.0], X, y), [False, False, True])
    np.testing.assert_array_equal(P.misclassified([-3.0, 1.0], X, -y), [True, True, True])
    assert P.E_in([-3.0, 1.0], X, y) == pytest.approx(1 / 3)


def test_pla_update_formula():
    w = np.array([0.5, -1.0, 2.0])
    np.testing.assert_array_equal(P.pla_update(w, [3.0, 4.0], -1), [-0.5, -4.0, -2.0])
    np.testing.assert_array_equal(P.pla_update(w, np.array([3.0, 4.0]), 1.0), [1.5, 2.0, 6.0])


def test_pla_hand_traced_first_misclassified():
    # w(0) = 0: both points have h = 0, pick n = 0: w(1) = (1, 1); then x_2 has s = 0,
    # pick n = 1: w(2) = (1, 1) - (1, -1) = (0, 2), which separates both.
    X = np.array([[1.0], [-1.0]])
    y = np.array([1.0, -1.0])
    r = P.pla(X, y)
    np.testing.assert_array_equal(r.w, [0.0, 2.0])
    assert r.updates == 2 and r.converged
    np.testing.assert_array_equal(r.errors, [2, 1, 0])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), N=st.integers(1, 60), d=st.integers(1, 5), random_pick=st.booleans())
def test_pla_converges_on_separable_data(seed, N, d, random_pick):
    X, y, w_star = separable_data(seed, N, d)
    r = P.pla(X, y, max_iterations=100_000, seed=seed if random_pick else None)
    assert r.converged
    assert r.errors[-1] == 0 and np.all(r.errors[:-1] > 0)
    assert len(r.errors) == r.updates + 1
    np.testing.assert_array_equal(np.sign(P.add_bias(X) @ r.w), y)
    assert P.E_in(r.w, X, y) == 0.0
    # Novikoff: updates <= R^2 ||w*||^2 / rho^2 for any separating w*.
    Xb = P.add_bias(X)
    R = np.max(np.linalg.norm(Xb, axis=1))
    rho = np.min(y * (Xb @ w_star))
    assert rho > 0
    assert r.updates <= R**2 * np.dot(w_star, w_star) / rho**2


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5, 6, 7])
def test_pla_converges_for_fixed_seeds_and_is_deterministic(seed):
    X, y, _ = separable_data(seed, 100, 2)
    a = P.pla(X, y, max_iterations=100_000, seed=seed)
    b = P.pla(X, y, max_iterations=100_000, seed=seed)
    assert a.converged and a.updates > 0
    np.testing.assert_array_equal(a.w, b.w)
    np.testing.assert_array_equal(a.errors, b.errors)
    np.testing.assert_array_equal(P.h(a.w, X), y)


def test_pla_each_step_is_the_update_rule_on_the_first_misclassified_point():
    X, y, _ = separable_data(11, 30, 3)
    w0 = np.array([0.3, -0.2, 0.1, 0.0])
    final = P.pla(X, y, w0=w0, max_iterations=10_000)
    assert final.converged and final.updates >= 3
    for t in range(final.updates):
        before = P.pla(X, y, w0=w0, max_iterations=t)
        after = P.pla(X, y, w0=w0, max_iterations=t + 1)
        wrong = P.misclassified(before.w, X, y)
        assert before.errors[-1] == wrong.sum() == final.errors[t]
        n = np.flatnonzero(wrong)[0]
        np.testing.assert_array_equal(after.w, P.pla_update(before.w, X[n], y[n]))


def test_pla_on_xor_never_reaches_zero_errors():
    for seed in [None, 0, 1, 2]:
        r = P.pla(P.XOR_X, P.XOR_y, max_iterations=500, seed=seed)
        assert not r.converged
        assert r.updates == 500 and len(r.errors) == 501
        assert r.errors.min() >= 1  # no line separates XOR: at least one of four points is wrong
        assert P.E_in(r.w, P.XOR_X, P.XOR_y) >= 0.25


def test_pla_stops_at_max_iterations_zero():
    r = P.pla(P.XOR_X, P.XOR_y, max_iterations=0)
    assert r.updates == 0 and not r.converged
    np.testing.assert_array_equal(r.w, np.zeros(3))
    np.testing.assert_array_equal(r.errors, [4])


def test_and_or_perceptrons_truth_tables():
    X = P.XOR_X
    np.testing.assert_array_equal(P.h(P.w_AND, X), [-1, -1, -1, 1])
    np.testing.assert_array_equal(P.h(P.w_OR, X), [-1, 1, 1, 1])


def test_xor_network_is_exact_on_all_four_points():
    np.testing.assert_array_equal(P.xor_network(P.XOR_X), P.XOR_y)
    np.testing.assert_array_equal(P.xor_network(P.XOR_X), [-1, 1, 1, -1])
    hidden = P.perceptron_layer(P.XOR_X, P.W_XOR_HIDDEN)
    np.testing.assert_array_equal(hidden[:, 0], [-1, -1, 1, -1])  # x_1 AND NOT x_2
    np.testing.assert_array_equal(hidden[:, 1], [-1, 1, -1, -1])  # NOT x_1 AND x_2
    assert set(np.unique(hidden)) <= {-1.0, 1.0}  # no point sits on a hidden boundary


def test_wrong_w_length_names_both_numbers():
    X = np.zeros((5, 2))
    with pytest.raises(ValueError, match=r"w has 4 weights but X has d = 2 columns, so w needs d \+ 1 = 3"):
        P.h(np.zeros(4), X)
    with pytest.raises(ValueError, match=r"w has 2 weights but X has d = 2 columns"):
        P.pla(X, np.ones(5), w0=np.zeros(2))
    with pytest.raises(ValueError, match=r"w must be a vector.*shape \(3, 1\)"):
        P.h(np.zeros((3, 1)), X)


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"X must be 2-D \(N, d\).*shape \(3,\)"):
        P.h(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match=r"X has no samples \(shape \(0, 2\)\)"):
        P.pla(np.zeros((0, 2)), np.zeros(0))
    with pytest.raises(ValueError, match=r"labels y must have shape \(4,\) to match X's 4 rows, got shape \(3,\)"):
        P.pla(np.zeros((4, 2)), np.ones(3))
    with pytest.raises(ValueError, match=r"W has shape \(2, 2\) but X has d = 2 columns, so W needs shape \(3, m\)"):
        P.perceptron_layer(P.XOR_X, np.zeros((2, 2)))


def test_labels_must_be_plus_minus_one():
    X = np.zeros((4, 1))
    with pytest.raises(ValueError, match=r"labels y must be -1 or \+1; 2 of 4 are not, e.g. \[0.0\]"):
        P.pla(X, [0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"2 of 4 are not, e.g. \[0.5, 2.0\]"):
        P.E_in(np.zeros(2), X, [1, 0.5, -1, 2])


def test_non_finite_inputs():
    X = np.zeros((3, 2))
    X[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"X has 1 non-finite value\(s\) \(NaN or inf\), first at index \(1, 0\)"):
        P.pla(X, np.ones(3))
    with pytest.raises(ValueError, match=r"w has 1 non-finite"):
        P.h([0.0, np.inf, 0.0], np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"labels y has 1 non-finite"):
        P.pla(np.zeros((3, 2)), [1, np.nan, -1])


def test_bad_max_iterations_and_xor_inputs():
    with pytest.raises(ValueError, match=r"max_iterations must be an integer >= 0, got -1"):
        P.pla(P.XOR_X, P.XOR_y, max_iterations=-1)
    with pytest.raises(ValueError, match=r"XOR inputs must be -1 or \+1 \(not 0/1\); 4 entries are not, e.g. \[0.0\]"):
        P.xor_network([[0, 0], [0, 1], [1, 0], [1, 1]])
    with pytest.raises(ValueError, match=r"XOR takes 2 inputs per row, got X of shape \(4, 3\)"):
        P.xor_network(np.ones((4, 3)))
