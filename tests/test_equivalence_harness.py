"""The equivalence harness itself (experiments/equivalence/): its check can fail, refuses a constant
upstream gradient, and an official write never shrinks the committed table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments.equivalence import keep_every_row
from experiments.equivalence.check import check


def square_fn(wrong: bool = False):
    """y = x^2 with its backward (or a transposed, wrong one)."""
    def fn(a):
        x = a["x"]
        back = (lambda dy: {"x": (2 * x * dy).T.copy().reshape(x.shape)}) if wrong else (lambda dy: {"x": 2 * x * dy})
        return x * x, back
    return fn


NAMES = {"output": "output", "x": "input_grad"}


def test_check_passes_a_correct_layer_three_ways_and_fails_a_wrong_backward():
    rng = np.random.default_rng(0)
    x, dy = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    rows = check("square", "3x4", square_fn(), lambda t: t["x"] ** 2, {"x": x}, dy, NAMES, central=("x",))
    assert [r["quantity"] for r in rows] == ["output", "input_grad", "input_grad vs central difference"]
    assert all(r["passed"] for r in rows)
    bad = check("square", "3x4", square_fn(wrong=True), lambda t: t["x"] ** 2, {"x": x}, dy, NAMES, central=("x",))
    assert [r["passed"] for r in bad] == [True, False, False]


def test_check_refuses_a_constant_upstream_gradient():
    x = np.random.default_rng(1).normal(size=(2, 3))
    with pytest.raises(ValueError, match="upstream gradient must be random, got all entries equal to 1.0"):
        check("square", "2x3", square_fn(), lambda t: t["x"] ** 2, {"x": x}, np.ones((2, 3)), NAMES)


def test_an_official_write_never_drops_a_committed_row(tmp_path):
    key = ["component", "case", "dtype", "quantity"]
    old = pd.DataFrame([["conv", "a", "float64", "output"], ["conv", "b", "float64", "output"]], columns=key)
    path = tmp_path / "equivalence.csv"
    old.to_csv(path, index=False)
    keep_every_row(pd.concat([old, old.assign(case="c")]), path)  # more rows: fine
    # a table from before the framework column holds torch's rows
    with pytest.raises(ValueError, match=r"lack 1 of its rows, e.g. \[\('torch', 'conv', 'b', 'float64', 'output'\)\]"):
        keep_every_row(old.iloc[:1], path)
    both = pd.concat([old.assign(framework="torch"), old.assign(framework="jax")])
    both.to_csv(path, index=False)
    keep_every_row(both, path)
    with pytest.raises(ValueError, match=r"lack 2 of its rows, e.g. \[\('jax', 'conv', 'a'"):
        keep_every_row(old.assign(framework="torch"), path)  # the JAX rows may not go either


def test_a_quick_run_never_writes_into_results():
    from experiments.equivalence import write
    from experiments.outputs import official

    with pytest.raises(ValueError, match="a --quick equivalence run never writes into results/"):
        write(official(), quick=True)


def test_summary_gives_the_worst_difference_per_family_and_framework():
    from experiments.equivalence import summary

    rows = [("torch", "loss:cross_entropy", "e_n", 1e-15), ("jax", "loss:am_softmax", "e_n", 3e-15),
            ("jax", "loss:am_softmax", "e_n vs central difference", 1e-8),  # the estimate's error: left out
            ("torch-vs-jax", "conv", "output", 2e-14), ("jax", "cnn", "trajectory", 5e-14)]
    df = pd.DataFrame(rows, columns=["framework", "component", "quantity", "max_abs_err"]).assign(dtype="float64")
    s = summary(df)
    assert s.loc[("float64", "loss"), "jax"] == 3e-15 and s.loc[("float64", "loss"), "torch"] == 1e-15
    assert s.loc[("float64", "conv"), "torch-vs-jax"] == 2e-14
    assert s.loc[("float64", "trajectory:cnn"), "jax"] == 5e-14 and ("float64", "cnn") not in s.index


def test_every_twin_has_a_case_line():
    from experiments.equivalence.cases import LAYER_CASES
    from framework.layers import TWINS

    lined = {type(c.layer) for c in LAYER_CASES}
    missing = sorted(t.__name__ for t in TWINS if t not in lined)
    assert not missing, f"layers with a TWINS entry but no case line in experiments/equivalence/cases.py: {missing}"
    assert lined <= set(TWINS), "a case line for a layer without a twin"


def test_case_lines_have_distinct_names_and_random_non_initial_values():
    from experiments.equivalence import layer_check as lc
    from experiments.equivalence.cases import LAYER_CASES
    from reference import sequential as seq

    keys = [(c.component, c.name) for c in LAYER_CASES]
    assert len(keys) == len(set(keys)), [k for k in keys if keys.count(k) > 1]
    case = lc.Case(seq.BatchNorm2d(3, eps=1e-3), (4, 3, 5, 6), train=True)
    assert (case.component, case.name) == ("batchnorm2d", "4x3x5x6_train_eps0.001")
    x, params, state, dy, _ = lc.case_data(case, np.float64)
    assert abs(x.mean()) > 0.5 and np.unique(dy).size == dy.size
    assert not np.any(params["gamma"] == 1) and not np.any(params["beta"] == 0)
    assert not np.any(state["running_mean"] == 0) and not np.any(state["running_var"] == 1)


def test_a_new_layer_gets_derived_names():
    from experiments.equivalence import layer_check as lc
    from reference import sequential as seq

    case = lc.Case(seq.Dense(5, 4, gain=1.0), (6, 5), data="kinks", note="demo")
    assert (case.component, case.name) == ("dense", "6x5_d_in5_d_out4_gain1_kinks_demo")


def test_a_wrong_twin_fails_its_case_line(monkeypatch):
    from experiments.equivalence import layer_check as lc
    from framework import layers as fl
    from reference import sequential as seq

    wrong = fl.Twin(lambda l, p, s, d: __import__("torch").nn.Sigmoid())
    monkeypatch.setitem(fl.TWINS, seq.Activation, wrong)
    rows = lc.case_rows(lc.Case(seq.Activation("tanh"), (3, 4)), np.float64)
    assert [r["passed"] for r in rows] == [False, False, True]  # twin rows fail; central differences still pass
