"""The metric-learning heads: ArcFace's additive angular margin and the batch-hard triplet loss, three ways (our
backward, autograd of the torch twin, central differences) and on their edges (cosines at +-1, the threshold where
theta + m passes pi, ties in the mining), the person-balanced sampler, the face CNN with each head against its
twin, and the faces kind's settings (recorded runs keep their run_id)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from experiments.config import ConfigError
from experiments.equivalence import metric_heads as mh
from experiments.equivalence.check import central_difference
from experiments.faces import kind, models, sampling
from framework import cnn as tcnn
from framework.tables import TORCH_LOSSES, torch_e, torch_loss
from reference import arcface, triplet
from reference import sequential as seq
from reference.losses import am_softmax, arcface_loss, cross_entropy, triplet_loss


def test_every_row_passes_three_ways():
    rows = mh.rows()
    assert len(rows) == 85
    failed = [(r["component"], r["case"], r["dtype"], r["quantity"], r["max_abs_err"]) for r in rows if not r["passed"]]
    assert not failed
    assert all(r["rtol"] == 1e-10 for r in rows if r["dtype"] == "float64" and "central" not in r["quantity"])
    central = {(r["component"], r["case"]) for r in rows if "central" in r["quantity"]}
    assert {c for c, _ in central} == {"loss:arcface", "loss:triplet"} and len(central) == 5


# ---------------------------------------------------------------------------------------------------------------
# ArcFace
# ---------------------------------------------------------------------------------------------------------------

def test_arcface_logits_are_the_angle_plus_m_above_the_threshold_and_the_fallback_below():
    m, s = 0.5, 30.0
    t = math.cos(math.pi - m)
    c = np.array([0.9, 0.2, -0.5, t + 1e-9, t, t - 0.01, -1.0, 1.0])
    p, _ = arcface.phi(c, m, easy_margin=False)
    above = c > t
    np.testing.assert_allclose(p[above][:4], np.cos(np.arccos(c[above][:4]) + m), rtol=1e-13)  # not 1.0
    np.testing.assert_array_equal(p[~above], c[~above] - math.sin(math.pi - m) * m)  # t takes the fallback
    assert p[-1] == np.cos(np.arccos(1 - arcface.EPS) + m)  # the clamp at 1 - eps
    easy, _ = arcface.phi(c, m, easy_margin=True)
    np.testing.assert_array_equal(easy[c <= 0], c[c <= 0])
    y = np.eye(3)[[2, 0]]
    cos = np.array([[0.1, -0.3, 0.6], [0.4, 0.5, -0.2]])
    z = s * np.where(y == 1, np.cos(np.arccos(cos) + m), cos)
    np.testing.assert_allclose(arcface_loss(s, m).e(cos, cos, y), cross_entropy(z, y), rtol=1e-14)


def test_arcface_with_margin_0_is_the_scaled_softmax_of_cosface_with_margin_0():
    rng = np.random.default_rng(4)
    cos, y = rng.uniform(-0.99, 0.99, size=(5, 6)), np.eye(6)[rng.integers(0, 6, 5)]
    a, c = arcface_loss(16.0, 0.0), am_softmax(16.0, 0.0)
    np.testing.assert_allclose(a.e(cos, cos, y), c.e(cos, cos, y), rtol=1e-14)
    np.testing.assert_allclose(a.delta(cos, cos, y, None), c.delta(cos, cos, y, None), rtol=1e-12, atol=1e-15)


def central_delta(L, cos, y, up):
    """Central differences of sum_n up_n e_n with respect to the cosines."""
    a = cos.copy()
    return central_difference(lambda: float(np.sum(up * L.e(a, a, y))), a)


@pytest.mark.parametrize("easy", [False, True])
def test_arcface_gradient_on_both_sides_of_the_threshold_against_central_differences(easy):
    """theta + m short of and past pi (cos_y = t +- 0.05), and cos_y near +-1 inside the clamp."""
    m = 0.5
    t = arcface.threshold(m, easy)
    true = np.array([t + 0.05, t - 0.05, 1 - 1e-4, -1 + 1e-4, 0.3])
    cos = np.random.default_rng(1).uniform(-0.9, 0.9, size=(5, 4))
    cos[np.arange(5), np.arange(5) % 4] = true
    y = np.eye(4)[np.arange(5) % 4]
    up = np.random.default_rng(2).normal(size=5)
    L = arcface_loss(30.0, m, easy)
    ours = up[:, None] * L.delta(cos, cos, y, None)
    np.testing.assert_allclose(ours, central_delta(L, cos, y, up), rtol=1e-6, atol=1e-6)


def test_arcface_derivative_at_cos_1_is_finite_and_torch_agrees():
    """The clamp makes phi flat beyond 1 - eps: phi' = 0 there and at the bound itself (torch.clamp's rule);
    just inside it, the largest slope sin(theta + m) / sqrt(1 - c^2) ~ 1 / sqrt(2 eps) sin(m)."""
    c = np.array([1.0, 1 - arcface.EPS, 1 - 2 * arcface.EPS, 1 + 1e-16, -1.0])
    _, cache = arcface.phi(c, 0.5, False)
    d = arcface.phi_prime(cache)
    assert np.all(np.isfinite(d)) and d[0] == d[1] == d[3] == 0 and d[4] == 1
    assert d[2] == pytest.approx(math.sin(math.acos(1 - 2 * arcface.EPS) + 0.5) / math.sqrt(1 - (1 - 2e-7) ** 2))
    ct = torch.tensor(c, requires_grad=True)
    y = torch.zeros(5, dtype=torch.long)
    L = arcface_loss(30.0, 0.5)
    torch_loss(L, ct[:, None].expand(5, 1), None, y).backward()  # one class: every row's cosine is its true one
    assert torch.isfinite(ct.grad).all()
    ours = L.delta(c[:, None], None, np.ones((5, 1)), None)[:, 0] / 5
    np.testing.assert_allclose(ours, ct.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_arcface_refusals():
    for s, m, what in ((0.0, 0.5, "scale s must be > 0"), (30.0, -0.1, r"margin m must be in \[0, pi\)"),
                       (30.0, 3.2, "got 3.2")):
        with pytest.raises(ValueError, match=what):
            arcface_loss(s, m)
    with pytest.raises(ValueError, match=r"cosines \(2, 3\) and targets \(2, 4\)"):
        arcface_loss().e(np.zeros((2, 3)), None, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="one-hot rows"):
        arcface_loss().e(np.zeros((2, 3)), None, np.zeros((2, 3)))


# ---------------------------------------------------------------------------------------------------------------
# Triplet loss, batch-hard
# ---------------------------------------------------------------------------------------------------------------

def test_batch_hard_picks_the_farthest_positive_and_nearest_negative_first_index_on_ties_as_torch():
    f, labels = mh.triplet_batch("ties", np.float64)
    D = triplet.squared_distances(f)
    p, q, valid = triplet.batch_hard(D, labels)
    assert D[0, 1] == D[0, 2] and p[0] == 1  # the tie between anchor 0's positives goes to the first
    assert D[0, 4] == D[0, 5] == D[0, 7] and q[0] == 4  # and between its nearest negatives too
    assert not valid[-1]  # the person with one image has no positive
    Dt = torch.tensor(D)
    lt = torch.tensor(labels)
    same = lt[:, None] == lt[None, :]
    pos = same & ~torch.eye(len(labels), dtype=torch.bool)
    assert np.array_equal(p[valid], torch.where(pos, Dt, -math.inf).argmax(dim=1).numpy()[valid])
    assert np.array_equal(q, torch.where(~same, Dt, math.inf).argmin(dim=1).numpy())
    e, _ = triplet.forward(f, labels, 0.2)
    h = D[np.arange(len(f)), p] - D[np.arange(len(f)), q] + 0.2
    np.testing.assert_array_equal(e, np.where(valid & (h > 0), h, 0.0))
    assert e[-1] == 0 and (e == 0).sum() >= 2 and (e > 0).sum() >= 2  # inactive anchors and active ones


def test_triplet_loss_is_zero_with_a_slack_margin_and_the_mean_of_the_hinges_otherwise():
    f, labels = mh.triplet_batch("balanced", np.float64)
    L = triplet_loss(0.2)
    assert L.pairwise and TORCH_LOSSES["triplet"]
    separated = np.repeat(np.eye(4), 3, axis=0)  # each person one corner of the sphere: D_ap = 0, D_an = 2
    np.testing.assert_array_equal(L.e(separated, None, labels), np.zeros(12))
    np.testing.assert_array_equal(L.delta(separated, None, labels, None), np.zeros((12, 4)))
    E, dE = seq.Sequential((), L).error(f, labels)  # labels 0..3 but embeddings of width 6: no one-hot involved
    ft = torch.tensor(f, requires_grad=True)
    Et = torch_loss(L, ft, ft, torch.tensor(labels))
    Et.backward()
    assert E == pytest.approx(Et.item(), rel=1e-12)
    np.testing.assert_allclose(dE, ft.grad.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(torch_e(L, ft, ft, torch.tensor(labels)).detach().numpy(), L.e(f, f, labels),
                               rtol=1e-12, atol=1e-15)


def test_triplet_refusals():
    with pytest.raises(ValueError, match="margin m must be >= 0, got -0.1"):
        triplet_loss(-0.1)
    with pytest.raises(ValueError, match=r"embeddings must be \(N, d\) with labels \(N,\), got \(3, 2\) and \(2,\)"):
        triplet.forward(np.zeros((3, 2)), np.zeros(2), 0.2)
    _, cache = triplet.forward(np.eye(3), np.array([0, 0, 1]), 0.2)
    with pytest.raises(ValueError, match=r"upstream gradient has shape \(2,\)"):
        triplet.backward(np.ones(2), cache)


# ---------------------------------------------------------------------------------------------------------------
# Person-balanced batches
# ---------------------------------------------------------------------------------------------------------------

def test_person_balanced_order_is_a_permutation_of_whole_groups_of_one_person():
    labels = np.repeat(np.arange(8), 10)[np.random.default_rng(0).permutation(80)]  # people scattered
    order = sampling.person_balanced_order(labels, 5, np.random.default_rng(1))
    assert np.array_equal(np.sort(order), np.arange(80))
    groups = labels[order].reshape(16, 5)
    assert np.all(groups == groups[:, :1])  # every group of 5 is one person
    batches = labels[order].reshape(4, 20)
    assert all(np.all(np.unique(b, return_counts=True)[1] % 5 == 0) for b in batches)  # 4 x 5 (or 2 x 5 + 10)
    again = sampling.order_function(labels, 5, 3)
    assert np.array_equal(again(2), sampling.order_function(labels, 5, 3)(2))  # a pure function of seed, epoch
    assert not np.array_equal(again(1), again(2))


def test_person_balanced_order_with_counts_not_divisible_and_refusal():
    labels = np.array([0, 0, 0, 1, 1, 2])
    order = sampling.person_balanced_order(labels, 2, np.random.default_rng(0))
    assert np.array_equal(np.sort(order), np.arange(6))
    blocks = [(person, len(list(g))) for person, g in itertools.groupby(labels[order])]
    assert blocks.count((1, 2)) == 1 and blocks.count((2, 1)) == 1  # whole groups: person 1's 2, person 2's 1
    assert sorted(n for person, n in blocks if person == 0) in ([1, 2], [3])  # person 0: a group of 2 and of 1
    with pytest.raises(ValueError, match="per_person must be >= 1, got 0"):
        sampling.person_balanced_order(labels, 0, np.random.default_rng(0))


# ---------------------------------------------------------------------------------------------------------------
# The face CNN with each head, and the kind
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("head", [arcface_loss(16.0, 0.4), arcface_loss(30.0, 0.5, True), triplet_loss(0.3)])
def test_face_cnn_with_the_head_against_its_twin(head):
    model = models.face_cnn((1, 12, 10), 5, (3,), hidden=6, dropout=0.0, head=head)
    assert type(model.layers[-1]) is (seq.L2Normalize if head.pairwise else seq.CosineDense)
    assert "relu_embed" not in [layer.name for layer in model.layers] and model.loss is head
    params, state = model.init(0, np.float64)
    rng = np.random.default_rng(1)
    x, labels = rng.normal(size=(8, 1, 12, 10)), np.repeat(np.arange(4), 2)
    out = model.loss_and_grads(x, labels, params, state, train=True)
    twin = tcnn.build_twin(model, params, state)
    s_L = twin(torch.tensor(x))
    E = torch_loss(head, s_L, s_L, torch.tensor(labels))
    E.backward()
    assert abs(out.loss - E.item()) <= 1e-12 * abs(E.item()) and out.loss > 0
    for ours, theirs in zip(out.grads, tcnn.twin_grads(twin, model)):
        for k in ours:
            np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-10, atol=1e-12)


def test_the_kind_keeps_recorded_configs_and_checks_the_new_heads():
    new = {"head", "images_per_person", *kind.HEAD_KEYS}  # settings added after the first runs
    softmax = kind.KIND.identity(kind.validate("t", {"task": "verify", "embed": 128}))
    cos = kind.KIND.identity(kind.validate("t", {"task": "verify", "embed": 128, "head": "cosface",
                                                 "cosface_scale": 16.0}))
    assert not new & set(softmax)
    assert new & set(cos) == {"head", "cosface_scale", "cosface_margin"}  # as the cosface runs recorded them
    arc = kind.validate("t", {"task": "verify", "embed": 8, "head": "arcface", "arcface_margin": 0.3})
    assert new & set(kind.KIND.identity(arc)) == {"head", "arcface_scale", "arcface_margin", "arcface_easy_margin"}
    L = kind.network(arc, (1, 28, 23), 32).loss
    assert (L.name, L.scale, L.margin, L.easy_margin) == ("arcface", 30.0, 0.3, False)
    tri = kind.validate("t", {"task": "verify", "embed": 8, "head": "triplet", "images_per_person": 5})
    assert tri["images_per_person"] == 5 and kind.network(tri, (1, 28, 23), 32).loss.margin == 0.2
    assert kind.KIND.identity(kind.validate("t", {**softmax, "images_per_person": 5}))["images_per_person"] == 5
    for run, what in (({"head": "triplet", "images_per_person": 5}, "head 'triplet' learns an embedding"),
                      ({"task": "verify", "head": "triplet"}, "needs images_per_person >= 2"),
                      ({"head": "arcface", "arcface_margin": 3.5}, "arcface_margin"),
                      ({"head": "arcface", "method": "eigenfaces", "task": "verify"}, "is the cnn's output layer")):
        with pytest.raises(ConfigError, match=what):
            kind.validate("t", run)


def test_person_balanced_order_is_what_training_uses():
    cfg = kind.validate("t", {"task": "verify", "head": "triplet", "images_per_person": 5})
    labels = np.repeat(np.arange(8), 10)
    order = kind.sample_order(cfg, 3, labels)(2)
    assert np.array_equal(order, sampling.person_balanced_order(labels, 5, np.random.default_rng([3, 1, 2])))
    plain = kind.sample_order(kind.validate("t", {"task": "verify"}), 3, labels)(2)
    assert np.array_equal(plain, kind.order_for(3, 2, 80))


def test_quick_verify_runs_of_both_heads_through_the_cli(tmp_path):
    """`run orl-faces --quick` of the two new verify variants into --out: rows with a verification EER."""
    import pandas as pd

    from experiments import cli

    argv = ["run", "orl-faces", "--quick", "--seeds", "0", "--variants", "verify-cnn-arcface", "verify-cnn-triplet",
            "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    rows = pd.read_csv(tmp_path / "orl_faces.csv").set_index("variant")
    assert list(rows["head"]) == ["arcface", "triplet"] and rows["quick"].all()
    assert rows["eer"].between(0, 0.5).all() and (rows["auc"] > 0.5).all()
    assert np.isfinite(rows["final_train_loss"]).all()
    ver = pd.read_csv(tmp_path / "orl_verification.csv")
    assert {"cnn-arcface", "cnn-triplet"} <= set(ver["method"])


def test_a_twin_run_whose_loss_has_no_torch_twin_is_refused(monkeypatch):
    import framework

    cfg = {"task": "twin", "head": "arcface"}
    assert kind.validate("t", cfg)["head"] == "arcface"
    # the kind reads the torch-free list of twin names (kept equal to TORCH_LOSSES by tests/test_user_errors.py)
    monkeypatch.setattr(framework, "LOSS_TWINS", tuple(n for n in framework.LOSS_TWINS if n != "arcface"))
    with pytest.raises(ConfigError, match="t: task twin with head 'arcface': its loss 'arcface' has no torch twin"):
        kind.validate("t", cfg)
    assert kind.validate("t", {**cfg, "task": "verify"})["head"] == "arcface"  # only the twin needs one


@pytest.mark.parametrize("head", [{"head": "cosface", "cosface_scale": 16.0, "cosface_margin": 0.2},
                                  {"head": "arcface", "arcface_scale": 30.0, "arcface_margin": 0.5},
                                  {"head": "triplet", "images_per_person": 5, "lr": 0.01}])
def test_the_twin_trains_on_the_heads_loss_in_lockstep(head):
    """A short float64 lockstep (first 10 people, 24 steps): the torch twin trains on the twin of the head's
    loss, so losses and weights agree after every step (the 200-step rows: experiments/faces/equivalence.py)."""
    cfg = {**kind.validate("t", {"task": "twin", "dtype": "float64", "channels": [4, 8], "embed": 8, **head}),
           "quick": True, "epochs": 8}
    ne, te, curve, worst = kind.lockstep(cfg, 0)
    assert ne.model.loss.name == {"cosface": "am_softmax", "arcface": "arcface", "triplet": "triplet"}[head["head"]]
    assert worst <= 1e-8 and len(curve) == 8
    for c in curve:
        assert c["numpy_loss"] == pytest.approx(c["torch_loss"], rel=1e-10)
    assert curve[-1]["numpy_loss"] < curve[0]["numpy_loss"]
    assert np.isnan(curve[-1]["numpy_test_acc"]) == (head["head"] == "triplet")  # an embedding has no accuracy


def test_trajectory_rows_one_per_head_the_softmax_case_as_recorded():
    """The softmax row keeps the case of results/equivalence.csv (a committed table never shrinks); each head's row
    names its settings."""
    import pandas as pd

    from experiments.faces import equivalence as fe
    from experiments.provenance import ROOT

    committed = set(pd.read_csv(ROOT / "results" / "equivalence.csv", usecols=["case"])["case"])
    assert fe.case_name("softmax", 200, 20, False) in committed
    assert list(fe.HEADS) == ["softmax", "cosface", "arcface", "triplet"]
    assert "head=arcface arcface_scale=30.0 arcface_margin=0.5" in fe.case_name("arcface", 200, 20, False)
    assert "images_per_person" not in fe.case_name("cosface", 200, 20, False)
    assert fe.config("triplet", 20)["images_per_person"] == 5 and fe.config("triplet", 20)["lr"] == 0.01
