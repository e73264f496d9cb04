"""Smoke tests of the CNN experiments: cnn_mnist.run(quick=True), bench_cnn.rows(quick=True),
equivalence_cnn.rows(quick=True)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments import bench_cnn, cnn_mnist, equivalence_cnn


def test_batch_order_is_a_permutation_per_epoch_and_seeded():
    batches = list(cnn_mnist.epoch_batches(3, 10, 2, 4))
    assert [e for e, _ in batches] == [0, 0, 0, 1, 1, 1]
    assert [len(b) for _, b in batches] == [4, 4, 2] * 2
    for epoch in (0, 1):
        assert sorted(np.concatenate([b for e, b in batches if e == epoch])) == list(range(10))
    again = list(cnn_mnist.batch_order(3, 10, 2, 4))
    assert all(np.array_equal(a, b) for (_, a), b in zip(batches, again))
    assert cnn_mnist.learning_rate(0.1, 0.5, 2) == pytest.approx(0.025)


def test_pixel_standardisation():
    images = np.array([[[0, 255], [255, 0]]], dtype=np.uint8)
    mean, std = cnn_mnist.pixel_mean_std(images)
    assert (mean, std) == pytest.approx((0.5, 0.5))
    x = cnn_mnist.prepare_images(images, mean, std, np.float32)
    assert x.shape == (1, 1, 2, 2) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0, 0], [[-1, 1], [1, -1]])


def test_cnn_mnist_quick_run_writes_both_rows(tmp_path):
    out = tmp_path / "cnn.csv"
    df = cnn_mnist.run(seeds=(0,), quick=True, train_n=256, test_n=200, batch_size=32, out_csv=out, progress=False)
    written = pd.read_csv(out)
    assert list(written["impl"]) == ["numpy", "torch"]
    for col in ("impl", "seed", "epochs", "batch_size", "lr", "test_acc", "train_seconds",
                "max_weight_diff_vs_other", "command", "commit", "numpy_version", "torch_version", "date", "quick"):
        assert col in written.columns, col
    assert written["quick"].all() and (written["train_n"] == 256).all() and (written["test_n"] == 200).all()
    assert written["command"][0].startswith("python -m experiments run cnn-mnist")
    assert (written["test_acc"] > 0.3).all()  # 8 steps already beat chance (0.1)
    # float64, same weights, same order: the two implementations end (almost) bit-identical
    assert (written["max_weight_diff_vs_other"] < 1e-10).all()
    assert df["test_acc"][0] == df["test_acc"][1]


def test_cnn_mnist_rejects_unknown_impl():
    with pytest.raises(ValueError, match="impl must be numpy, torch or both"):
        cnn_mnist.run(impl="jax", out_csv=None)


def test_bench_cnn_quick_rows():
    rows = bench_cnn.rows(quick=True, repeats=1)
    df = pd.DataFrame(rows)
    for col in ("benchmark", "impl", "dtype", "threads", "median_s", "repeats"):
        assert col in df.columns
    conv = df[df["benchmark"].str.startswith("conv")]
    assert len(conv) == 4 and set(conv["impl"]) == {"numpy-reference", "torch"}
    assert (conv["median_s"] > 0).all() and (conv["threads"] == 1).all()
    mem = df[df["unit"] == "MB"]
    assert len(mem) == 2 and (mem["peak_mem_mb"] > 1).all() and (mem["peak_mem_mb"] < 500).all()


def test_equivalence_quick_rows_all_pass():
    rows = equivalence_cnn.rows(quick=True)
    df = pd.DataFrame(rows)
    assert {"conv", "maxpool", "avgpool", "flatten", "cnn"} <= set(df["component"])
    assert {"float64", "float32"} == set(df["dtype"])
    assert (df["quantity"] == "trajectory").sum() == 1
    assert df["quantity"].str.endswith("vs central difference").any()
    failed = df[~df["passed"]]
    assert failed.empty, failed[["component", "case", "dtype", "quantity", "max_abs_err", "tolerance"]].to_string()
