"""The report: summary statistics, verdicts, context rows, the Markdown table and the README splice,
computed from small synthetic result tables (no training)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments import report

BASE = {"hidden": "tanh", "output": "tanh", "loss": "squared_error", "targets": "onehot", "init": "lecun_normal",
        "init_gain": 1.0, "input_scaling": "unit", "shuffle": True, "epochs": 100, "impl": "numpy", "quick": False,
        "status": "ok", "commit": "abc123", "numpy_version": "2.4.6", "torch_version": "2.14.1"}


def runs(tmp_path, variant: str, finals: list, curve_tail: list | None = None, **changed) -> list:
    rows = []
    for seed, acc in enumerate(finals):
        curve = tmp_path / f"{variant}__{seed}.csv"
        tail = curve_tail if curve_tail is not None else [acc]
        pd.DataFrame({"epoch": range(1, 21), "test_acc": [0.5] * (20 - len(tail)) + list(tail)}).to_csv(curve, index=False)
        rows.append({**BASE, **changed, "variant": variant, "seed": seed, "final_test_acc": acc, "best_test_acc": acc + 0.01,
                     "curve": curve.name})
    return rows


@pytest.fixture
def table(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "ROOT", tmp_path)
    rows = (runs(tmp_path, "base", [0.11, 0.10, 0.12])
            + runs(tmp_path, "close", [0.9420, 0.9430, 0.9440], curve_tail=[0.93] * 5 + [0.95] * 5, output="sigmoid", loss_scale=1.0)
            + runs(tmp_path, "high", [0.98, 0.98, 0.98], hidden="sigmoid", loss_scale=1.0)
            + runs(tmp_path, "short", [0.90, 0.91], loss_scale=0.5)
            + [{**BASE, "variant": "torch-only", "impl": "torch", "seed": 0, "final_test_acc": 0.5, "best_test_acc": 0.5, "curve": "x"}])
    df = pd.DataFrame(rows)
    df.loc[df["variant"] == "base", "loss_scale"] = np.nan  # rows written before loss_scale existed
    return df


def test_summary_statistics_verdicts_and_order(table):
    s = report.summarise(table).set_index("configuration")
    assert "torch-only" not in s.index  # the summary is of the NumPy reference runs
    close = s.loc["close"]
    assert close["seeds"] == 3
    assert close["mean_test_acc"] == pytest.approx(0.9430)
    assert close["std_test_acc"] == pytest.approx(0.001)
    assert close["gap_to_study_points"] == pytest.approx(0.03)
    assert close["verdict"] == "within 0.3 points"
    assert close["mean_last10_test_acc"] == pytest.approx(0.94)
    assert (close["seed_list"], close["run_commits"], close["numpy_version"]) == ("0 1 2", "abc123", "2.4.6")
    assert s.loc["high", "verdict"] == "exceeds"
    assert s.loc["short", "verdict"] == "falls short"
    assert s.loc["base", "verdict"] == "diverged/stuck"
    assert s.loc["base", "loss_scale"] == 1.0  # filled with the default the run used
    # closest first, context rows last
    assert list(s.index[:4]) == ["close", "high", "short", "base"]
    assert all(c.startswith("[context]") for c in s.index[4:]) and len(s.index[4:]) == len(report.ANCHORS)


def test_a_diverged_seed_makes_the_configuration_diverged(table):
    table.loc[(table["variant"] == "close") & (table["seed"] == 1), "status"] = "diverged"
    s = report.summarise(table).set_index("configuration")
    assert s.loc["close", "verdict"] == "diverged/stuck"


def test_markdown_names_what_changed_and_counts_seeds_as_integers(table):
    md = report.markdown(report.summarise(table))
    lines = md.splitlines()
    close = next(l for l in lines if l.startswith("| close |"))
    assert "| output=sigmoid | 3 | 94.30% | 0.10 | +0.03 | within 0.3 points | 94.00% |" in close
    assert next(l for l in lines if l.startswith("| short |")).split(" | ")[1] == "loss_scale=0.5"
    assert next(l for l in lines if l.startswith("| base |")).split(" | ")[1] == "(base)"
    assert "| LeCun et al. 1998: 3-layer NN 300+100 hidden units, squared error | (published) | | 96.95% |" in md
    assert all(l.count("|") == lines[0].count("|") for l in lines)


def test_readme_splice_replaces_only_the_marked_table(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "ROOT", tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- reproduction-table:start -->\nold\n<!-- reproduction-table:end -->\noutro\n")
    report.splice_readme("| new |\n")
    assert readme.read_text() == "intro\n<!-- reproduction-table:start -->\n| new |\n<!-- reproduction-table:end -->\noutro\n"
    readme.write_text("no markers here\n")
    with pytest.raises(SystemExit, match="lacks the markers"):
        report.splice_readme("| new |\n")


@pytest.mark.parametrize("mean,expected", [(0.9457, "within 0.3 points"), (0.9397, "within 0.3 points"),
                                           (0.9458, "exceeds"), (0.9396, "falls short")])
def test_the_0_3_point_window_is_inclusive(mean, expected):
    assert report.verdict(mean, stuck=False) == expected


def test_standard_error_of_the_mean(table):
    s = report.summarise(table).set_index("configuration")
    assert s.loc["close", "sem_test_acc"] == pytest.approx(0.001 / np.sqrt(3))
