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


def test_a_new_bench_run_replaces_the_table_and_archives_the_rows_it_replaces(tmp_path, monkeypatch):
    """bench regenerates results/bench.csv whole; the earlier run's rows move to archive/bench.csv, labelled."""
    import pandas as pd

    import experiments.bench as bench
    from experiments.bench import fast_cnn, layers
    from experiments.kinds import Kind

    calls = iter(range(100))
    row = {"benchmark": "b", "impl": "x", "dtype": "float64", "threads": 1, "repeats": 1}
    monkeypatch.setattr(layers, "rows", lambda quick, repeats: [{**row, "median_s": next(calls)}])
    monkeypatch.setattr(fast_cnn, "rows", lambda quick, repeats: [])
    monkeypatch.setattr(Kind, "bench_rows", lambda self, quick, repeats: [])
    monkeypatch.setattr(bench, "OUT", tmp_path / "bench.csv")
    bench.run_bench()
    bench.run_bench()
    assert pd.read_csv(tmp_path / "bench.csv")["median_s"].tolist() == [1]
    archived = pd.read_csv(tmp_path / "archive" / "bench.csv")
    assert archived["median_s"].tolist() == [0] and archived["archived_reason"].str.startswith("superseded").all()


def test_bench_rows_record_the_numerics_and_a_forced_blas_kernel(tmp_path, monkeypatch, capsys):
    """Every row says which CPU, BLAS and OpenBLAS kernel it measured, and whether OPENBLAS_CORETYPE forced it."""
    import pandas as pd

    import experiments.bench as bench
    from experiments.bench import fast_cnn, layers
    from experiments.kinds import Kind
    from experiments.provenance import numerics

    row = {"benchmark": "b", "impl": "x", "dtype": "float64", "threads": 1, "repeats": 1, "median_s": 1.0}
    monkeypatch.setattr(layers, "rows", lambda quick, repeats: [row])
    monkeypatch.setattr(fast_cnn, "rows", lambda quick, repeats: [])
    monkeypatch.setattr(Kind, "bench_rows", lambda self, quick, repeats: [])
    monkeypatch.setattr(bench, "OUT", tmp_path / "bench.csv")
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    bench.run_bench()
    got = pd.read_csv(tmp_path / "bench.csv").iloc[0]
    assert got["forced_kernel"] == "Haswell" and "OPENBLAS_CORETYPE=Haswell is set" in capsys.readouterr().out
    for k, v in numerics().items():
        assert str(got[k]) == str(v), k
    monkeypatch.delenv("OPENBLAS_CORETYPE")
    bench.run_bench()
    assert pd.isna(pd.read_csv(tmp_path / "bench.csv").iloc[0]["forced_kernel"])
    assert "OPENBLAS_CORETYPE" not in capsys.readouterr().out


def test_interleaved_counts_the_page_faults_of_fresh_memory():
    """A call that touches 64 MiB of new memory (above glibc's largest mmap threshold, so the OS maps fresh pages
    each time) faults for it on every call: at least once per page, 32 transparent huge pages of 2 MiB (measured
    here: 544 faults), up to 16,384 of 4 KiB; a call that allocates nothing does not fault."""
    import numpy as np

    from experiments.bench.fast_cnn import interleaved

    faults = {}
    interleaved({"fresh": lambda: np.ones(1 << 24, dtype=np.float32), "none": lambda: None}, 3, 2, faults)
    assert faults["fresh"] >= 32 and faults["none"] < 5
