"""Every layer, loss and network case of the equivalence harness, four ways: ours, torch autograd, JAX
autograd (framework/jax/) and central differences (rows tagged by framework, jax_check.four_way).

The cases are the harness's own, read from their modules, so a case added there is checked here too:

    cases.py     the layer table (every Case line: layer_check.py's data, parameters, state and upstream
                 gradient; the JAX twin from framework/jax/layers.py JAX_TWINS beside layer_check.layer_torch),
                 the sign activation, the losses and the additive-margin softmax
    layers.py    running statistics over 50 batches, the small CNN with batch normalisation and dropout
    mlp.py       the study's network: x[L], s[l], x[l], delta[l], G[l], E_in
(whole CNNs on MNIST: experiments/mnist/jax_equivalence.py; the face CNN: experiments/faces/jax_twin.py)

Each *_quantities function returns jax_check.Quantities (ours, torch, jax, central) for one case, and `rows(quick)`
every row of the JAX columns of results/equivalence.csv.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import torch

from experiments.equivalence import cases, layers, mlp, names
from experiments.equivalence import layer_check as lc
from experiments.equivalence.check import central_difference, central_rows, run_central, run_ours, run_twin
from experiments.equivalence.jax_check import NEW_FRAMEWORKS, Quantities, four_way, run_jax, run_layer, tagged
from framework.jax import mlp as jmlp
from framework.jax import sequential as jseq
from framework.jax.tables import jax_activation, jax_e, jax_loss
from reference.activations import get_activation
from reference.losses import am_softmax, get_loss

# ---------------------------------------------------------------------------------------------
# cases.py: the layer table, the sign activation, the losses
# ---------------------------------------------------------------------------------------------

def layer_jax(case: lc.Case, x, params, state, dy, cache) -> dict:
    """layer_check.layer_torch's counterpart: the registry's JAX twin, the same {quantity: array}."""
    return run_layer(case.layer, params, state, x, dy, case.mode, cache)


def layer_quantities(case: lc.Case, dtype, central: bool = True) -> Quantities:
    data = lc.case_data(case, dtype)
    ours, cache = lc.layer_ours(case, *data)
    theirs = lc.layer_torch(case, *data[:4], cache)
    mine = layer_jax(case, *data[:4], cache)
    cd, scale = (lc.layer_central(case, *data) if central and case.central and np.dtype(dtype) == np.float64
                 else ({}, 0.0))
    return Quantities(ours, theirs, mine, cd, scale)


def case_rows(case: lc.Case, dtype, frameworks=NEW_FRAMEWORKS, central: bool = True) -> list[dict]:
    """layer_check.case_rows four ways: the pairs by layer_check.compared (its names and tolerances)."""
    q = layer_quantities(case, dtype, central)
    pairs = {"torch": (q.ours, q.torch), "jax": (q.ours, q.jax), "torch-vs-jax": (q.torch, q.jax)}
    rows = [r for fw in FRAMEWORK_ORDER if fw in frameworks for r in tagged(lc.compared(case, dtype, *pairs[fw]), fw)]
    new = names.quantity_names(case)
    for fw, side in (("torch", q.ours), ("jax", q.jax)):
        if q.central and fw in frameworks:
            rows += tagged(central_rows(case.component, case.name, lc.renamed(side, new), lc.renamed(q.central, new),
                                        q.central_scale), fw)
    return rows


FRAMEWORK_ORDER = ("torch", "jax", "torch-vs-jax")


def activation_quantities(name: str, dtype=np.float64, shape=(6, 7), seed: int = 0, central: bool = False):
    """cases.activation_rows' data (the activations no Sequential layer takes: sign)."""
    rng = np.random.default_rng(seed)
    s = lc.signals_with_kinks(rng, shape, dtype)
    up = rng.normal(size=shape).astype(dtype)
    act = get_activation(name)

    def fn(a):
        return act.theta(a["s"]), lambda dy: {"s": act.theta_prime(a["s"]) * dy}
    names_ = {"output": "theta", "s": "theta_prime*upstream"}
    arrays = {"s": s}
    cd, scale = run_central(fn, arrays, up, names_, ("s",)) if central and dtype == np.float64 else ({}, 0.0)
    return Quantities(run_ours(fn, arrays, up, names_),
                      run_twin(lambda t: cases.torch_activation(name)(t["s"]), arrays, up, names_),
                      run_jax(lambda a: jax_activation(name)(a["s"]), arrays, up, names_), cd, scale)


def loss_quantities(loss: str, dtype, N: int, C: int, scale: float, kind: str, eps: float, seed: int = 0,
                    L=None):
    """e_n (with a random upstream gradient), E_in and dE_in/d_input; L overrides the loss (the margin softmax)."""
    rng = np.random.default_rng(seed)
    if L is None:
        z = (rng.normal(size=(N, C)) * scale).astype(dtype)
        y = cases.targets(rng, N, C, kind, dtype)
        L = get_loss(loss, eps)
    else:  # cases.margin_rows' data: cosines in [-1, 1], one-hot targets
        z = rng.uniform(-1.0, 1.0, size=(N, C)).astype(dtype)
        y = np.eye(C, dtype=dtype)[rng.integers(0, C, N)]
    up = rng.normal(size=N).astype(dtype)
    one = get_activation("identity").theta_prime

    def fn(a):
        return L.e(a["s"], a["s"], y), lambda dy: {"s": dy[:, None] * L.delta(a["s"], a["s"], y, one)}
    names = {"output": "e_n", "s": "upstream*de_n/d_input"}
    arrays = {"s": z}
    yt, yj = torch.tensor(y), jnp.asarray(y)
    ours, theirs = run_ours(fn, arrays, up, names), run_twin(lambda t: cases.torch_e(L, t["s"], t["s"], yt),
                                                                arrays, up, names)
    mine = run_jax(lambda a: jax_e(L, a["s"], a["s"], yj), arrays, up, names)
    zt = torch.tensor(z, requires_grad=True)
    E_t = cases.torch_loss(L, zt, zt, yt)
    E_t.backward()
    E_j, g_j = jax.jit(jax.value_and_grad(lambda s: jax_loss(L, s, s, yj)))(jnp.asarray(z))
    ours.update({"E_in": np.array(np.mean(L.e(z, z, y))), "dE_in/d_input": L.delta(z, z, y, one) / N})
    theirs.update({"E_in": E_t.detach().numpy(), "dE_in/d_input": zt.grad.numpy()})
    mine.update({"E_in": np.asarray(E_j), "dE_in/d_input": np.asarray(g_j)})
    central = scale < 100 and dtype == np.float64
    cd, f_scale = run_central(fn, arrays, up, names, ("s",)) if central else ({}, 0.0)
    return Quantities(ours, theirs, mine, cd, f_scale)


def margin_quantities(scale: float, margin: float, dtype, N: int = 6, C: int = 7, seed: int = 0) -> Quantities:
    return loss_quantities("am_softmax", dtype, N, C, 1.0, "onehot", 0.0, seed, L=am_softmax(scale, margin))


def cases_rows(quick: bool = False, frameworks=NEW_FRAMEWORKS) -> list[dict]:
    picked = [c for c in cases.LAYER_CASES if c.quick or not quick]
    out = [r for dtype in lc.DTYPES for c in picked if dtype in c.dtypes for r in case_rows(c, dtype, frameworks)]
    for dtype in cases.DTYPES:
        for name, shape in cases.FUNCTION_ACTIVATIONS:
            out += four_way("activation", f"{name}_{'x'.join(map(str, shape))}",
                            activation_quantities(name, dtype, shape, central=name in cases.SMOOTH), dtype,
                            frameworks=frameworks)
        for loss, N, C, scale, kind, eps in cases.LOSS_CASES:
            case = f"N{N}_C{C}_scale{scale:g}" + ("" if kind == "onehot" else f"_{kind}") + (
                f"_ls{eps:g}" if eps else "")
            out += four_way(f"loss:{loss}", case, loss_quantities(loss, dtype, N, C, scale, kind, eps), dtype,
                            frameworks=frameworks)
        for s, m in cases.MARGINS[:1] if quick else cases.MARGINS:
            out += four_way("loss:am_softmax", f"N6_C7_s{s:g}_m{m:g}", margin_quantities(s, m, dtype), dtype,
                            frameworks=frameworks)
    return out


# ---------------------------------------------------------------------------------------------
# layers.py: running statistics, the small CNN with batch normalisation and dropout
# ---------------------------------------------------------------------------------------------

def running_stats_jax(layer, x_shape, steps: int = 50, dtype=np.float64, seed: int = 0) -> dict:
    """layers.running_stats_after's JAX side: the state and an eval-mode output after `steps` train passes."""
    from framework.jax.layers import jax_twin_of

    rng = np.random.default_rng(seed)
    params, state = lc.randomised_layer(layer, dtype, rng)
    twin = jax_twin_of(layer)
    built = twin.build(layer, params, state)
    st = built.state
    for _ in range(steps):
        x = rng.normal(rng.uniform(-2, 2), rng.uniform(0.5, 3), size=x_shape).astype(dtype)
        _, st = built.apply(built.params, st, jnp.asarray(x), True, None)
    x = rng.normal(size=x_shape).astype(dtype)
    y = built.apply(built.params, st, jnp.asarray(x), False, None)[0]
    return {**lc.state_quantities(twin.read_state(st)), "eval output": np.asarray(y)}


def model_quantities(dtype, train: bool, n: int = 6, seed: int = 0, central: bool = True) -> Quantities:
    """layers.model_rows' small_bn_cnn case: ours, torch and JAX (dropout masks shared), central differences."""
    from framework import cnn as tcnn

    model = layers.small_bn_cnn()
    params, state = layers.randomised_model(model, dtype, seed)
    X, labels = layers.teacher_data(n, seed=seed)
    X = X.astype(dtype)
    r, caches = model.forward_backward(X, labels, params, state, train=train, rng=np.random.default_rng(seed + 1))
    twin = tcnn.build_twin(model, params, state)
    twin.train(train)
    tcnn.share_randomness(twin, model, caches)
    theirs = layers.model_quantities(tcnn.loss_and_grads(twin, model, X, labels), model)
    jt = jseq.build_twin(model, params, state)
    mine = layers.model_quantities(jseq.loss_and_grads(jt, X, labels, train=train,
                                                       shared=jseq.share_randomness(jt, caches))[0], model)
    cd = {}
    if central and np.dtype(dtype) == np.float64:
        def f():
            rng = np.random.default_rng(seed + 1)
            return model.loss_and_grads(X, labels, params, state, train=train, rng=rng).loss
        cd = {f"grad {layer.name}.{k}": central_difference(f, p[k])
              for layer, p in zip(model.layers, params) for k in p}
    return Quantities(layers.model_quantities(r, model), theirs, mine, cd, abs(r.loss))


def layers_rows(quick: bool = False, frameworks=NEW_FRAMEWORKS) -> list[dict]:
    out = []
    for dtype in layers.DTYPES:
        for layer, shape in layers.RUNNING_CASES[:1] if quick else layers.RUNNING_CASES:
            ours, theirs = layers.running_stats_after(layer, shape, dtype=dtype)
            name = lc.Case(layer, shape, True).name + "_50steps"
            q = Quantities(ours, theirs, running_stats_jax(layer, shape, dtype=dtype), {})
            out += four_way(type(layer).__name__.lower(), name, q, dtype, frameworks=frameworks)
        for train in (True, False):
            case = f"small_bn_dropout_cnn_n6_{'train' if train else 'eval'}"
            out += four_way("cnn+batchnorm+dropout", case, model_quantities(dtype, train), dtype,
                            depth=len(layers.small_bn_cnn().layers), frameworks=frameworks)
    return out


# ---------------------------------------------------------------------------------------------
# mlp.py: the study's network
# ---------------------------------------------------------------------------------------------

def network_quantities(d, hidden, output, loss, N, dtype, seed) -> Quantities:
    from framework.mlp import MLP
    from framework.mlp import loss as torch_loss
    from reference.backprop import backward
    from reference.forward import forward
    from reference.gradient_descent import loss_value

    arch, W, x, y = mlp.network_case(d, hidden, output, loss, N, dtype, seed)
    x_L, cache = forward(arch, W, x)
    delta, G = backward(arch, W, cache, y)
    L = arch.L
    ours = {"E_in": np.array(loss_value(arch, cache.s[L], x_L, y)), "x[L]": x_L}
    model = MLP(arch, W)
    s_t, outs_t = model.signals(torch.tensor(x))
    E_t = torch_loss(arch, s_t[-1], outs_t[-1], torch.tensor(y))
    E_t.backward()
    theirs = {"E_in": E_t.detach().numpy(), "x[L]": outs_t[-1].detach().numpy()}
    for l in range(1, L + 1):
        ours[f"s[{l}]"], theirs[f"s[{l}]"] = cache.s[l], s_t[l].detach().numpy()
        if l < L:
            ours[f"x[{l}]"], theirs[f"x[{l}]"] = cache.x[l][:, 1:], outs_t[l].detach().numpy()
        ours[f"delta[{l}]"], theirs[f"delta[{l}]"] = delta[l], s_t[l].grad.numpy() * N
        lin = model.linears[l - 1]
        ours[f"G[{l}]"] = G[l]
        theirs[f"G[{l}]"] = np.concatenate([lin.bias.grad.numpy()[None], lin.weight.grad.numpy().T])
    return Quantities(ours, theirs, jmlp.quantities(arch, W, x, y), {})


def mlp_rows(quick: bool = False, frameworks=NEW_FRAMEWORKS) -> list[dict]:
    out = []
    for dtype in (np.float64, np.float32):
        for i, (d, h, o, loss, N) in enumerate(mlp.NETWORK_CASES):
            case = f"{'-'.join(map(str, d))}_{h}_{o}_{loss}_N{N}"
            q = network_quantities(d, h, o, loss, N, dtype, i)
            out += four_way(f"network:{loss}", case, q, dtype, depth=len(d) - 1, frameworks=frameworks)
    return out




def rows(quick: bool = False) -> list[dict]:
    """Every JAX row (frameworks jax and torch-vs-jax) of the core families, and the optimizer trajectories;
    the families add theirs through their kinds (experiments/mnist/jax_equivalence.py, faces/jax_twin.py)."""
    from experiments.equivalence import jax_trajectories

    return (cases_rows(quick) + mlp_rows(quick) + layers_rows(quick) + metric_rows(quick)
            + jax_trajectories.rows(quick))


# ---------------------------------------------------------------------------------------------
# metric_heads.py: ArcFace and the batch-hard triplet loss
# ---------------------------------------------------------------------------------------------

def metric_quantities(L, s: np.ndarray, y: np.ndarray, central: bool, seed: int) -> Quantities:
    """metric_heads.loss_rows' quantities: e_n with a random upstream gradient, E_in and its gradient."""
    from experiments.equivalence import metric_heads as mh

    up = np.random.default_rng(seed).normal(size=len(s)).astype(s.dtype)

    def fn(a):
        vjp = (lambda dy: mh.pairwise_vjp(L, a["s"], y, dy)) if L.pairwise else (
            lambda dy: dy[:, None] * L.delta(a["s"], a["s"], y, None))
        return L.e(a["s"], a["s"], y), lambda dy: {"s": vjp(dy)}
    names_ = {"output": "e_n", "s": "upstream*de_n/d_input"}
    arrays, yt, yj = {"s": s}, torch.tensor(y), jnp.asarray(y)
    ours = run_ours(fn, arrays, up, names_)
    theirs = run_twin(lambda t: mh.torch_e(L, t["s"], t["s"], yt), arrays, up, names_)
    mine = run_jax(lambda a: jax_e(L, a["s"], a["s"], yj), arrays, up, names_)
    st = torch.tensor(s, requires_grad=True)
    E_t = mh.torch_loss(L, st, st, yt)
    E_t.backward()
    E_j, g_j = jax.jit(jax.value_and_grad(lambda v: jax_loss(L, v, v, yj)))(jnp.asarray(s))
    ours.update({"E_in": np.array(np.mean(L.e(s, s, y))), "dE_in/d_input": L.delta(s, s, y, None) / len(s)})
    theirs.update({"E_in": E_t.detach().numpy(), "dE_in/d_input": st.grad.numpy()})
    mine.update({"E_in": np.asarray(E_j), "dE_in/d_input": np.asarray(g_j)})
    cd, scale = run_central(fn, arrays, up, names_, ("s",)) if central and s.dtype == np.float64 else ({}, 0.0)
    return Quantities(ours, theirs, mine, cd, scale)


def metric_rows(quick: bool = False, frameworks=NEW_FRAMEWORKS) -> list[dict]:
    """metric_heads.rows' cases, four ways (the same case names)."""
    from experiments.equivalence import metric_heads as mh
    from reference.losses import arcface_loss, triplet_loss

    take = (lambda c: c[:1]) if quick else (lambda c: c)
    out = []
    for dtype in mh.DTYPES:
        for edges, arc_cases in ((False, mh.ARC_CASES), (True, mh.ARC_EDGE_CASES)):
            for s, m, easy in take(arc_cases):
                cos, y = mh.arc_edges(m, dtype) if edges else mh.arc_cosines(np.random.default_rng(0), 6, 7, dtype)
                case = f"N{len(cos)}_C{cos.shape[1]}_s{s:g}_m{m:g}" + ("_easy" if easy else "") + (
                    "_edges" if edges else "")
                q = metric_quantities(arcface_loss(s, m, easy), cos, y, not edges, 1)
                out += four_way("loss:arcface", case, q, dtype, frameworks=frameworks)
        for kind, m in take(mh.TRIPLET_CASES):
            f, labels = mh.triplet_batch(kind, dtype, 0)
            q = metric_quantities(triplet_loss(m), f, labels, kind == "balanced", 1)
            out += four_way("loss:triplet", f"{kind}_N{len(f)}_d{f.shape[1]}_m{m:g}", q, dtype, frameworks=frameworks)
    return out
