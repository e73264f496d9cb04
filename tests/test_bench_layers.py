"""Smoke test of the batch-norm, dropout and Adam benchmark rows (experiments/bench/layers.py); not timed."""

from __future__ import annotations

from experiments.bench import layers


def test_rows_and_ratios():
    rows = layers.rows(quick=True, repeats=1)
    assert len(rows) == 6 and {r["impl"] for r in rows} == {"numpy-reference", "torch"}
    assert all(r["median_s"] > 0 and r["threads"] == 1 and r["dtype"] == "float32" for r in rows)
    ratios = layers.ratios(rows)
    assert [r["name"].split("(")[0].split()[0] for r in ratios] == ["batchnorm2d", "dropout", "adam"]
    for r in ratios:
        assert r["ratio"] == r["seconds_ref"] / r["seconds_torch"]
