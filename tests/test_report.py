"""The seed-mlp report (experiments.mnist.reproduction): summary statistics, verdicts, context rows,
the Markdown table and the README splice, computed from small synthetic result tables (no training).
Runs with different settings (epochs, subsets) are never pooled into one configuration."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from experiments.mnist import reproduction as report
from experiments.outputs import Outputs

VARIED = ("hidden", "output", "loss_scale")
BASE = {"experiment": "seed-mlp", "hidden": "tanh", "output": "tanh", "loss": "squared_error", "targets": "onehot",
        "init": "lecun_normal", "init_gain": 1.0, "input_scaling": "unit", "shuffle": True, "loss_scale": 1.0,
        "epochs": 100, "train_limit": 0, "test_limit": 0, "impl": "numpy", "quick": False, "status": "ok",
        "commit": "abc123", "numpy_version": "2.4.6", "torch_version": "2.14.1"}


def runs(tmp_path, variant: str, finals: list, curve_tail: list | None = None, **changed) -> list:
    rows = []
    for seed, acc in enumerate(finals):
        curve = tmp_path / f"{variant}__{changed.get('epochs', 100)}__{seed}.csv"
        tail = curve_tail if curve_tail is not None else [acc]
        pd.DataFrame({"epoch": range(1, 21), "test_acc": [0.5] * (20 - len(tail)) + list(tail)}).to_csv(curve,
                                                                                                       index=False)
        rows.append({**BASE, **changed, "variant": variant, "seed": seed, "final_test_acc": acc,
                     "best_test_acc": acc + 0.01, "curve": curve.name})
    return rows


@pytest.fixture
def table(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "ROOT", tmp_path)
    rows = (runs(tmp_path, "base", [0.11, 0.10, 0.12])
            + runs(tmp_path, "close", [0.9420, 0.9430, 0.9440], curve_tail=[0.93] * 5 + [0.95] * 5, output="sigmoid")
            + runs(tmp_path, "high", [0.98, 0.98, 0.98], hidden="sigmoid")
            + runs(tmp_path, "short", [0.90, 0.91], loss_scale=0.5)
            + [{**BASE, "variant": "torch-only", "impl": "torch", "seed": 0, "final_test_acc": 0.5,
                "best_test_acc": 0.5, "curve": "x"}]
            + [{**BASE, "experiment": "other", "variant": "close", "seed": 7, "final_test_acc": 0.2,
                "best_test_acc": 0.2, "curve": "x"}])
    return pd.DataFrame(rows)


def test_summary_statistics_verdicts_and_order(table):
    s = report.summarise(table, VARIED).set_index("configuration")
    assert s.loc["torch-only", "impl"] == "torch"  # another implementation is another configuration
    close = s.loc["close"]
    assert close["seeds"] == 3  # the other experiment's 'close' run is not counted
    assert close["mean_test_acc"] == pytest.approx(0.9430)
    assert close["std_test_acc"] == pytest.approx(0.001)
    assert close["gap_to_study_points"] == pytest.approx(0.03)
    assert close["verdict"] == "within 0.3 points"
    assert close["mean_last10_test_acc"] == pytest.approx(0.94)
    assert (close["seed_list"], close["run_commits"], close["numpy_version"]) == ("0 1 2", "abc123", "2.4.6")
    assert (close["hidden"], close["output"], close["loss_scale"]) == ("tanh", "sigmoid", 1.0)
    assert s.loc["high", "verdict"] == "exceeds"
    assert s.loc["short", "verdict"] == "falls short"
    assert s.loc["base", "verdict"] == "diverged/stuck"
    # closest first, context rows last
    assert list(s.index[:5]) == ["close", "high", "short", "torch-only", "base"]  # nearest the study first
    assert all(c.startswith("[context]") for c in s.index[5:]) and len(s.index[5:]) == len(report.ANCHORS)


def test_a_diverged_seed_makes_the_configuration_diverged(table):
    table.loc[(table["variant"] == "close") & (table["seed"] == 1), "status"] = "diverged"
    s = report.summarise(table, VARIED).set_index("configuration")
    assert s.loc["close", "verdict"] == "diverged/stuck"


def test_runs_with_other_epochs_or_subsets_are_never_pooled(table, tmp_path):
    """A 3-epoch run of a variant beside its 100-epoch runs is its own configuration (the 3 seeds of 100
    epochs keep their mean), and so is a run on a training subset."""
    extra = pd.DataFrame(runs(tmp_path, "close", [0.80], output="sigmoid", epochs=3)
                         + runs(tmp_path, "high", [0.70], hidden="sigmoid", train_limit=2000))
    s = report.summarise(pd.concat([table, extra], ignore_index=True), VARIED).set_index("configuration")
    full, short = s.loc["close (epochs=100)"], s.loc["close (epochs=3)"]
    assert (full["seeds"], full["epochs"], full["mean_test_acc"]) == (3, 100, pytest.approx(0.9430))
    assert (short["seeds"], short["epochs"], short["mean_test_acc"]) == (1, 3, pytest.approx(0.80))
    assert short["verdict"] == "not comparable (3 epochs; the study's 100)"  # no verdict against the 100-epoch target
    assert s.loc["high (train_limit=0)", "mean_test_acc"] == pytest.approx(0.98)
    assert s.loc["high (train_limit=2000)", "mean_test_acc"] == pytest.approx(0.70)
    assert "close" not in s.index and "high" not in s.index
    assert s.loc["short", "seeds"] == 2  # variants with one setting keep their plain name


def test_a_variant_whose_setting_changed_between_runs_is_two_configurations(tmp_path, monkeypatch):
    """A user's variant my-trial run with lr 0.05, then edited to lr 0.2 and run again: two rows, never one
    pooled 'my-trial' of both; 'changed from base' is read against the declared base even when the
    folder has no base run."""
    monkeypatch.setattr(report, "ROOT", tmp_path)
    df = pd.DataFrame(runs(tmp_path, "my-trial", [0.9513], output="sigmoid", epochs=1, lr=0.05)
                      + runs(tmp_path, "my-trial", [0.6328], output="sigmoid", epochs=1, lr=0.2))
    s = report.summarise(df, VARIED, keys=("impl", "epochs", "lr", "output")).set_index("configuration")
    assert sorted(s.index[:2]) == ["my-trial (lr=0.05)", "my-trial (lr=0.2)"]
    assert s.loc["my-trial (lr=0.05)", "seed_list"] == "0" and s.loc["my-trial (lr=0.2)", "mean_test_acc"] == 0.6328
    md = report.markdown(s.reset_index(), VARIED, base={"hidden": "tanh", "output": "tanh", "loss_scale": 1.0})
    assert "| my-trial (lr=0.2) | output=sigmoid | 1 |" in md


def test_markdown_names_what_changed_and_counts_seeds_as_integers(table):
    md = report.markdown(report.summarise(table, VARIED), VARIED)
    lines = md.splitlines()
    close = next(line for line in lines if line.startswith("| close |"))
    assert "| output=sigmoid | 3 | 94.30% | 0.10 | +0.03 | within 0.3 points | 94.00% |" in close
    assert next(line for line in lines if line.startswith("| short |")).split(" | ")[1] == "loss_scale=0.5"
    assert next(line for line in lines if line.startswith("| base |")).split(" | ")[1] == "(base)"
    assert "| LeCun et al. 1998: 3-layer NN 300+100 hidden units, squared error | (published) | | 96.95% |" in md
    assert all(line.count("|") == lines[0].count("|") for line in lines)


def test_readme_splice_replaces_only_the_marked_table(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "ROOT", tmp_path)
    readme = tmp_path / report.DOC
    readme.parent.mkdir()
    readme.write_text("intro\n<!-- reproduction-table:start -->\nold\n<!-- reproduction-table:end -->\noutro\n")
    report.splice_readme("| new |\n")
    assert readme.read_text() == ("intro\n<!-- reproduction-table:start -->\n| new |\n"
                                  "<!-- reproduction-table:end -->\noutro\n")
    readme.write_text("no markers here\n")
    with pytest.raises(SystemExit, match="lacks the markers"):
        report.splice_readme("| new |\n")


def test_the_report_of_an_output_folder_never_touches_the_readme(table, tmp_path, monkeypatch):
    """report(exp, out) writes the summary (CSV, Markdown, plot) into out.root; only the official
    results splice the README table."""
    exp = SimpleNamespace(name="seed-mlp", table="reproduction", varied=VARIED,
                          kind=SimpleNamespace(run_keys=("epochs", "train_limit", "test_limit", *VARIED)),
                          runs={"base": {k: BASE[k] for k in VARIED}})
    out = Outputs(tmp_path / "out", official=False)
    out.root.mkdir()
    table.to_csv(out.table("reproduction"), index=False)
    spliced = []
    monkeypatch.setattr(report, "splice_readme", spliced.append)
    summary = report.report(exp, out)
    assert spliced == []
    assert sorted(p.name for p in out.root.iterdir()) == ["reproduction.csv", "reproduction_curves.png",
                                                          "reproduction_summary.csv", "reproduction_summary.md"]
    pd.testing.assert_frame_equal(pd.read_csv(out.root / "reproduction_summary.csv"),
                                  pd.read_csv(io.StringIO(summary.to_csv(index=False))))
    base = exp.runs["base"]
    assert (out.root / "reproduction_summary.md").read_text() == report.markdown(summary, VARIED, base)
    official = Outputs(out.root, official=True)
    monkeypatch.setattr(report, "declared_rows", lambda exp, df, official: df)  # no real plan for this fake
    report.report(exp, official)
    assert spliced == [report.markdown(summary, VARIED, base)]


@pytest.mark.parametrize("mean,expected", [(0.9457, "within 0.3 points"), (0.9397, "within 0.3 points"),
                                           (0.9458, "exceeds"), (0.9396, "falls short")])
def test_the_0_3_point_window_is_inclusive(mean, expected):
    assert report.verdict(mean, stuck=False) == expected


def test_standard_error_of_the_mean(table):
    s = report.summarise(table, VARIED).set_index("configuration")
    assert s.loc["close", "sem_test_acc"] == pytest.approx(0.001 / np.sqrt(3))
