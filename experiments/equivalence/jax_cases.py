"""Every layer, loss and network case of the equivalence harness, four ways: ours, torch autograd, JAX
autograd (framework/jax/) and central differences (rows tagged by framework, jax_check.four_way).

The cases are the harness's own, read from their modules, so a case added there is checked here too:

    cases.py     activations, losses, convolution, max and average pooling, flatten
    layers.py    batch normalisation (train, eval, running statistics), dropout (the reference's mask handed
                 to the twins), and the small CNN with batch normalisation and dropout, train and eval
    cosface.py   L2 normalisation, the cosine layer, the additive-margin softmax
    mlp.py       the study's network: x[L], s[l], x[l], delta[l], G[l], E_in
(whole CNNs on MNIST: experiments/mnist/jax_equivalence.py; the face CNN: experiments/faces/jax_twin.py)

Each function returns jax_check.Quantities (ours, torch, jax, central) for one case, and `rows(quick)`
every row of the JAX columns of results/equivalence.csv.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import torch

from experiments.equivalence import cases, cosface, layers, mlp
from experiments.equivalence.check import central_difference, run_central, run_ours, run_twin
from experiments.equivalence.jax_check import NEW_FRAMEWORKS, Quantities, four_way, run_jax, run_layer
from framework.jax import mlp as jmlp
from framework.jax import sequential as jseq
from framework.jax.tables import jax_activation, jax_e, jax_loss
from reference import sequential as seq
from reference.activations import get_activation
from reference.losses import am_softmax, get_loss

CONV_KEYS = {"output": "output", "input_grad": "input_grad", "grad K": "kernel_grad", "grad b": "bias_grad"}


def renamed(d: dict, names: dict) -> dict:
    return {names.get(k, k): v for k, v in d.items()}


# ---------------------------------------------------------------------------------------------
# cases.py: activations, losses, convolution, pooling, flatten
# ---------------------------------------------------------------------------------------------

def activation_quantities(name: str, dtype=np.float64, shape=(6, 7), seed: int = 0, central: bool = True):
    rng = np.random.default_rng(seed)
    s = cases.signals_with_kinks(rng, shape, dtype)
    up = rng.normal(size=shape).astype(dtype)
    act = get_activation(name)

    def fn(a):
        return act.theta(a["s"]), lambda dy: {"s": act.theta_prime(a["s"]) * dy}
    names = {"output": "theta", "s": "theta_prime*upstream"}
    arrays = {"s": s}
    cd, scale = run_central(fn, arrays, up, names, ("s",)) if central and dtype == np.float64 else ({}, 0.0)
    return Quantities(run_ours(fn, arrays, up, names),
                      run_twin(lambda t: cases.torch_activation(name)(t["s"]), arrays, up, names),
                      run_jax(lambda a: jax_activation(name)(a["s"]), arrays, up, names), cd, scale)


def loss_quantities(loss: str, dtype, N: int, C: int, scale: float, kind: str, eps: float, seed: int = 0,
                    L=None):
    """e_n (with a random upstream gradient), E_in and dE_in/d_input; L overrides the loss (the margin softmax)."""
    rng = np.random.default_rng(seed)
    if L is None:
        z = (rng.normal(size=(N, C)) * scale).astype(dtype)
        y = cases.targets(rng, N, C, kind, dtype)
        L = get_loss(loss, eps)
    else:  # cosface.margin_rows' data: cosines in [-1, 1], one-hot targets
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


def conv_quantities(case: cases.ConvCase, dtype, seed: int = 0, central: bool = True):
    x, K, b, ds = cases.conv_data(case, dtype, seed)
    layer = seq.Conv2d(case.c_in, case.c_out, case.kernel, case.stride, case.padding)
    mine = renamed(run_layer(layer, {"K": K, "b": b}, {}, x, ds, True), CONV_KEYS)
    cd, scale = ((run_central(cases.conv_fn(case), {"x": x, "K": K, "b": b}, ds, cases.CONV_NAMES, ("x", "K", "b")))
                 if central and dtype == np.float64 else ({}, 0.0))
    return Quantities(cases.conv_ours(case, x, K, b, ds), cases.conv_torch(case, x, K, b, ds), mine, cd, scale)


def pool_layer(case: cases.PoolCase):
    if case.kind == "max":
        return seq.MaxPool2d(case.window, case.stride, case.padding)
    return seq.AvgPool2d(case.window, case.stride, case.padding, case.count_include_pad)


def pool_quantities(case: cases.PoolCase, dtype, seed: int = 0, central: bool = True):
    x, dy = cases.pool_data(case, dtype, seed)
    central = central and case.data != "ties" and dtype == np.float64  # ties: not differentiable there
    cd, scale = (run_central(cases.pool_fn(case), {"x": x}, dy, cases.POOL_NAMES, ("x",)) if central else ({}, 0.0))
    return Quantities(cases.pool_ours(case, x, dy), cases.pool_torch(case, x, dy),
                      run_layer(pool_layer(case), {}, {}, x, dy, True), cd, scale)


def flatten_quantities(shape, dtype, seed: int = 0):
    rng = np.random.default_rng(seed)
    N, C, H, W = shape
    x, dy = rng.normal(size=shape).astype(dtype), rng.normal(size=(N, C * H * W)).astype(dtype)
    layer = seq.Flatten()
    y, cache, _ = layer.forward(x, {}, {}, train=True)
    ours = {"output": y, "input_grad": layer.backward(dy, cache)[0]}
    theirs = run_twin(lambda t: cases.flatten_twin()(t["x"]), {"x": x}, dy, cases.POOL_NAMES)
    return Quantities(ours, theirs, run_layer(layer, {}, {}, x, dy, True), {})


def cases_rows(quick: bool = False, frameworks=NEW_FRAMEWORKS) -> list[dict]:
    out = []
    conv_cases = cases.CONV_CASES[:3] if quick else cases.CONV_CASES
    pool_cases = cases.POOL_CASES[::2] if quick else cases.POOL_CASES
    for dtype in cases.DTYPES:
        for name, shape in cases.ACTIVATION_CASES:
            out += four_way("activation", f"{name}_{'x'.join(map(str, shape))}",
                            activation_quantities(name, dtype, shape, central=name in cases.SMOOTH), dtype,
                            frameworks=frameworks)
        for loss, N, C, scale, kind, eps in cases.LOSS_CASES:
            case = f"N{N}_C{C}_scale{scale:g}" + ("" if kind == "onehot" else f"_{kind}") + (
                f"_ls{eps:g}" if eps else "")
            out += four_way(f"loss:{loss}", case, loss_quantities(loss, dtype, N, C, scale, kind, eps), dtype,
                            frameworks=frameworks)
        for i, c in enumerate(conv_cases):
            out += four_way("conv", c.name, conv_quantities(c, dtype, central=not quick or i == 0), dtype,
                            tols=cases.conv_tolerances(c, dtype), frameworks=frameworks)
        for i, c in enumerate(pool_cases):
            out += four_way(f"{c.kind}pool", c.name, pool_quantities(c, dtype, central=not quick or i == 0), dtype,
                            frameworks=frameworks)
        for shape in cases.FLATTEN_CASES:
            N, C, H, W = shape
            out += four_way("flatten", f"c{C}_n{N}_{H}x{W}", flatten_quantities(shape, dtype), dtype,
                            frameworks=frameworks)
    return out


# ---------------------------------------------------------------------------------------------
# layers.py: batch normalisation, dropout, running statistics, the small CNN with both
# ---------------------------------------------------------------------------------------------

def layer_quantities(case: layers.LayerCase, dtype, central: bool = True) -> Quantities:
    data = layers.case_data(case, dtype)
    ours, cache = layers.layer_ours(case, *data)
    theirs = layers.layer_torch(case, *data[:4], cache)
    x, params, state, dy, _ = data
    mine = run_layer(case.layer, params, state, x, dy, case.train, cache)
    cd, scale = (layers.layer_central(case, *data) if central and case.central and dtype == np.float64
                 else ({}, 0.0))
    return Quantities(ours, theirs, mine, cd, scale)


def running_stats_jax(layer, x_shape, steps: int = 50, dtype=np.float64, seed: int = 0) -> dict:
    """layers.running_stats_after's JAX side: the state and an eval-mode output after `steps` train passes."""
    from framework.jax.layers import jax_twin_of

    rng = np.random.default_rng(seed)
    params, state = layers.randomised_layer(layer, dtype, rng)
    twin = jax_twin_of(layer)
    built = twin.build(layer, params, state)
    st = built.state
    for _ in range(steps):
        x = rng.normal(rng.uniform(-2, 2), rng.uniform(0.5, 3), size=x_shape).astype(dtype)
        _, st = built.apply(built.params, st, jnp.asarray(x), True, None)
    x = rng.normal(size=x_shape).astype(dtype)
    y = built.apply(built.params, st, jnp.asarray(x), False, None)[0]
    return {**layers.state_quantities(twin.read_state(st)), "eval output": np.asarray(y)}


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


def bn_tolerances(case: layers.LayerCase, dtype) -> dict:
    return {q: layers.sum_tolerance(case, dtype, q) for q in layers.SUMS}


def layers_rows(quick: bool = False, frameworks=NEW_FRAMEWORKS) -> list[dict]:
    out = []
    for dtype in layers.DTYPES:
        for case in layers.layer_cases(quick):
            out += four_way(case.component, case.name, layer_quantities(case, dtype), dtype,
                            tols=bn_tolerances(case, dtype), frameworks=frameworks)
        for layer, shape in layers.RUNNING_CASES[:1] if quick else layers.RUNNING_CASES:
            ours, theirs = layers.running_stats_after(layer, shape, dtype=dtype)
            name = layers.LayerCase(layer, shape, True).name + "_50steps"
            q = Quantities(ours, theirs, running_stats_jax(layer, shape, dtype=dtype), {})
            out += four_way(type(layer).__name__.lower(), name, q, dtype, frameworks=frameworks)
        for train in (True, False):
            case = f"small_bn_dropout_cnn_n6_{'train' if train else 'eval'}"
            out += four_way("cnn+batchnorm+dropout", case, model_quantities(dtype, train), dtype,
                            depth=len(layers.small_bn_cnn().layers), frameworks=frameworks)
    return out


# ---------------------------------------------------------------------------------------------
# cosface.py: L2 normalisation, the cosine layer, the margin softmax
# ---------------------------------------------------------------------------------------------

def cosface_layer_quantities(layer, arrays: dict, dtype, seed: int, central: bool) -> Quantities:
    """cosface.layer_rows' data: ours, torch (the registry twin), JAX (the registry twin), central differences."""
    from framework.layers import twin_of

    has_W = "W" in arrays
    params = {"W": arrays["W"]} if has_W else {}
    y, cache, _ = layer.forward(arrays["x"], params, {}, train=True)
    dy = np.random.default_rng(seed).normal(size=y.shape).astype(dtype)
    names = {"output": "output", "x": "input_grad", **({"W": "grad W"} if has_W else {})}

    def fn(a):
        out, c, _ = layer.forward(a["x"], {"W": a["W"]} if has_W else {}, {}, train=True)

        def back(d):
            dx, grads = layer.backward(d, c)
            return {"x": dx, **grads}
        return out, back
    module = twin_of(layer).build(layer, params, {}, torch.float64 if dtype == np.float64 else torch.float32)

    def twin(t):  # the module's weight (d_out, d_in) is the differentiated W transposed
        return torch.func.functional_call(module, {"weight": t["W"].T} if has_W else {}, (t["x"],))
    cd, scale = run_central(fn, arrays, dy, names, tuple(arrays)) if central and dtype == np.float64 else ({}, 0.0)
    return Quantities(run_ours(fn, arrays, dy, names), run_twin(twin, arrays, dy, names),
                      run_layer(layer, params, {}, arrays["x"], dy, True), cd, scale)


def normalize_quantities(shape, zero_row: bool, dtype, seed: int = 0) -> Quantities:
    x = np.random.default_rng(seed).normal(0.5, 2.0, size=shape).astype(dtype)
    if zero_row:
        x[1] = 0.0
    return cosface_layer_quantities(seq.L2Normalize(), {"x": x}, dtype, seed + 1, central=not zero_row)


def cosine_quantities(N: int, d_in: int, d_out: int, dtype, seed: int = 0) -> Quantities:
    rng = np.random.default_rng(seed)
    arrays = {"x": rng.normal(0.5, 2.0, size=(N, d_in)).astype(dtype),
              "W": rng.normal(0.0, 0.7, size=(d_in, d_out)).astype(dtype)}
    return cosface_layer_quantities(seq.CosineDense(d_in, d_out), arrays, dtype, seed + 1, central=True)


def margin_quantities(scale: float, margin: float, dtype, N: int = 6, C: int = 7, seed: int = 0) -> Quantities:
    return loss_quantities("am_softmax", dtype, N, C, 1.0, "onehot", 0.0, seed, L=am_softmax(scale, margin))


def cosface_rows(quick: bool = False, frameworks=NEW_FRAMEWORKS) -> list[dict]:
    take = (lambda c: c[:1]) if quick else (lambda c: c)
    out = []
    for dtype in cosface.DTYPES:
        for shape, zero in take(cosface.NORMALIZE_CASES):
            case = "x".join(map(str, shape)) + ("_zero_row" if zero else "")
            out += four_way("l2normalize", case, normalize_quantities(shape, zero, dtype), dtype, frameworks=frameworks)
        for N, d_in, d_out in take(cosface.COSINE_CASES):
            out += four_way("cosinedense", f"{N}x{d_in}_to{d_out}", cosine_quantities(N, d_in, d_out, dtype), dtype,
                            frameworks=frameworks)
        for s, m in take(cosface.MARGINS):
            out += four_way("loss:am_softmax", f"N6_C7_s{s:g}_m{m:g}", margin_quantities(s, m, dtype), dtype,
                            frameworks=frameworks)
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

    return (cases_rows(quick) + mlp_rows(quick) + layers_rows(quick) + cosface_rows(quick)
            + jax_trajectories.rows(quick))
