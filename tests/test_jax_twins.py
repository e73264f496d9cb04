"""The JAX twins (framework/jax/), four ways in float64: ours, torch autograd, JAX autograd and central
differences, over the equivalence harness's own cases (experiments/equivalence/), 1e-10 relative for layers;
the three 500-step optimizer trajectories within 1e-9 of both ours and torch; the registry is complete.

Rows come from experiments/equivalence/jax_check.four_way, the harness's function: a failing row names
its framework (jax: ours vs JAX and JAX vs central differences; torch-vs-jax: the two directly).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from experiments.equivalence import cases, layers, mlp
from experiments.equivalence import jax_cases as jc
from experiments.equivalence.jax_check import FRAMEWORKS, four_way
from framework.jax.layers import JAX_TWINS, jax_twin_of
from reference import sequential as seq

F64 = np.float64
ROOT = Path(__file__).resolve().parents[1]


def assert_rows(rows: list[dict], min_rows: int = 1):
    """Every row passed; each framework appears; rows report their differences."""
    assert len(rows) >= min_rows
    assert {r["framework"] for r in rows} >= {"jax", "torch-vs-jax"}
    failed = [(r["framework"], r["component"], r["case"], r["quantity"], r["max_abs_err"], r["tolerance"])
              for r in rows if not r["passed"]]
    assert not failed, failed


def check(component, case, q, dtype=F64, **kw):
    rows = four_way(component, case, q, dtype, frameworks=FRAMEWORKS, **kw)
    assert_rows(rows)
    return rows


# ---------------------------------------------------------------------------------------------
# The registry and the import rule
# ---------------------------------------------------------------------------------------------

def test_every_reference_layer_type_has_a_jax_twin():
    kinds = {v for v in vars(seq).values() if isinstance(v, type) and hasattr(v, "forward")
             and v not in (seq.Sequential, seq.Stateless, seq.BatchNorm)}
    assert kinds and kinds <= set(JAX_TWINS), kinds - set(JAX_TWINS)
    with pytest.raises(TypeError, match="no JAX twin registered for layer"):
        jax_twin_of(object())


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_jax_twins_never_import_torch_and_the_torch_twins_never_import_jax():
    for path in (ROOT / "framework" / "jax").glob("*.py"):
        assert not any(m.split(".")[0] == "torch" for m in imported_modules(path)), path
    for path in (ROOT / "framework").glob("*.py"):
        bad = {m for m in imported_modules(path)
               if m.split(".")[0] in ("jax", "optax") or m.startswith("framework.jax")}
        assert not bad, (path, bad)
    code = ("import sys, framework.jax.sequential, framework.jax.optim, framework.jax.mlp; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_float64_is_on():
    import jax.numpy as jnp

    assert jnp.asarray(np.ones(2)).dtype == jnp.float64


# ---------------------------------------------------------------------------------------------
# cases.py: the layer table (kinks: ReLU'(0) = 0, LeakyReLU's slope at 0; max-pooling's ties), sign, losses
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", cases.LAYER_CASES, ids=lambda c: f"{c.component}_{c.name}")
def test_layer_table_four_ways(case):
    rows = jc.case_rows(case, F64, FRAMEWORKS)
    assert_rows(rows)
    assert any(r["framework"] == "jax" and "central" in r["quantity"] for r in rows) == case.central
    if isinstance(case.layer, seq.BatchNorm) and case.layer.track_running_stats and case.train:
        assert {"state running_mean", "state running_var", "state num_batches_tracked"} <= {r["quantity"] for r in rows}


def test_sign_four_ways():
    check("activation", "sign", jc.activation_quantities("sign", F64))


@pytest.mark.parametrize("loss,N,C,scale,kind,eps", cases.LOSS_CASES)
def test_loss_four_ways(loss, N, C, scale, kind, eps):
    rows = check(f"loss:{loss}", "case", jc.loss_quantities(loss, F64, N, C, scale, kind, eps))
    assert {"e_n", "E_in", "dE_in/d_input"} <= {r["quantity"] for r in rows}


@pytest.mark.parametrize("s,m", cases.MARGINS)
def test_additive_margin_softmax_four_ways(s, m):
    check("loss:am_softmax", f"s{s}", jc.margin_quantities(s, m, F64))


# ---------------------------------------------------------------------------------------------
# layers.py: running statistics, the small CNN with batch normalisation and dropout
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("layer,shape", layers.RUNNING_CASES, ids=lambda v: getattr(v, "name", str(v)))
def test_running_statistics_after_50_batches(layer, shape):
    ours, theirs = layers.running_stats_after(layer, shape)
    q = jc.Quantities(ours, theirs, jc.running_stats_jax(layer, shape), {})
    check(type(layer).__name__.lower(), "50steps", q)


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_small_cnn_with_batchnorm_and_dropout_four_ways(train):
    q = jc.model_quantities(F64, train, central=train)
    rows = check("cnn+batchnorm+dropout", "n6", q, depth=len(layers.small_bn_cnn().layers))
    assert any("central" in r["quantity"] for r in rows) == train


# ---------------------------------------------------------------------------------------------
# mlp.py, cnn.py
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("i", range(len(mlp.NETWORK_CASES)))
def test_study_network_three_ways(i):
    d, h, o, loss, N = mlp.NETWORK_CASES[i]
    rows = check(f"network:{loss}", str(d), jc.network_quantities(d, h, o, loss, N, F64, i), depth=len(d) - 1)
    assert {"delta[1]", "G[1]", "E_in"} <= {r["quantity"] for r in rows}


def test_small_cnn_with_every_layer_kind_four_ways():
    from experiments.mnist.jax_equivalence import small_cnn_quantities

    rows = check("cnn", "small_all_layers_n3", small_cnn_quantities(F64))
    assert any(r["quantity"] == "input_grad vs central difference" and r["framework"] == "jax" for r in rows)


def test_a_wrong_jax_twin_fails_the_check():
    q = jc.activation_quantities("sign", F64)
    bad = jc.Quantities(q.ours, q.torch, {k: v + 1e-8 for k, v in q.jax.items()}, q.central, q.central_scale)
    rows = four_way("activation", "sign", bad, F64)
    assert not all(r["passed"] for r in rows if r["framework"] == "torch-vs-jax")
    assert all(r["passed"] for r in rows if r["framework"] == "torch")


# ---------------------------------------------------------------------------------------------
# Optimizers, schedules, trajectories
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", layers.TRAJECTORIES, ids=lambda c: c.name)
def test_500_step_trajectory_against_jax_and_torch_within_1e_9(case):
    from experiments.equivalence import jax_trajectories as jt

    res = jt.optimizer_trajectory(case, steps=500)
    rows = jt.trajectory_rows("cnn+batchnorm+dropout", case.name, res, jt.OPT_LABELS, layers.TRAJ_ATOL, 0)
    assert_rows(rows, min_rows=8)
    assert all(r["atol"] == 1e-9 and r["rtol"] == 0.0 for r in rows if r["quantity"].startswith("trajectory"))
    ours, _, mine = res["opt_state"]
    assert ours.shape == mine.shape and ours.shape[0] == 500 and np.abs(mine).max() > 0  # buffers compared, not empty
    assert res["params"][2].shape[0] == 501


def test_schedules_map_onto_optax_including_torchs_cosine_past_T_max():
    from framework.jax.optim import optax_schedule
    from reference import schedules

    for s in (schedules.Constant(), schedules.StepLR(7, 0.3), schedules.ExponentialLR(0.97),
              schedules.CosineAnnealingLR(10, 1e-3)):
        got = np.array([float(optax_schedule(s, 0.2)(t)) for t in range(35)])  # cosine: past 2 T_max and back
        np.testing.assert_allclose(got, [s(0.2, t) for t in range(35)], rtol=1e-12, atol=1e-15, err_msg=str(s))


def test_dampening_has_no_optax_twin_and_is_refused():
    from framework.jax.optim import optax_transformation
    from reference import optim

    with pytest.raises(ValueError, match="dampening"):
        optax_transformation(optim.SGD(momentum=0.9, dampening=0.5), 0.1)


def test_coupled_and_decoupled_decay_part_after_one_step():
    # Not vacuous: the optax twin of Adam with coupled decay against the reference's AdamW (and back) differ.
    from experiments.equivalence.jax_trajectories import JaxTrainer
    from reference import optim, schedules

    model = layers.small_bn_cnn()
    X, labels = layers.teacher_data(16)
    for ours_opt, their_opt in ((optim.Adam(weight_decay=0.1), optim.AdamW(weight_decay=0.1)),
                                (optim.AdamW(weight_decay=0.1), optim.Adam(weight_decay=0.1)),
                                (optim.AdamW(weight_decay=0.1), optim.AdamW(weight_decay=0.1))):
        params, state = model.init(0)
        trainer = JaxTrainer(model, params, state, their_opt, schedules.Constant(), 0.01)
        r, caches = model.forward_backward(X, labels, params, state, rng=np.random.default_rng(0))
        ours_opt.step(params, r.grads, ours_opt.init(params), 0.01)
        trainer.step(X, labels, caches)
        diff = max(np.abs(a[k] - b[k]).max() for a, b in zip(params, trainer.params()) for k in a)
        assert (diff < 1e-15) == (ours_opt == their_opt), (ours_opt, their_opt, diff)


def test_face_cnn_lockstep_with_both_twins():
    from experiments.engines.sequential import ImageData
    from experiments.faces import kind
    from experiments.faces.jax_twin import lockstep_engines
    from experiments.train import order_for

    cfg = kind.validate("test", {"channels": [3, 4], "embed": 5, "epochs": 3, "batch_size": 4, "dtype": "float64",
                                 "max_shift": 1})
    x = np.random.default_rng(9).standard_normal((24, 1, 12, 10))
    y = np.arange(24) % 6
    ne = kind.numpy_engine(cfg, 0, ImageData(x[:16], y[:16], x[16:], y[16:]))
    worst, steps = lockstep_engines(ne, 3, lambda e: order_for(0, e, 16))
    assert steps == 12 and set(worst) == {(q, p) for q in ("params", "state") for p in ("jax", "torch-vs-jax")}
    assert max(worst.values()) <= 1e-12, worst  # float64, 12 steps: rounding only


@pytest.mark.slow
def test_face_cnn_200_step_trajectories_on_orl_every_head():
    from experiments.faces import jax_twin

    rows = jax_twin.rows(quick=False)
    assert_rows(rows, min_rows=2)
    assert "200 steps" in rows[0]["case"] and {r["framework"] for r in rows} == {"jax", "torch-vs-jax"}
    softmax = [r for r in rows if r["component"] == "network:face-cnn"]
    assert len(softmax) == 2 and all(r["max_abs_err"] <= 1e-9 for r in softmax)  # the bound for this run


def test_arcface_and_triplet_four_ways():
    rows = jc.metric_rows(quick=False, frameworks=FRAMEWORKS)
    f64 = [r for r in rows if r["dtype"] == "float64"]
    assert_rows(f64)
    assert {"loss:arcface", "loss:triplet"} <= {r["component"] for r in f64}
    assert any(r["case"].endswith("_edges") for r in f64)  # cosines on ArcFace's kinks and bounds
