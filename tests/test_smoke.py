"""End-to-end smoke runs of the command line, in a copy of the project (so nothing is written into
this checkout): the shortened reproduction (grid + NumPy/PyTorch comparison), the benchmark and the
equivalence report in their --quick forms, and `report`, which must regenerate the committed summary
table from the committed result CSVs exactly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
COPIED = ["reference", "framework", "experiments", "pyproject.toml", "README.md", "results"]


@pytest.fixture(scope="module")
def project(tmp_path_factory, mnist_data):
    from experiments.mnist import default_cache_dir

    dst = tmp_path_factory.mktemp("project")
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__", "quick"))
        else:
            shutil.copy2(src, dst / name)
    env = {**os.environ, "MNIST_DIR": str(default_cache_dir()), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return dst, env


def cli(project, *args: str, timeout: int = 900) -> str:
    dst, env = project
    out = subprocess.run([sys.executable, "-m", "experiments", *args], cwd=dst, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"`python -m experiments {' '.join(args)}` failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout


def test_reproduce_quick_runs_every_configuration_and_the_comparison(project, seed_mlp):
    dst, _ = project
    cli(project, "reproduce", "--quick", "--workers", "1")
    rep = pd.read_csv(dst / "results" / "quick" / "reproduction.csv")
    numpy_rows = rep[rep["impl"] == "numpy"]
    assert len(numpy_rows) == sum(len(seed_mlp.seeds_of(v)) for v in seed_mlp.runs)
    assert rep["quick"].all() and (rep["epochs"] == 2).all() and (rep["n_train"] == 2000).all()
    assert rep["status"].isin(["ok", "diverged"]).all()
    # even 2 epochs on 2,000 images teach the configuration that matches the study something
    assert rep.loc[rep["variant"] == "output-sigmoid", "final_test_acc"].min() > 0.5
    comp = pd.read_csv(dst / "results" / "quick" / "comparison.csv")
    assert sorted(comp["impl"]) == ["numpy", "torch"] and comp["quick"].all()
    assert comp["final_test_acc"].between(0, 1).all() and (comp["max_weight_diff_numpy_vs_torch"] >= 0).all()
    # the committed results are untouched by a quick run
    for f in ("reproduction.csv", "comparison.csv"):
        assert (dst / "results" / f).read_bytes() == (ROOT / "results" / f).read_bytes()


def test_report_regenerates_the_committed_summary_exactly(project):
    dst, _ = project
    cli(project, "report")
    for f in ("reproduction_summary.csv", "reproduction_summary.md"):
        assert (dst / "results" / f).read_text() == (ROOT / "results" / f).read_text(), f"{f} is out of date: run `python -m experiments report`"

    def table(readme: Path) -> str:
        return readme.read_text().split("<!-- reproduction-table:start -->")[1].split("<!-- reproduction-table:end -->")[0]

    assert table(dst / "README.md") == table(ROOT / "README.md"), "README table is out of date: run `python -m experiments report`"


def test_bench_quick_writes_labelled_rows(project):
    dst, _ = project
    cli(project, "bench", "--quick")
    bench = pd.read_csv(dst / "results" / "quick" / "bench.csv")
    timed, memory = bench[bench["unit"] != "MB"], bench[bench["unit"] == "MB"]
    assert bench["quick"].all() and len(timed) and (timed["median_s"] > 0).all()
    assert len(memory) and (memory["peak_mem_mb"] > 0).all()
    assert {"numpy-readable", "numpy-inplace", "numpy-compiled", "torch-eager"} <= set(bench["impl"])
    assert {"float64", "float32"} <= set(bench["dtype"])


def test_equivalence_quick_passes_every_row(project):
    dst, _ = project
    cli(project, "equivalence", "--quick")
    eq = pd.read_csv(dst / "results" / "quick" / "equivalence.csv")
    assert len(eq) > 100 and eq["quick"].all()
    assert eq["passed"].astype(bool).all(), eq[~eq["passed"].astype(bool)].to_string()
