"""experiments/faces: splits, augmentation, baselines, metrics, the face networks, the engines (resume, twin)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import Stopped

from experiments.config import ConfigError
from experiments.engines.sequential import ImageData
from experiments.faces import baselines, images, kind, metrics, models, splits
from experiments.faces.engine import TorchTwinFaces, differences, lockstep_epoch

LABELS = np.repeat(np.arange(40), 10)


@pytest.mark.parametrize("split, seed", [("first5", 0), ("random", 0), ("random", 7)])
def test_identification_split_partitions_each_person_5_5(split, seed):
    train, test = splits.identification(LABELS, split, seed)
    assert len(train) == len(test) == 200
    assert set(train).isdisjoint(test) and set(train) | set(test) == set(range(400))
    assert np.all(np.bincount(LABELS[train]) == 5) and np.all(np.bincount(LABELS[test]) == 5)


def test_splits_first5_fixed_random_seeded():
    train, test = splits.identification(LABELS, "first5", 3)
    assert list(train[:5]) == [0, 1, 2, 3, 4] and list(test[:5]) == [5, 6, 7, 8, 9]
    a, b = splits.identification(LABELS, "random", 1), splits.identification(LABELS, "random", 1)
    c = splits.identification(LABELS, "random", 2)
    assert np.array_equal(a[0], b[0]) and not np.array_equal(a[0], c[0])


def test_first_k_is_a_nested_subset_of_the_split():
    train, _ = splits.identification(LABELS, "random", 4)
    k2, k3 = splits.first_k(train, LABELS, 2), splits.first_k(train, LABELS, 3)
    assert np.all(np.bincount(LABELS[k2]) == 2) and set(k2) < set(k3) < set(train)
    with pytest.raises(ValueError, match="k = 6"):
        splits.first_k(train, LABELS, 6)


def test_verification_folds_hold_out_people():
    seen = set()
    for fold in range(5):
        train, test = splits.verification(LABELS, fold)
        people = set(LABELS[test])
        assert len(people) == 8 and people.isdisjoint(LABELS[train]) and len(train) == 320
        assert people.isdisjoint(seen)
        seen |= people
    assert seen == set(range(40))
    assert list(splits.people_folds(40, 5)[0]) == list(np.random.default_rng(0).permutation(40)[:8])
    with pytest.raises(ValueError, match="fold"):
        splits.verification(LABELS, 5)


def test_downsample_is_the_block_mean():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (2, 9, 7)).astype(np.uint8)
    x = images.downsample(img, 2)
    assert x.shape == (2, 1, 4, 3)
    assert np.isclose(x[1, 0, 2, 1], img[1, 4:6, 2:4].mean() / 255)


def test_shift_flip_moves_and_mirrors_and_is_seeded():
    x = np.zeros((1, 1, 9, 8))
    x[0, 0, 4, 2] = 1.0
    assert np.array_equal(images.shift_flip(x, np.random.default_rng(0), 0, False), x)
    for seed in range(20):
        y = images.shift_flip(x, np.random.default_rng(seed), 2, True)
        r, c = np.argwhere(y[0, 0] == 1.0)[0]
        assert abs(r - 4) <= 2 and (abs(c - 2) <= 2 or abs(c - (7 - 2)) <= 2)
    batch = np.random.default_rng(1).random((6, 1, 9, 8))
    a = images.shift_flip(batch, np.random.default_rng(5), 3, True)
    b = images.shift_flip(batch, np.random.default_rng(5), 3, True)
    assert np.array_equal(a, b) and not np.array_equal(a, batch)
    mirrored = images.shift_flip(batch[:1], np.random.default_rng(3), 0, True)
    assert np.array_equal(mirrored, batch[:1]) or np.array_equal(mirrored, batch[:1, :, :, ::-1])


def test_rejection_curve():
    conf = np.array([0.9, 0.1, 0.8, 0.2, 0.7])
    correct = np.array([True, False, True, True, False])
    err = metrics.rejection_curve(conf, correct, np.array([0.0, 0.2, 0.4, 1.0]))
    assert np.allclose(err[:3], [2 / 5, 1 / 4, 1 / 3]) and np.isnan(err[3])


def test_verification_metrics():
    same = np.array([True, True, True, False, False, False, False])
    perfect = metrics.verification(np.array([0.9, 0.8, 0.7, 0.1, 0.2, 0.3, 0.0]), same)
    assert perfect["auc"] == 1.0 and perfect["eer"] == 0.0 and perfect["tar_at_far1"] == 1.0
    # one positive below one negative: the rates cross at 1/3 false rejects vs 1/4 false accepts, EER between
    m = metrics.verification(np.array([0.9, 0.8, 0.15, 0.1, 0.2, 0.05, 0.0]), same)
    assert m["auc"] == pytest.approx(11 / 12) and 1 / 4 <= m["eer"] <= 1 / 3 and m["pairs_same"] == 3
    emb = np.array([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0]])
    i, j, s, same = metrics.pair_scores(emb, np.array([0, 0, 1]))
    assert list(zip(i, j)) == [(0, 1), (0, 2), (1, 2)] and list(same) == [True, False, False]
    assert s[1] == pytest.approx(0.0) and s[0] > 0.99


def test_baselines_find_exact_matches_and_refuse_fisherfaces_at_k1():
    rng = np.random.default_rng(0)
    centres = rng.random((4, 1, 6, 5))
    x_train = np.concatenate([centres + 0.01 * rng.random(centres.shape) for _ in range(3)])
    y_train = np.tile(np.arange(4), 3)
    for method in baselines.METHODS:
        pred, conf, _ = baselines.fit_predict(method, x_train, y_train, centres, pca_components=5)
        assert list(pred) == [0, 1, 2, 3] and np.all((conf > 0) & (conf <= 1))
    pred, conf, _ = baselines.fit_predict("pixels", x_train, y_train, x_train[:2])
    assert conf == pytest.approx(1.0, abs=1e-6)  # sklearn's euclidean distances round an exact match to ~1e-8
    with pytest.raises(ValueError, match="more than one image per person"):
        baselines.pipeline("fisherfaces", 4, 4, 50)


def test_face_cnn_shapes():
    model = models.face_cnn((1, 28, 23), 40, (4, 6, 8), hidden=12)
    params, state = model.init(0, np.float64)
    s, _, _ = model.forward(np.zeros((3, 1, 28, 23)), params, state, train=False)
    assert s.shape == (3, 40)
    emb = models.embedding_model(model)
    assert emb.forward(np.zeros((3, 1, 28, 23)), params[:-1], state[:-1], train=False)[0].shape == (3, 12)
    with pytest.raises(ValueError, match="too small"):
        models.face_cnn((1, 4, 4), 40, (4, 4, 4))
    assert models.pixel_mlp((1, 4, 3), 5, (7,)).init(0, np.float64)[0][1]["W"].shape == (13, 7)


def tiny_engine(dtype="float64", seed=0, epochs=3, **over):
    cfg = kind.validate("test", {"channels": [3, 4], "epochs": epochs, "batch_size": 4, "dtype": dtype,
                                 "max_shift": 1, **over})
    rng = np.random.default_rng(9)
    x = rng.standard_normal((24, 1, 12, 10)).astype(dtype)
    y = np.arange(24) % 6
    data = ImageData(x[:16], y[:16], x[16:], y[16:])
    return cfg, kind.numpy_engine(cfg, seed, data)


def test_training_resumes_exactly(tmp_path, stop_after):
    from experiments.train import order_for, train

    def run(stop):
        cfg, engine = tiny_engine()
        kw = dict(run_id="r", label="t", epochs=3, batch_size=4, n_train=16, order_for=lambda e: order_for(0, e, 16),
                  checkpoint=tmp_path / f"{stop}.npz")
        if stop:
            stop_after(stop)
            with pytest.raises(Stopped):
                train(engine, **kw)
            cfg, engine = tiny_engine()
        result = train(engine, **kw)
        return engine.snapshot(), result

    (a, ra), (b, rb) = run(None), run(1)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert ra["final_train_loss"] == rb["final_train_loss"]


def test_twin_lockstep_float64_stays_equal():
    from experiments.train import order_for

    cfg, ne = tiny_engine(embed=5)
    te = TorchTwinFaces(ne)
    for epoch in (1, 2, 3):
        ln, lt, worst = lockstep_epoch(ne, te, order_for(0, epoch, 16), epoch)
        assert abs(ln - lt) <= 1e-12 * max(1.0, abs(ln)) and worst <= 1e-12  # float64, 12 steps: rounding only
    params, stats = differences(ne, te)
    assert params <= 1e-12 and stats <= 1e-12 and ne.accuracy() == te.accuracy()


def test_validate_refuses_impossible_runs():
    with pytest.raises(ConfigError, match="verify"):
        kind.validate("x", {"task": "verify", "method": "mlp"})
    with pytest.raises(ConfigError, match="k = 1"):
        kind.validate("x", {"method": "fisherfaces", "k": 1})
    with pytest.raises(ConfigError, match="twin"):
        kind.validate("x", {"task": "twin", "method": "pixels"})
    with pytest.raises(ConfigError, match="channels"):
        kind.validate("x", {"channels": []})
    with pytest.raises(ConfigError, match="unknown key"):
        kind.validate("x", {"chanels": [3]})
    with pytest.raises(ConfigError, match="mirror_embedding .* 'eigenfaces' has no network"):
        kind.validate("x", {"task": "verify", "method": "eigenfaces", "mirror_embedding": True})


@pytest.mark.parametrize("run, seed", [
    ({"method": "cnn"}, 0), ({"method": "mlp", "split": "first5"}, 0), ({"method": "eigenfaces", "k": 1}, 1),
    ({"method": "fisherfaces", "k": 2}, 1), ({"method": "pixels"}, 2),
    ({"task": "verify", "embed": 6, "mirror_embedding": True}, 1),
    ({"task": "verify", "embed": 6, "head": "cosface", "cosface_scale": 16.0, "cosface_margin": 0.2}, 2),
    ({"task": "verify", "method": "eigenfaces"}, 4), ({"task": "twin", "dtype": "float64"}, 0)])
def test_quick_runs_of_every_task_on_orl(tmp_path, run, seed):
    """Each task end to end on the real ORL faces, quick (first 10 people, 2 epochs), into a tmp folder."""
    import pandas as pd

    from experiments.outputs import Outputs
    from experiments.runner import RunSpec

    cfg = kind.quick(kind.validate("smoke", {"channels": [4, 8], **run}))
    out = Outputs(tmp_path)
    rows = kind.execute(RunSpec("orl-faces", "faces", "smoke", seed, cfg), out)
    assert len(rows) == (2 if cfg["task"] == "twin" else 1)
    if cfg["task"] == "identify":
        assert rows[0]["n_test"] == 50 and rows[0]["n_train"] == 10 * cfg["k"]
        pred = pd.read_csv(tmp_path / rows[0]["predictions"])
        assert len(pred) == 50 and rows[0]["accuracy"] == pytest.approx(np.mean(pred.label == pred.predicted))
    elif cfg["task"] == "verify":
        pairs = pd.read_csv(tmp_path / rows[0]["pairs"])
        assert len(pairs) == 20 * 19 // 2 and rows[0]["pairs_same"] == 2 * 45 and 0 <= rows[0]["eer"] <= 1
    else:
        assert rows[0]["max_weight_diff"] <= 1e-11 and rows[0]["accuracy"] == rows[1]["accuracy"]


def test_identification_with_mirror_embedding_sums_a_face_and_its_mirror_images_logits(tmp_path):
    """mirror_embedding in identification: the probabilities are the softmax of the summed logits of each face and
    its mirror image, so a face and its mirror image get the same answer; the run's predictions are those."""
    import pandas as pd

    from experiments.faces import identify
    from experiments.outputs import Outputs
    from experiments.runner import RunSpec

    cfg = kind.quick(kind.validate("identify", {"channels": [4, 8], "split": "first5", "mirror_embedding": True}))
    out = Outputs(tmp_path)
    spec = RunSpec("orl-faces", "faces", identify.VARIANT, 0, cfg)
    row = kind.execute(spec, out)[0]
    engine, _, _, _ = identify.load_model(out.checkpoints / f"{spec.run_id}.npz", cfg)
    x = engine.data.X_test
    mirrored = np.ascontiguousarray(x[..., ::-1])
    z = (engine.logits(x) + engine.logits(mirrored)).astype(np.float64)
    want = np.exp(z - z.max(axis=1, keepdims=True))
    p = engine.probabilities(x, mirror=True)
    np.testing.assert_allclose(p, want / want.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(p, engine.probabilities(mirrored, mirror=True))  # the same sum, the other order
    assert np.abs(p - engine.probabilities(x)).max() > 1e-3  # without the mirror the scores differ
    pred = pd.read_csv(tmp_path / row["predictions"])
    np.testing.assert_array_equal(pred["predicted"], np.argmax(p, axis=1))


def test_identify_a_held_out_face_written_as_png(tmp_path, capsys):
    """faces identify: a quick first5 model, a held-out ORL face saved as PNG (resized), top-5 and unknown."""
    from PIL import Image

    from experiments.data import load
    from experiments.faces import identify
    from experiments.outputs import Outputs
    from experiments.runner import RunSpec

    cfg = kind.quick(kind.validate("identify", {"channels": [4, 8], "split": "first5"}))
    out = Outputs(tmp_path)
    spec = RunSpec("orl-faces", "faces", identify.VARIANT, 0, cfg)
    kind.execute(spec, out)
    face = load("orl").images[7]  # person s1's 8th image: held out by the first-5 split
    Image.fromarray(face).resize((46, 56)).save(tmp_path / "face.png")
    engine, mean, std, _ = identify.load_model(out.checkpoints / f"{spec.run_id}.npz", cfg)
    ranked = identify.identify(identify.read_face(tmp_path / "face.png"), engine, mean, std, cfg)
    assert len(ranked) == 5 and [p for _, p in ranked] == sorted((p for _, p in ranked), reverse=True)
    assert all(1 <= person <= 10 for person, _ in ranked)  # the quick model knows the first 10 people
    assert identify.answer(ranked, 1.0).endswith("< threshold 100%)")
    assert f"answer: s{ranked[0][0]} " in identify.answer(ranked, 0.0)
    with pytest.raises(identify.FaceImageError, match="not an image"):
        (tmp_path / "bad.png").write_text("no image")
        identify.read_face(tmp_path / "bad.png")
    with pytest.raises(identify.FaceImageError, match="no such file"):
        identify.load_model(tmp_path / "missing.npz", cfg)


def test_bench_rows_time_both_implementations():
    from experiments.faces import bench

    rows = bench.rows(quick=True, repeats=1)
    assert [r["impl"] for r in rows] == ["numpy-reference", "torch", "numpy-reference"]
    assert all(r["median_s"] > 0 for r in rows[:2]) and rows[2]["peak_mem_mb"] > 0 and all(r["quick"] for r in rows)


def test_quick_grid_through_the_cli_with_its_report(tmp_path):
    """`run orl-faces --quick` of one variant per task into --out: rows, report tables and plots, results/ untouched."""
    import pandas as pd

    from experiments import cli
    from experiments.provenance import ROOT

    table = ROOT / "results" / "orl_faces.csv"
    before = table.stat().st_mtime if table.exists() else 0
    variants = ["base", "first5-cnn", "identify-eigenfaces", "verify-eigenfaces", "verify-cnn-cosface", "twin-float64"]
    argv = ["run", "orl-faces", "--quick", "--seeds", "0", "--variants", *variants, "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    rows = pd.read_csv(tmp_path / "orl_faces.csv")
    assert sorted(set(rows["variant"])) == sorted(variants) and rows["quick"].all() and len(rows) == 7
    for name in ("orl_summary.csv", "orl_verification.csv", "orl_rejection.csv", "orl_twin.csv", "orl_k.png",
                 "orl_roc.png", "orl_twin.png", "orl_montage.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert (table.stat().st_mtime if table.exists() else 0) == before


def test_the_summary_never_pools_runs_of_different_settings():
    """Two variants alike in task, method, split, k and resolution but not in standardise are two summary rows;
    a variant whose own runs differ in a setting is split and named by that setting; a run recorded before a
    setting existed (blank) and one at its frozen value are one configuration."""
    import pandas as pd

    from experiments.faces import report

    base = {"experiment": "orl-faces", "task": "identify", "method": "cnn", "split": "first5", "k": 5,
            "downsample": 4, "seed": 0, "commit": "c", "numpy_version": "n", "torch_version": "t", "train_seconds": 1.0}
    rows = pd.DataFrame([{**base, "variant": "first5-cnn", "standardise": float("nan"), "accuracy": 0.99},
                         {**base, "variant": "first5-cnn-levelled", "standardise": "image", "accuracy": 0.965},
                         {**base, "variant": "odd", "standardise": "dataset", "lr": 0.05, "accuracy": 0.9},
                         {**base, "variant": "odd", "standardise": "dataset", "lr": 0.1, "accuracy": 0.8},
                         {**base, "variant": "first5-cnn", "standardise": "dataset", "accuracy": 0.98}])
    s = report.summarise(rows).set_index("configuration")
    assert list(s.index) == ["first5-cnn", "first5-cnn-levelled", "odd (lr=0.05)", "odd (lr=0.1)"]
    assert list(s["standardise"]) == ["dataset", "image", "dataset", "dataset"]
    assert list(s["mean_accuracy"]) == [0.985, 0.965, 0.9, 0.8] and list(s["runs"]) == [2, 1, 1, 1]
