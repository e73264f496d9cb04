"""The CNN experiment (kind "cnn", experiments/configs/cnn-mnist.toml) through the shared runner and
training loop, and the CNN parts of bench and equivalence in their quick forms."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from experiments import cli
from experiments.config import ConfigError, get_experiment
from experiments.engines import sequential
from experiments.engines.sequential import ImageData, NumpySequential
from experiments.mnist import cnn
from experiments.outputs import Outputs


def test_sample_order_is_a_seeded_permutation_per_epoch():
    orders = [cnn.order_for(3, e, 10) for e in (1, 2, 3)]
    for o in orders:
        assert sorted(o) == list(range(10))
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])
    np.testing.assert_array_equal(cnn.order_for(3, 2, 10), orders[1])  # epoch e's order alone, for a resume
    assert not np.array_equal(cnn.order_for(4, 1, 10), orders[0])
    # the epoch-th permutation drawn from default_rng(seed): the order the committed rows trained with
    rng = np.random.default_rng(3)
    for o in orders:
        np.testing.assert_array_equal(o, rng.permutation(10))


def test_the_sequential_engine_steps_through_the_order_in_mini_batches_at_the_epochs_rate():
    """Mini-batches are consecutive slices of the epoch's order (the last one short), and every step of
    epoch e uses lr_at(e)."""
    batches, rates = [], []
    model = SimpleNamespace(layers=[], loss_and_grads=lambda x, y, params, state, train, rng: (
        batches.append((x.copy(), y.copy())) or SimpleNamespace(loss=float(len(y)), grads=[], state=state)))
    opt = SimpleNamespace(init=lambda params: {"step": 0, "slots": []},
                          step=lambda params, grads, st, lr: rates.append(lr) or st)
    X = np.arange(10, dtype=np.float64).reshape(10, 1, 1, 1)
    data = ImageData(X, np.arange(10) + 100, X[:2], np.arange(2))
    engine = NumpySequential(model, [], [], data, opt, lambda e: 0.1 * 0.5 ** (e - 1), 4)
    for e in (1, 2):
        order = cnn.order_for(3, e, 10)
        loss = engine.epoch(order, e)
        got = batches[-3:]
        assert [len(y) for _, y in got] == [4, 4, 2]
        np.testing.assert_array_equal(np.concatenate([y for _, y in got]), order + 100)
        np.testing.assert_array_equal(np.concatenate([x.ravel() for x, _ in got]), order)
        assert loss == pytest.approx(np.mean([4, 4, 2]))
    assert rates == pytest.approx([0.1] * 3 + [0.05] * 3)


def test_pixel_standardisation():
    images = np.array([[[0, 255], [255, 0]]], dtype=np.uint8)
    mean, std = cnn.pixel_mean_std(images)
    assert (mean, std) == pytest.approx((0.5, 0.5))
    x = cnn.prepare_images(images, mean, std, np.float32)
    assert x.shape == (1, 1, 2, 2) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0, 0], [[-1, 1], [1, -1]])


def test_cnn_mnist_quick_run_writes_both_rows(tmp_path, monkeypatch, capsys):
    """`python -m experiments run cnn-mnist --quick --seeds 0 --out DIR`: one run, two rows (NumPy and
    its torch twin from the same start), with identity, settings and provenance, into DIR."""
    exp = get_experiment("cnn-mnist")
    rates = {}
    real_engines = dict(sequential.SEQUENTIAL_ENGINES)

    def spy(impl):
        def make(model, params, state, data, optimizer, lr_at, batch_size, *a, **k):
            rates[impl] = [lr_at(e) for e in (1, 2, 3)]
            return real_engines[impl](model, params, state, data, optimizer, lr_at, batch_size, *a, **k)
        return make

    for impl in real_engines:
        monkeypatch.setitem(sequential.SEQUENTIAL_ENGINES, impl, spy(impl))
    args = ["run", "cnn-mnist", "--quick", "--seeds", "0", "--out", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", [str(cli.__file__).replace("cli.py", "__main__.py"), *args])
    assert cli.main(args) == 0
    assert "1 runs planned, 0 already in" in capsys.readouterr().out
    written = pd.read_csv(Outputs(tmp_path).table("cnn_mnist"))
    assert list(written["impl"]) == ["numpy", "torch"]
    assert list(written["engine"]) == ["numpy-sequential", "torch-sequential"]
    for col in ("impl", "seed", "epochs", "batch_size", "lr", "lr_decay", "test_acc", "train_seconds", "run_id",
                "max_weight_diff_vs_other", "command", "commit", "numpy_version", "torch_version", "date", "quick"):
        assert col in written.columns, col
    assert written["quick"].all() and (written["train_n"] == 2000).all() and (written["test_n"] == 1000).all()
    assert (written["epochs"] == 1).all() and (written["batch_size"] == 32).all()
    assert written["run_id"].nunique() == 1 and written["experiment"].eq("cnn-mnist").all()
    assert written["command"][0] == "python -m experiments " + " ".join(args)
    assert (written["test_acc"] > 0.5).all()  # 63 steps already beat chance (0.1) by far
    # float64, same weights, same order: the two implementations end (almost) bit-identical
    assert (written["max_weight_diff_vs_other"] < 1e-10).all()
    assert written["test_acc"][0] == written["test_acc"][1]
    base = exp.runs["base"]
    expected = [base["lr"] * base["lr_decay"] ** k for k in range(3)]
    assert rates["numpy"] == pytest.approx(expected) and rates["torch"] == pytest.approx(expected)


def test_cnn_config_rejects_an_unknown_impl(capsys):
    with pytest.raises(ConfigError, match=r"where: impl = 'jax' must be one of \['both', 'numpy', 'torch'\]"):
        cnn.validate("where", {**get_experiment("cnn-mnist").runs["base"], "impl": "jax"})
    assert cli.main(["run", "cnn-mnist", "--impl", "jax"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--impl" in err and "'jax'" in err


def test_bench_cnn_quick_rows():
    from experiments.mnist import bench_cnn

    df = pd.DataFrame(bench_cnn.rows(quick=True, repeats=1))
    for col in ("benchmark", "impl", "dtype", "threads", "median_s", "repeats"):
        assert col in df.columns
    conv = df[df["benchmark"].str.startswith("conv")]
    assert len(conv) == 4 and set(conv["impl"]) == {"numpy-reference", "torch"}
    assert (conv["median_s"] > 0).all() and (conv["threads"] == 1).all()
    mem = df[df["unit"] == "MB"]
    assert len(mem) == 2 and (mem["peak_mem_mb"] > 1).all() and (mem["peak_mem_mb"] < 500).all()
    assert df["quick"].all()


def test_equivalence_quick_cnn_rows_all_pass():
    from experiments.equivalence import cases
    from experiments.mnist import equivalence_cnn as eq_cnn
    from experiments.mnist import trajectories

    df = pd.DataFrame(cases.rows(quick=True) + eq_cnn.rows(quick=True) + trajectories.cnn_rows(quick=True))
    assert {"conv", "maxpool", "avgpool", "flatten", "cnn"} <= set(df["component"])
    assert {"float64", "float32"} == set(df["dtype"])
    assert ((df["quantity"] == "trajectory") & (df["component"] == "cnn")).sum() >= 1
    assert df["quantity"].str.endswith("vs central difference").any()
    failed = df[~df["passed"].astype(bool)]
    assert failed.empty, failed[["component", "case", "dtype", "quantity", "max_abs_err", "tolerance"]].to_string()
