"""The agreement rule of `reproduce` (experiments/reproduce.py judge) on synthetic committed/new tables."""

from __future__ import annotations

import pandas as pd

from experiments.reproduce import judge

COMMITTED = {("c1", ""): [0.980, 0.985, 0.990, 0.975, 0.988]}  # sd ~ 0.0061


def runs(values, deterministic=False, bitwise=None):
    return pd.DataFrame({"variant": "v", "configuration": "c1", "impl": "", "deterministic": deterministic,
                         "new_acc": values, "bitwise_equal": bitwise if bitwise is not None else [False] * len(values)})


def verdict(table):
    return table["verdict"].tolist()


def test_a_reproduction_within_the_seed_spread_agrees():
    assert verdict(judge(runs([0.984, 0.979, 0.987]), COMMITTED, "acc")) == ["agrees"]


def test_a_drifted_mean_disagrees():
    t = judge(runs([0.972, 0.974, 0.973]), COMMITTED, "acc")
    assert verdict(t) == ["DISAGREES"] and t["difference"].iloc[0] < -t["bound"].iloc[0]


def test_one_run_far_outside_the_committed_range_disagrees_though_the_mean_is_close():
    # mean 0.9813, close to 0.9836, but 0.955 lies beyond min - 2 sd
    assert verdict(judge(runs([0.995, 0.994, 0.955]), COMMITTED, "acc")) == ["DISAGREES"]


def test_a_bitwise_path_disagrees_on_one_differing_bit():
    same = judge(runs([0.98, 0.985], deterministic=True, bitwise=[True, True]), COMMITTED, "acc")
    one_bit = judge(runs([0.98, 0.985], deterministic=True, bitwise=[True, False]), COMMITTED, "acc")
    assert verdict(same) == ["agrees"] and verdict(one_bit) == ["DISAGREES"]
    assert (one_bit["rule"] == "bitwise").all()


def test_a_configuration_of_one_committed_run_takes_the_pooled_spread():
    committed = {**COMMITTED, ("c2", ""): [0.95]}
    new = pd.concat([runs([0.984]), runs([0.951]).assign(configuration="c2")], ignore_index=True)
    t = judge(new, committed, "acc").set_index("configuration")
    assert pd.isna(t.loc["c2", "committed_sd"]) and t.loc["c2", "sd_used"] == t.loc["c1", "committed_sd"]
    assert t.loc["c2", "verdict"] == "agrees"
