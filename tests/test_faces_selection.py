"""Nested model selection and open-set identification on ORL: the validation splits never touch the test part,
the selection rule and its table, the open-set measures on a case computed by hand, the quick flow end to end."""

from __future__ import annotations

import dataclasses
import tomllib

import numpy as np
import pandas as pd
import pytest

from experiments.config import ConfigError, get_experiment
from experiments.faces import kind, metrics, selection, splits
from experiments.provenance import ROOT

LABELS = np.repeat(np.arange(40), 10)


@pytest.mark.parametrize("split, seed, k", [("random", s, 5) for s in range(10)] + [("random", 3, 3), ("first5", 0, 5)])
def test_identification_validation_is_carved_from_the_training_images(split, seed, k):
    train, test = splits.identification(LABELS, split, seed)
    train = splits.first_k(train, LABELS, k)
    fit, val = splits.identification_validation(train, LABELS)
    assert set(val).isdisjoint(test) and set(fit).isdisjoint(test) and set(fit).isdisjoint(val)
    assert set(fit) | set(val) == set(train)
    assert np.all(np.bincount(LABELS[val]) == 1) and np.all(np.bincount(LABELS[fit]) == k - 1)
    # the rule: each person's last training image in the split's order validates; inner fold i: the (i+1)-th last
    assert list(val) == [train[LABELS[train] == p][-1] for p in range(40)]
    inner = [splits.identification_validation(train, LABELS, i)[1] for i in range(k)]
    assert all(list(v) == [train[LABELS[train] == p][-1 - i] for p in range(40)] for i, v in enumerate(inner))
    assert sorted(np.concatenate(inner)) == sorted(train)  # k inner folds: every training image validates once
    with pytest.raises(ValueError, match=f"inner fold {k} asked"):
        splits.identification_validation(train, LABELS, k)
    with pytest.raises(ValueError, match="at least 2"):
        splits.identification_validation(splits.first_k(train, LABELS, 1), LABELS)


def test_verification_validation_people_come_from_the_training_people():
    validated = []
    for fold in range(5):
        train, test = splits.verification(LABELS, fold)
        fit, val = splits.verification_validation(LABELS, fold)
        people = set(LABELS[val])
        assert len(people) == 8 and people <= set(LABELS[train]) and people.isdisjoint(LABELS[test])
        assert people.isdisjoint(LABELS[fit]) and len(set(LABELS[fit])) == 24 and set(fit) | set(val) == set(train)
        assert people == set(splits.people_folds(40, 5)[(fold + 1) % 5])
        validated += sorted(people)
    assert sorted(validated) == list(range(40))  # each person validates exactly one fold
    for fold in range(5):  # inner folds 0..3: each of the fold's 32 training people validates in exactly one
        train, test = splits.verification(LABELS, fold)
        inner = [splits.verification_validation(LABELS, fold, inner=i)[1] for i in range(4)]
        assert sorted(np.concatenate(inner)) == sorted(train)
        assert all(set(LABELS[v]) == set(splits.people_folds(40, 5)[(fold + 1 + i) % 5]) for i, v in enumerate(inner))
    with pytest.raises(ValueError, match="inner fold must be in 0..3"):
        splits.validation_people(40, 0, 5, inner=4)


def test_gallery_takes_each_persons_first_images_in_array_order():
    idx = np.array([19, 3, 10, 12, 11, 0, 1, 2, 4, 5, 6, 7, 8, 9, 13, 14, 15, 16, 17, 18])
    gallery, probes = splits.gallery_probes(idx, LABELS, 5)
    assert list(gallery) == [0, 1, 2, 3, 4, 10, 11, 12, 13, 14] and list(probes) == [5, 6, 7, 8, 9, 15, 16, 17, 18, 19]
    with pytest.raises(ValueError, match="leaves no probe"):
        splits.gallery_probes(np.arange(5), LABELS, 5)


def test_a_runs_protocol_picks_its_indices_and_the_kind_refuses_what_cannot_be():
    cfg = kind.validate("t", {"protocol": "validation"})
    fit, val = kind.identification_indices(cfg, LABELS, 4)
    _, test = splits.identification(LABELS, "random", 4)
    assert len(fit) == 160 and len(val) == 40 and set(val).isdisjoint(test)
    ver = kind.validate("t", {"task": "verify", "protocol": "validation", "openset": True})
    fit, val = kind.verification_indices(ver, LABELS, 2)
    assert len(fit) == 240 and len(val) == 80 and set(LABELS[val]).isdisjoint(LABELS[splits.verification(LABELS, 2)[1]])
    with pytest.raises(ConfigError, match="protocol validation"):
        kind.validate("t", {"task": "twin", "protocol": "validation"})
    with pytest.raises(ConfigError, match="k = 1"):
        kind.validate("t", {"k": 1, "protocol": "validation"})
    with pytest.raises(ConfigError, match="openset"):
        kind.validate("t", {"openset": True})
    with pytest.raises(ConfigError, match="protocol"):
        kind.validate("t", {"protocol": "train"})
    assert len(kind.identification_indices(kind.validate("t", {"protocol": "validation", "inner_fold": 4}), LABELS,
                                           4)[1]) == 40
    with pytest.raises(ConfigError, match="inner_fold 1 chooses a validation part, but protocol is 'test'"):
        kind.validate("t", {"inner_fold": 1})
    with pytest.raises(ConfigError, match="inner_fold must be in 0..4 for task 'identify'"):
        kind.validate("t", {"protocol": "validation", "inner_fold": 5})
    with pytest.raises(ConfigError, match="inner_fold must be in 0..3 for task 'verify'"):
        kind.validate("t", {"task": "verify", "protocol": "validation", "inner_fold": 4})


def test_the_new_settings_leave_every_recorded_run_id_as_it_was():
    from experiments.runner import plan

    plain = kind.validate("t", {})
    assert kind.KIND.identity(plain) == {k: v for k, v in plain.items() if k not in kind.FROZEN}
    declared = {s.run_id for s in plan(get_experiment("orl-faces")) if not s.config["selected_by"]}
    assert declared <= set(pd.read_csv(ROOT / "results" / "orl_faces.csv")["run_id"])


def test_open_set_measures_on_a_case_computed_by_hand():
    # gallery: person 0 along x, person 1 along y; cosines of the probes are exact
    gallery, labels = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 1])
    probes = np.array([[1.0, 0.0],     # person 0: 1.0 to person 0, right
                       [0.8, 0.6],     # person 1: 0.8 to person 0, wrong
                       [0.6, 0.8],     # person 1: 0.8 to person 1, right
                       [0.28, 0.96],   # unknown: 0.96 to person 1
                       [-0.6, 0.8]])   # unknown: 0.8 to person 1
    true, known = np.array([0, 1, 1, 7, 8]), np.array([True, True, True, False, False])
    best, match = metrics.best_matches(gallery, labels, probes)
    assert np.allclose(best, [1.0, 0.8, 0.8, 0.96, 0.8]) and list(match) == [0, 0, 1, 1, 1]
    correct = known & (match == true)
    assert metrics.open_set_rates(best, correct, known, 0.9) == (pytest.approx(1 / 3), pytest.approx(1 / 2))
    assert metrics.open_set_rates(best, correct, known, 0.5) == (pytest.approx(2 / 3), pytest.approx(1.0))
    assert metrics.open_set_rates(best, correct, known, 0.97) == (pytest.approx(1 / 3), pytest.approx(0.0))
    far, dir_ = metrics.dir_far_curve(best, correct, known)
    # thresholds: above all, then accepting >= 1.0, >= 0.96, >= 0.8
    assert np.allclose(far, [0, 0, 0.5, 1.0]) and np.allclose(dir_, [0, 1 / 3, 1 / 3, 2 / 3])
    assert metrics.dir_at_far(best, correct, known, 0.0) == pytest.approx(1 / 3)
    assert metrics.dir_at_far(best, correct, known, 0.5) == pytest.approx(1 / 3)
    assert metrics.dir_at_far(best, correct, known, 1.0) == pytest.approx(2 / 3)
    # calibration: of 10 unknown scores, FAR 10% lets at most 1 above the threshold, FAR 1% none
    unknown = np.array([0.1, 0.9, 0.3, 0.5, 0.2, 0.8, 0.4, 0.7, 0.6, 0.0])
    assert metrics.threshold_at_far(unknown, 0.10) == 0.8 and metrics.threshold_at_far(unknown, 0.01) == 0.9
    assert metrics.threshold_at_far(unknown, 0.25) == 0.7  # floor(2.5) = 2 above
    assert np.mean(unknown > metrics.threshold_at_far(unknown, 0.10)) == 0.1


def test_the_choice_is_the_best_score_and_a_tie_goes_to_the_first():
    assert selection.choose({"a": 0.9, "b": 0.95, "c": 0.95}, ["a", "b", "c"], True) == "b"
    assert selection.choose({"a": 0.05, "b": 0.05, "c": 0.04}, ["a", "b", "c"], False) == "c"
    assert selection.choose({"a": 0.05, "b": 0.05}, ["b", "a"], False) == "b"


def fake_selection_rows(exp) -> pd.DataFrame:
    """Validation scores by hand, one row per inner fold: identify-cnn: split 0 ties (base wins); split 1 goes to
    lr 0.1 on its mean (0.985 against 0.95) though base wins the first inner fold."""
    from experiments.runner import run_id

    inner = {("base", 1): [0.95] * 5, ("identify-cnn-lr0_1", 1): [0.925, 1.0, 1.0, 1.0, 1.0]}
    rows = []
    for v in exp.runs:
        for seed in exp.seeds_of(v)[:2]:
            for i, cfg in enumerate(exp.configs_of(v)):
                rows.append({"variant": v, "seed": seed, "task": cfg["task"], "inner_fold": cfg["inner_fold"],
                             "accuracy": inner.get((v, seed), [0.9] * 5)[i],
                             "eer": 0.1 - 0.01 * (v == "verify-cosface-s30-m0_35"),
                             "run_id": run_id("faces", seed, cfg), "commit": "c", "numpy_version": "n",
                             "torch_version": "t"})
    return pd.DataFrame(rows)


def test_selection_table_and_the_final_variants_it_implies():
    exp = get_experiment("orl-selection")
    table = selection.selection_table(exp, fake_selection_rows(exp), "x.csv")
    won = table[table["chosen"].astype(bool)].set_index(["group", "seed"])["candidate"]
    assert won[("identify-cnn", "0")] == "base" and won[("identify-cnn", "1")] == "identify-cnn-lr0_1"
    assert won[("verify-cnn", "0")] == won[("verify-cnn", "1")] == "verify-cosface-s30-m0_35"
    assert exp.cross == {"inner_fold": [0, 1, 2, 3, 4]}  # identification: each training image validates once
    folds = table[table["seed"] != "mean"].groupby("group")["inner_folds"].agg(set).to_dict()
    assert folds == {"identify-cnn": {5}, "identify-mlp": {5}, "verify-cnn": {4}, "verify-eigenfaces": {4}}
    lr = table[(table["candidate"] == "identify-cnn-lr0_1") & (table["seed"] == "1")].iloc[0]
    assert lr["inner_scores"] == "0.925;1;1;1;1" and lr["validation_score"] == pytest.approx(0.985)
    # a seed with one inner fold missing for one candidate is not chosen for
    rows = fake_selection_rows(exp)
    gone = selection.candidate_scores(exp, rows.set_index("run_id"), "base", 1, "accuracy")[2][0]
    partial = selection.selection_table(exp, rows[rows["run_id"] != gone], "x.csv")
    assert set(partial.loc[(partial["group"] == "identify-cnn") & (partial["seed"] != "mean"), "seed"]) == {"0"}
    means = table[table["seed"] == "mean"].set_index("candidate")
    assert means.loc["identify-cnn-lr0_1", "validation_score"] == pytest.approx((0.9 + 0.985) / 2)
    assert means.loc["base", "times_chosen"] == 1 and bool(means.loc["identify-cnn-lr0_1", "best_mean"])
    final = selection.final_variants(exp, table)
    cfg, seeds = final["nested-identify-cnn-lr0_1"]
    assert seeds == [1] and cfg["protocol"] == "test" and cfg["lr"] == 0.1
    assert cfg["selected_by"] == "orl-selection:identify-cnn:identify-cnn-lr0_1"
    assert final["nested-identify-cnn"][1] == [0]
    # the TOML the report prints declares exactly these runs on top of orl-faces' base
    faces = get_experiment("orl-faces")
    raw = tomllib.loads(selection.toml_of(final, faces.runs["base"]))["variants"]
    for name, (cfg, seeds) in final.items():
        over = dict(raw[name])
        assert over.pop("seeds") == seeds and kind.validate(name, {**faces.runs["base"], **over}) == cfg
    # an experiment declaring other runs is caught
    wrong = dataclasses.replace(faces, runs={**faces.runs, "nested-identify-cnn": {**cfg, "lr": 0.2}})
    assert any("nested-identify-cnn" in p for p in selection.check_declared(table, exp, wrong))


def test_the_declared_final_runs_are_the_committed_selection():
    path = ROOT / "results" / "orl_selection.csv"
    if not path.exists():
        pytest.skip("results/orl_selection.csv is not committed yet")
    table = pd.read_csv(path, dtype={"seed": str})
    assert selection.check_declared(table, get_experiment("orl-selection"), get_experiment("orl-faces")) == []


def test_quick_nested_selection_final_runs_and_open_set_through_the_cli(tmp_path):
    """orl-selection --quick through the CLI into a tmp folder, then the final runs it implies and the faces report
    (nested table, open-set table and plot); results/ untouched."""
    from experiments import cli
    from experiments.faces import report
    from experiments.outputs import Outputs
    from experiments.runner import RunSpec, run_grid

    table = ROOT / "results" / "orl_selection_runs.csv"
    before = table.stat().st_mtime if table.exists() else 0
    variants = ["base", "identify-cnn-mirror", "identify-cnn-lr0_1", "identify-cnn-wide-mirror", "identify-cnn-56x46",
                "verify-softmax", "verify-cosface-s16-m0_2",
                "verify-cosface-s30-m0_35", "verify-cosface-s30-m0_35-56x46", "verify-arcface-s30-m0_5",
                "verify-triplet-m0_2", "verify-arcface-s30-m0_5-56x46", "verify-triplet-m0_2-56x46",
                "verify-eigenfaces"]
    argv = ["run", "orl-selection", "--quick", "--seeds", "0", "1", "--variants", *variants, "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    chosen = pd.read_csv(tmp_path / "orl_selection.csv", dtype={"seed": str})
    assert set(chosen["group"]) == {"identify-cnn", "verify-cnn", "verify-eigenfaces"}
    assert (chosen[chosen["seed"] != "mean"].groupby(["group", "seed"])["chosen"].sum() == 1).all()
    exp = get_experiment("orl-selection")
    final = selection.final_variants(dataclasses.replace(exp, runs={v: exp.runs[v] for v in variants}), chosen)
    faces = get_experiment("orl-faces")
    faces = dataclasses.replace(faces, runs={v: kind.quick(c) for v, (c, _) in final.items()},
                                variant_seeds={v: tuple(s) for v, (_, s) in final.items()})
    specs = [RunSpec(faces.name, "faces", v, s, c) for v, c in faces.runs.items() for s in faces.seeds_of(v)]
    out = Outputs(tmp_path)
    _, failures = run_grid(specs, out, "orl_faces", progress=False)
    assert not failures
    written = report.report(faces, out)
    nested = written["nested"].set_index("group")
    assert nested.loc["identify-cnn", "runs"] == 2 and nested.loc["verify-cnn", "runs"] == 2
    opened = pd.read_csv(tmp_path / "orl_openset.csv", dtype={"fold": str})
    assert len(opened) == 2 * 3 * 2  # cnn and eigenfaces: folds 0, 1 and pooled, FAR 1% and 10%
    assert set(opened["method"]) == {"verify-cnn", "verify-eigenfaces"}  # one method however the folds chose
    assert opened[["test_far", "dir", "validation_far"]].apply(lambda c: c.between(0, 1)).all().all()
    folds = opened[opened["fold"] != "pooled"]
    assert (folds["validation_far"] <= folds["target_far"] + 1e-12).all()  # calibrated on the validation people
    assert (tmp_path / "orl_openset.png").stat().st_size > 0
    assert (table.stat().st_mtime if table.exists() else 0) == before


def test_quick_open_set_with_known_probes_never_trained_on(tmp_path):
    """orl-openset --quick through the CLI: the networks and PCA learn from the enrolled images only (n_train is
    the gallery), each final run is calibrated by its validation twin, and the table is written."""
    from experiments import cli
    from experiments.faces.openset import CALIBRATION_INNER_FOLDS

    variants = ["base", "eigenfaces-calibration", "cnn-cosface-s30-m0_35-56x46",
                "cnn-cosface-s30-m0_35-56x46-calibration"]
    argv = ["run", "orl-openset", "--quick", "--seeds", "1", "--variants", *variants, "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    runs = pd.read_csv(tmp_path / "orl_openset_runs.csv")
    assert (runs["n_train"] == runs["gallery_size"]).all() and (runs["probes_known"] == runs["gallery_size"]).all()
    table = pd.read_csv(tmp_path / "orl_openset_unseen.csv", dtype={"fold": str})
    assert len(table) == 2 * 2 * 2 and set(table["fold"]) == {"1", "pooled"}  # 2 methods, fold 1 and pooled, 2 FARs
    # each method's calibration: one validation run per inner fold
    ids = [i for joined in table.loc[table["fold"] == "1", "calibration_run_id"] for i in joined.split(";")]
    assert len(set(ids)) == 2 * len(CALIBRATION_INNER_FOLDS) and set(ids) <= set(runs["run_id"])
    with pytest.raises(ConfigError, match="openset_train"):
        kind.validate("t", {"task": "verify", "openset_train": "gallery"})


def test_open_set_finds_a_run_by_its_identity_not_its_variant_name():
    """A row recorded under a variant since renamed (orl-openset's cnn-folds1-4 -> cnn-cosface-56x46 ->
    cnn-cosface-s30-m0_35-56x46) is still the declared configuration whose run_id it carries; a row of no declared
    configuration is None."""
    from experiments.faces.openset import config_of
    from experiments.runner import run_id

    exp = get_experiment("orl-openset")
    cfg = exp.runs["cnn-cosface-s30-m0_35-56x46"]
    row = pd.Series({"variant": "cnn-folds1-4", "seed": 1, "quick": False, "run_id": run_id("faces", 1, cfg)})
    assert config_of(exp, row) == cfg
    assert config_of(exp, pd.Series({**row, "run_id": "0" * 16})) is None


def test_thresholds_are_calibrated_on_the_selections_inner_folds():
    """The open-set thresholds pool the validation runs of every inner fold the selection scored (24 validation
    people a fold); orl-openset's calibration variants run the same inner folds and its final runs none."""
    from experiments.faces.openset import CALIBRATION_INNER_FOLDS, calibration_run_ids
    from experiments.runner import run_id

    chosen = get_experiment("orl-selection")
    for v, cfg in chosen.runs.items():
        if cfg["task"] == "verify":
            assert [c["inner_fold"] for c in chosen.configs_of(v)] == list(CALIBRATION_INNER_FOLDS), v
    unseen = get_experiment("orl-openset")
    for v, cfg in unseen.runs.items():
        folds = [c["inner_fold"] for c in unseen.configs_of(v)]
        assert folds == (list(CALIBRATION_INNER_FOLDS) if cfg["protocol"] == "validation" else [0]), v
    final = get_experiment("orl-faces").runs["nested-verify-eigenfaces"]
    ids = calibration_run_ids(pd.Series({"seed": 3}), final)
    want = [run_id("faces", 3, c) for c in get_experiment("orl-selection").configs_of("verify-eigenfaces")]
    assert ids == want
