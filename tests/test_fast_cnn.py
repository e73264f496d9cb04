"""The fast CNN path (experiments/engines/fast) against the readable reference it speeds up.

Every fast layer's forward and backward on the equivalence cases (experiments/equivalence/cases.py and
layers.py: asymmetric kernels, strides and padding, odd total padding, batch 1 and more, channels 1 and
3+, ties, all-negative inputs) and on random geometries (hypothesis), with random upstream gradients,
its input given both as NCHW memory and as the channel-major memory fast layers pass each other.
Tolerances: convolution (but for dE/dK), pooling and ReLU do the reference's arithmetic in the reference's
order, so they must give the same bits (float64 and float32), but for the direct convolution (direct.py: float32,
stride 1, size-keeping padding), whose sums run in another order: within the rounding of each sum, and forced
through it float64 within 1e-12; dE/dK (a matrix product in the other
orientation) and batch norm (per-channel sums in another order) add in another order, so float64 within
1e-12 of the largest value and float32 within assert_close's rtol 1.3e-6 x sqrt(n) of it (n terms per sum:
N H_out W_out for dE/dK, the m values of a channel for batch norm). Whole trainings step for step from the
same weights and batches: LeNet 200 SGD steps on MNIST and the orl-faces CNN 200 Nesterov steps on ORL,
the largest parameter difference after every step within 1e-12 in float64 (float32: see TRAJECTORY).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_conv import conv_cases  # the random geometries of the reference's own tests

from experiments.engines.fast import fast, reference
from experiments.equivalence import cases as eq
from experiments.equivalence import layer_check as lc
from experiments.equivalence.cases import ConvCase, PoolCase
from reference import conv_shapes as cs
from reference import sequential as seq

LAYOUTS = ("nchw", "channel-major")


def laid_out(a: np.ndarray, layout: str) -> np.ndarray:
    """a as given to a layer: NCHW memory, or the NCHW view of (C, H, W, N) memory."""
    return a if layout == "nchw" else np.ascontiguousarray(a.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)


def both(layer, x, params, state, dy, layout: str, train: bool = True, rng_seed: int = 0):
    """{quantity: (reference's, fast's)}: output, input gradient, parameter gradients, new state."""
    fast_layer = fast(seq.Sequential((layer,))).layers[0]
    assert type(fast_layer) is not type(layer)
    out = {}
    for who, l, xx, dd in (("ref", layer, x, dy), ("fast", fast_layer, laid_out(x, layout), laid_out(dy, layout))):
        y, cache, new_state = l.forward(xx, params, state, train=train, rng=np.random.default_rng(rng_seed))
        dx, grads = l.backward(dd, cache)
        got = {"output": y, "input_grad": dx, **{f"grad {k}": v for k, v in grads.items()},
               **{f"state {k}": np.asarray(v) for k, v in new_state.items()}}
        for k, v in got.items():
            out.setdefault(k, {})[who] = v
    return out


def assert_same_bits(got: dict):
    for q, v in got.items():
        assert v["ref"].shape == v["fast"].shape and v["ref"].dtype == v["fast"].dtype, q
        assert np.array_equal(v["ref"], v["fast"]), f"{q}: max |diff| {np.abs(v['ref'] - v['fast']).max()}"


def assert_close_to(got: dict, rtol_of):
    for q, v in got.items():
        ref, fst = v["ref"].astype(np.float64), v["fast"].astype(np.float64)
        bound = rtol_of(q) * max(np.abs(ref).max(), 1e-300)
        assert np.abs(ref - fst).max() <= bound, f"{q}: max |diff| {np.abs(ref - fst).max()} > {bound}"


def rounding(dtype, n_terms: int) -> float:
    """The relative bound of a sum of n terms added in another order: 1e-12 (float64), 1.3e-6 sqrt(n) (float32)."""
    return 1e-12 if dtype == np.float64 else 1.3e-6 * np.sqrt(n_terms)


def sum_terms(case: ConvCase) -> dict:
    """Terms per sum: c_in k_h k_w (output), N H_out W_out (dE/dK), c_out k_h k_w (dE/dx)."""
    k = case.kernel[0] * case.kernel[1]
    out = int(np.prod(cs.output_shape((case.H, case.W), case.kernel, case.padding, case.stride)))
    return {"output": case.c_in * k, "grad K": case.N * out, "input_grad": case.c_out * k}


def runs_direct(case: ConvCase, dtype) -> bool:
    from experiments.engines.fast import direct

    return direct.applies((case.N, case.c_in, case.H, case.W), (case.c_out, case.c_in, *case.kernel), case.stride,
                          case.padding, dtype)


def assert_conv(got: dict, case: ConvCase, dtype):
    """The reference's bits but for dE/dK, which is within rounding of the sum over N H_out W_out terms; where the
    direct convolution runs, output and dE/dx too are within the rounding of their sums."""
    terms = sum_terms(case)
    rounded = tuple(terms) if runs_direct(case, dtype) else ("grad K",)
    assert_close_to({q: got.pop(q) for q in rounded}, lambda q: rounding(dtype, terms[q]))
    assert_same_bits(got)


def conv_layer(case: ConvCase, dtype, seed: int = 0):
    x, K, b, ds = eq.conv_data(case, dtype, seed)
    layer = seq.Conv2d(case.c_in, case.c_out, case.kernel, case.stride, case.padding)
    return layer, x, {"K": K, "b": b}, ds


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", eq.CONV_CASES, ids=lambda c: c.name)
def test_conv_equals_the_reference_on_the_equivalence_cases(case, dtype, layout):
    layer, x, params, ds = conv_layer(case, dtype)
    assert_conv(both(layer, x, params, {}, ds, layout), case, dtype)


@settings(max_examples=40, deadline=None)
@given(case=conv_cases(), seed=st.integers(0, 2**16), layout=st.sampled_from(LAYOUTS),
       dtype=st.sampled_from([np.float64, np.float32]))
def test_conv_equals_the_reference_on_random_geometries(case, seed, layout, dtype):
    layer, x, params, ds = conv_layer(case, dtype, seed)
    assert_conv(both(layer, x, params, {}, ds, layout), case, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", eq.CONV_CASES, ids=lambda c: c.name)
def test_conv_in_blocks_of_output_rows_matches_the_reference(case, dtype, monkeypatch):
    """X_col and dE/dx's D = K_mat^T dS one output row at a time: float64 dE/dx keeps the reference's bits (col2im's
    order is kept across blocks); float32's blocked GEMM rounds D differently, so there it is within rounding."""
    from experiments.engines.fast import conv

    monkeypatch.setattr(conv, "BLOCK_BYTES", 1)  # one output row per block, at every depth
    monkeypatch.setattr(conv, "DEEP_BLOCK_BYTES", 1)
    monkeypatch.setattr(conv, "SHALLOW", 10**9)
    monkeypatch.setattr(conv, "LARGE", 0)
    assert len(conv.row_blocks((5, 3), 2, 200, 8)) == 5
    assert len(conv.row_blocks((5, 3), 2, 200, 8, shallow=0)) == 5
    layer, x, params, ds = conv_layer(case, dtype)
    got = both(layer, x, params, {}, ds, "nchw")
    n = case.N * int(np.prod(cs.output_shape((case.H, case.W), case.kernel, case.padding, case.stride)))
    assert_close_to({q: got.pop(q) for q in ("output", "grad K")}, lambda q: rounding(dtype, n))
    if dtype == np.float32:
        terms = case.c_out * case.kernel[0] * case.kernel[1]
        assert_close_to({"input_grad": got.pop("input_grad")}, lambda q: rounding(dtype, terms))
    assert_same_bits(got)


def test_scratch_blocks_never_outlive_their_call(monkeypatch):
    """The reused scratch buffer holds only temporaries: with every layer in one-row blocks, layer A's forward, then
    a larger layer B's forward and backward (which rewrite and regrow the scratch), then A's backward still equal
    the reference, no cache shares the scratch's memory, and the buffer is reused per dtype and per thread."""
    import threading

    from experiments.engines.fast import conv

    monkeypatch.setattr(conv, "BLOCK_BYTES", 1)
    monkeypatch.setattr(conv, "DEEP_BLOCK_BYTES", 1)
    monkeypatch.setattr(conv, "SHALLOW", 10**9)
    monkeypatch.setattr(conv, "LARGE", 0)
    small, large = sorted(eq.CONV_CASES[:4], key=lambda c: c.N * c.c_in * c.H * c.W)[::3]
    runs = {}
    for name, case in (("A", small), ("B", large)):
        layer, x, params, ds = conv_layer(case, np.float64)
        runs[name] = (layer, fast(seq.Sequential((layer,))).layers[0], x, params, ds)
    layer, f, x, params, ds = runs["A"]
    y_a, cache_a, _ = f.forward(x, params, {}, train=True)
    _, f_b, x_b, params_b, ds_b = runs["B"]
    _, cache_b, _ = f_b.forward(x_b, params_b, {}, train=True)
    f_b.backward(ds_b, cache_b)
    buf = conv.scratch(1, np.float64).base
    assert not any(np.shares_memory(a, buf) for a in (*cache_a, *cache_b, y_a) if isinstance(a, np.ndarray))
    dx, grads = f.backward(ds, cache_a)
    y_ref, ref_cache, _ = layer.forward(x, params, {}, train=True)
    dx_ref, grads_ref = layer.backward(ds, ref_cache)
    for got, want in ((y_a, y_ref), (dx, dx_ref), (grads["K"], grads_ref["K"]), (grads["b"], grads_ref["b"])):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert conv.scratch(3, np.float64).base is buf and conv.scratch(3, np.float32).base is not buf
    other = []
    thread = threading.Thread(target=lambda: other.append(conv.scratch(3, np.float64).base))
    thread.start()
    thread.join()
    assert other[0] is not buf


def test_conv_skips_the_input_gradient_when_asked():
    layer, x, params, ds = conv_layer(eq.CONV_CASES[0], np.float64)
    f = fast(seq.Sequential((layer,))).layers[0]
    y, cache, _ = f.forward(x, params, {}, train=True)
    dx, grads = f.backward(ds, cache, need_dx=False)
    _, ref_cache, _ = layer.forward(x, params, {}, train=True)
    assert dx is None and np.allclose(grads["K"], layer.backward(ds, ref_cache)[1]["K"], rtol=1e-12, atol=0)


# ---------------------------------------------------------------------------------------------
# The direct convolution (experiments/engines/fast/direct.py): stride 1, size-keeping padding
# ---------------------------------------------------------------------------------------------

BOTH_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def force_direct(mp, direct):
    """Through the direct convolution in both dtypes, on any CPU (without AVX-512 it is slower, not different)."""
    mp.setattr(direct, "DTYPES", BOTH_DTYPES)
    mp.setattr(direct, "AVAILABLE", True)


@st.composite
def direct_cases(draw):
    """Geometries the direct convolution takes: stride 1, any padding of at most k - 1 a side, c_out a multiple of
    ROWS, c_in k_h k_w >= MIN_DEPTH (c_in 3: dE/dx goes by im2col); rows of W_out N lanes from under one vector to
    several blocks of V vectors, so that wide, narrow and partial blocks all occur."""
    k = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    c_in = draw(st.sampled_from([3, 8, 16, 64]).filter(lambda c: c * k[0] * k[1] >= 64))
    pad = tuple(draw(st.integers(0, k[a // 2] - 1)) for a in range(4))
    H = draw(st.integers(max(1, k[0] - pad[0] - pad[1]), 9))
    W = draw(st.integers(max(1, k[1] - pad[2] - pad[3]), 12))
    return eq.ConvCase(N=draw(st.sampled_from([1, 2, 3, 7, 20])), c_in=c_in, c_out=draw(st.sampled_from([8, 16, 24])),
                       H=H, W=W, kernel=k, padding=pad)


def assert_direct(case: ConvCase, dtype, seed: int):
    """The fast layer ran the direct convolution (its cache holds x' flat) and equals the reference within the
    rounding of each sum: depth c_in k_h k_w terms (output), N H W (dE/dK), c_out k_h k_w (dE/dx); dE/db's bits."""
    from experiments.engines.fast import direct

    layer, x, params, ds = conv_layer(case, dtype, seed)
    _, cache, _ = fast(seq.Sequential((layer,))).layers[0].forward(x, params, {}, train=True)
    assert isinstance(cache[0], direct.Flat)
    assert_conv(both(layer, x, params, {}, ds, "channel-major" if seed % 2 else "nchw"), case, dtype)


@settings(max_examples=60, deadline=None)
@given(case=direct_cases(), seed=st.integers(0, 2**16), dtype=st.sampled_from([np.float64, np.float32]))
def test_direct_conv_matches_the_reference_on_random_geometries(case, seed, dtype):
    """float32 as the fast path runs it; float64 (which the fast path keeps on im2col, for the reference's bits)
    forced through it, within 1e-12."""
    from experiments.engines.fast import direct

    with pytest.MonkeyPatch.context() as mp:
        force_direct(mp, direct)
        assert_direct(case, dtype, seed)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", [
    eq.ConvCase(20, 16, 32, 14, 11, (3, 3), padding=(1, 1, 1, 1), note="face conv2"),
    eq.ConvCase(32, 32, 64, 7, 5, (3, 3), padding=(1, 1, 1, 1), note="face conv3"),
    eq.ConvCase(2, 8, 16, 5, 4, (5, 5), padding=(2, 2, 2, 2), note="the kernel larger than the map"),
    eq.ConvCase(3, 64, 8, 4, 6, (1, 1), note="1x1"),
    eq.ConvCase(1, 16, 8, 1, 1, (4, 2), padding=(3, 0, 0, 1), note="one pixel, lopsided padding"),
    eq.ConvCase(64, 8, 16, 12, 12, (5, 5), note="lenet conv2, no padding"),
], ids=lambda c: c.note)
def test_direct_conv_matches_the_reference_on_the_network_shapes(case, dtype, monkeypatch):
    from experiments.engines.fast import direct

    force_direct(monkeypatch, direct)
    assert_direct(case, dtype, 0)


def test_direct_conv_takes_exactly_its_layers(monkeypatch):
    """float32 stride-1 convolutions padded at most k - 1 a side, with c_out a multiple of 8 and depth >= 64, on a CPU
    with AVX-512; nothing else (float64 keeps im2col and the reference's bits)."""
    from experiments.engines.fast import direct, simd

    assert direct.AVAILABLE == simd.wide_registers()
    monkeypatch.setattr(direct, "AVAILABLE", True)
    face = ((20, 16, 14, 11), (32, 16, 3, 3), (1, 1), (1, 1, 1, 1))
    assert direct.applies(*face, np.float32)
    assert direct.applies(face[0], face[1], face[2], (0, 0, 2, 1), np.float32)  # shrinking is fine
    assert not direct.applies(*face, np.float64)
    assert not direct.applies(face[0], face[1], (2, 1), face[3], np.float32)  # strided
    assert not direct.applies(face[0], face[1], face[2], (1, 1, 3, 0), np.float32)  # padded wider than k - 1
    assert not direct.applies(face[0], (12, 16, 3, 3), face[2], face[3], np.float32)  # c_out not a multiple of 8
    assert not direct.applies((20, 1, 28, 23), (16, 1, 3, 3), face[2], face[3], np.float32)  # depth 9
    assert direct.applies_to_input_gradient((16, 8, 3, 3)) and not direct.applies_to_input_gradient((16, 3, 5, 5))
    monkeypatch.setattr(direct, "AVAILABLE", False)
    assert not direct.applies(*face, np.float32)


def pool_layer(case: PoolCase):
    if case.kind == "max":
        return seq.MaxPool2d(case.window, case.stride, case.padding)
    return seq.AvgPool2d(case.window, case.stride, case.padding, case.count_include_pad)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", eq.POOL_CASES, ids=lambda c: f"{c.kind}_{c.name}")
def test_pooling_equals_the_reference_on_the_equivalence_cases(case, dtype, layout):
    x, dy = eq.pool_data(case, dtype)
    assert_same_bits(both(pool_layer(case), x, {}, {}, dy, layout))


@st.composite
def pool_cases(draw):
    w = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = draw(st.sampled_from([None, (1, 1), (2, 1), (1, 3), (2, 2)]))
    pad = (draw(st.integers(0, w[0] // 2)), draw(st.integers(0, w[1] // 2)))
    H = draw(st.integers(max(1, w[0] - 2 * pad[0]), w[0] + 6))
    W = draw(st.integers(max(1, w[1] - 2 * pad[1]), w[1] + 6))
    return PoolCase(draw(st.sampled_from(["max", "avg"])), draw(st.sampled_from([1, 2, 5])),
                    draw(st.sampled_from([1, 3])), H, W, w, s, pad, draw(st.booleans()),
                    draw(st.sampled_from(["normal", "ties", "negative"])))


@settings(max_examples=40, deadline=None)
@given(case=pool_cases(), seed=st.integers(0, 2**16), layout=st.sampled_from(LAYOUTS))
def test_pooling_equals_the_reference_on_random_geometries(case, seed, layout):
    x, dy = eq.pool_data(case, np.float64, seed)
    assert_same_bits(both(pool_layer(case), x, {}, {}, dy, layout))


def test_relu_equals_the_reference_at_the_kink():
    rng = np.random.default_rng(1)
    s = rng.normal(size=(3, 4, 5, 2))
    s[0, 1] = 0.0  # ReLU'(0) = 0
    dy = rng.normal(size=s.shape)
    for layout in LAYOUTS:
        assert_same_bits(both(seq.Activation("relu"), s, {}, {}, dy, layout))


BN_CASES = [c for c in eq.LAYER_CASES if type(c.layer) is seq.BatchNorm2d and c.layer.affine]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", BN_CASES, ids=lambda c: c.name)
def test_batchnorm_matches_the_reference(case, dtype, layout):
    x, params, state, dy, seed = lc.case_data(case, dtype)
    got = both(case.layer, x, params, state, dy, layout, case.mode, seed)
    m = x.size // x.shape[1]
    assert_close_to(got, lambda q: rounding(dtype, m))


@pytest.mark.parametrize("layer, shape, dtype", [
    (seq.Conv2d(3, 2, (3, 2), (2, 1), (1, 0, 0, 1)), (0, 3, 5, 4), np.float64),
    (seq.Conv2d(16, 8, 3, padding=1), (0, 16, 4, 3), np.float32),
    (seq.MaxPool2d((3, 2), (2, 1), (1, 1)), (0, 2, 5, 4), np.float64),
    (seq.BatchNorm2d(2), (0, 2, 3, 4), np.float64),
], ids=["conv", "direct conv", "maxpool", "batchnorm"])
def test_an_empty_batch_goes_through_as_in_the_reference(layer, shape, dtype, monkeypatch):
    from experiments.engines.fast import direct

    monkeypatch.setattr(direct, "AVAILABLE", True)
    rng = np.random.default_rng(0)
    params, state = layer.init(rng, dtype)
    params = {k: rng.normal(size=v.shape).astype(dtype) for k, v in params.items()}
    y = layer.forward(np.zeros(shape, dtype), params, state, train=True)[0]
    assert_same_bits(both(layer, np.zeros(shape, dtype), params, state, np.zeros(y.shape, dtype), "nchw"))


def test_fast_layers_refuse_what_the_reference_refuses():
    conv = fast(seq.Sequential((seq.Conv2d(3, 2, 3),))).layers[0]
    params, _ = conv.init(np.random.default_rng(0), np.float64)
    conv.forward(np.ones((1, 3, 5, 5)), params, {}, train=True)  # a valid geometry, cached
    with pytest.raises(ValueError, match="input has 2 channels but the kernel expects 3"):
        conv.forward(np.ones((1, 2, 5, 5)), params, {}, train=True)
    with pytest.raises(ValueError, match="padding must be an int"):
        fast(seq.Sequential((seq.Conv2d(3, 2, 3, padding=[1, 2, 3]),))).layers[0].forward(
            np.ones((1, 3, 5, 5)), params, {}, train=True)
    f = fast(seq.Sequential((seq.BatchNorm2d(2, eps=-1e-5), seq.Activation("relu")))).layers
    params, state = f[0].init(None, np.float64)
    with pytest.raises(ValueError, match="eps must be non-negative, got eps = -1e-05"):
        f[0].forward(np.ones((2, 2, 3, 3)), params, state, train=False)
    y, s, _ = f[1].forward(np.ones((2, 3)), {}, {}, train=True)
    with pytest.raises(TypeError, match="upstream gradient is float32, expected float64"):
        f[1].backward(np.ones((2, 3), np.float32), s)


def test_fast_keeps_the_model_and_reference_undoes_it():
    model = seq.Sequential((seq.Conv2d(1, 2, 3), seq.BatchNorm2d(2, affine=False), seq.Activation("tanh"),
                            seq.Activation("relu"), seq.MaxPool2d(2), seq.Flatten(), seq.Dense(2, 3)))
    f = fast(model)
    kept = [type(a) is type(b) for a, b in zip(model.layers, f.layers)]
    assert kept == [False, True, True, False, False, True, True]
    assert reference(f) == model and reference(model) == model
    p0, s0 = model.init(5, np.float64)
    p1, s1 = f.init(5, np.float64)
    assert all(np.array_equal(a[k], b[k]) for a, b in zip(p0, p1) for k in a)


def max_param_diff(a: list, b: list) -> float:
    return max(float(np.abs(p[k] - q[k]).max()) for p, q in zip(a, b) for k in p)


def lockstep(model, params, state, optimizer, batches, lr: float, resync: bool = False) -> list[float]:
    """The per-step largest parameter difference of the reference and fast models trained side by side; with
    `resync`, the fast model starts every step from the reference's parameters, state and optimizer state (and
    dropout generator), so each entry is one step's difference alone, and a step over ROUNDING[dtype] must be a
    decision taken the other way on inputs equal to rounding (`decision_flip`), or the test fails."""
    fm = fast(model)
    runs = [([{k: v.copy() for k, v in p.items()} for p in params], list(state), optimizer.init(params))
            for _ in range(2)]
    rngs = [np.random.default_rng(11), np.random.default_rng(11)]  # dropout masks: the same draws
    worst = []
    for x, y in batches:
        start = copy.deepcopy((runs[0][0], runs[0][1], rngs[0])) if resync else None
        for i, m in enumerate((model, fm)):
            p, s, o = runs[i]
            r = m.loss_and_grads(x, y, p, s, train=True, rng=rngs[i])
            runs[i] = (p, r.state, optimizer.step(p, r.grads, o, lr))
        worst.append(max_param_diff(runs[0][0], runs[1][0]))
        if resync:
            if worst[-1] > ROUNDING[x.dtype.type]:
                assert decision_flip(model, fm, x, *start), f"step {len(worst)}: {worst[-1]} and no decision flip"
            runs[1], rngs[1] = copy.deepcopy(runs[0]), copy.deepcopy(rngs[0])
    return worst


def decision_flip(model, fm, x, params, state, rng) -> bool:
    """Whether the two models, each fed its own outputs from x, reach a ReLU or a max pooling with inputs equal
    within rounding (1e-5 of their largest) that decide differently: a sign, or the entry a maximum comes from
    (read from the layer's backward pass of ones)."""
    h = [x, x]
    rngs = [copy.deepcopy(rng), copy.deepcopy(rng)]
    for layers in zip(model.layers, fm.layers, params, state):
        out = [layers[i].forward(h[i], layers[2], layers[3], train=True, rng=rngs[i])[:2] for i in range(2)]
        close = np.abs(h[0] - h[1]).max() <= 1e-5 * max(np.abs(h[0]).max(), 1.0)
        if close and isinstance(layers[0], seq.Activation) and layers[0].activation == "relu":
            if np.any((h[0] > 0) != (h[1] > 0)):
                return True
        if close and isinstance(layers[0], seq.MaxPool2d):
            routes = [layers[i].backward(np.ones_like(out[i][0]), out[i][1])[0] != 0 for i in range(2)]
            if np.any(routes[0] != routes[1]):
                return True
        h = [np.asarray(o[0]) for o in out]
    return False


class _Nudged(seq.Conv2d):
    """A convolution whose output is moved by 1e-12 to 1e-11, growing along each row: rounding-sized differences,
    to plant decision flips."""

    def forward(self, x, params, state, *, train: bool, rng=None):
        y, cache, state = super().forward(x, params, state, train=train, rng=rng)
        return y + 1e-12 * (1 + np.arange(y.shape[-1])), cache, state


@pytest.mark.parametrize("after", ["relu", "maxpool"])
def test_decision_flip_finds_a_planted_flip_and_no_other(after):
    """A zero kernel makes every ReLU input exactly 0 and every pooling window a tie (its first entry wins); the
    nudged convolution gives every ReLU input the other sign and every window its last column as the maximum."""
    last = seq.Activation("relu") if after == "relu" else seq.MaxPool2d(2)
    model, nudged = seq.Sequential((seq.Conv2d(1, 2, 3), last)), seq.Sequential((_Nudged(1, 2, 3), last))
    params, state = model.init(0, np.float64)
    params[0]["K"][:] = 0.0
    x = np.random.default_rng(0).normal(size=(2, 1, 6, 6))
    rng = np.random.default_rng(1)
    assert not decision_flip(model, model, x, params, state, rng)
    assert decision_flip(model, nudged, x, params, state, rng)


def assert_direct_calls(calls: list, layers: int, steps: int, expected: bool, resync: bool):
    """The direct forward ran for `layers` layers at every step (and again in a resync's decision_flip check), or
    never."""
    if expected:
        assert len(calls) == layers * steps or (resync and len(calls) > layers * steps), len(calls)
    else:
        assert not calls


# Trajectories: float64 within 1e-12 at every step of 200 (measured: LeNet 6e-16, the face CNN 3e-14). float32 is
# checked one step at a time (resync: each step starts from the reference's parameters), within assert_close's
# atol 1e-5, but for a step whose ReLU sign or pooling maximum is decided the other way on inputs equal to
# rounding (measured: the face CNN's step 13 of 200, a batch-norm output of 5.4e-8 where the two paths' batch norms
# differ by up to 9.5e-7; the step then differs by 1.5e-4). A free-running float32 pair would drift from such a step
# on, as the reference and its torch twin do in float32 (results/orl_faces.csv, twin-float32: 0.32 after 1,000
# steps), statistically alike; where the first flip comes depends on the machine and the BLAS threads (NumPy's
# SIMD dispatch rounds float32 sums per CPU): step 50 on one machine, 12 on another.
ROUNDING = {np.float64: 1e-12, np.float32: 1e-5}
TRAJECTORY = {np.float64: (200, False), np.float32: (200, True)}


@pytest.mark.parametrize("dtype, forced", [(np.float64, False), (np.float64, True), (np.float32, False)],
                         ids=["float64", "float64-direct", "float32"])
def test_lenet_trains_step_for_step_as_the_reference(mnist, dtype, forced, monkeypatch):
    """float64 on im2col, float64 with conv2 forced through the direct convolution, float32 as the fast path runs it
    (conv2 direct)."""
    from experiments.engines.fast import direct
    from reference import optim

    if forced:
        force_direct(monkeypatch, direct)
    calls = []
    monkeypatch.setattr(direct, "forward", lambda *a, f=direct.forward: calls.append(1) or f(*a))

    X = ((mnist.train_x[:200 * 16].reshape(-1, 1, 28, 28) / 255.0 - 0.13) / 0.31).astype(dtype)
    y = mnist.train_y[:200 * 16]
    model = seq.lenet()
    params, state = model.init(0, dtype)
    batches = [(X[i:i + 16], y[i:i + 16]) for i in range(0, len(y), 16)]
    steps, resync = TRAJECTORY[dtype]
    worst = lockstep(model, params, state, optim.SGD(), batches[:steps], 0.05, resync)
    assert len(worst) == steps and (resync or max(worst) <= ROUNDING[dtype]), max(worst)
    assert_direct_calls(calls, 1, steps, forced or (dtype == np.float32 and direct.AVAILABLE), resync)


@pytest.mark.parametrize("dtype, forced", [(np.float64, False), (np.float64, True), (np.float32, False)],
                         ids=["float64", "float64-direct", "float32"])
def test_face_cnn_trains_step_for_step_as_the_reference(dtype, forced, monkeypatch):
    """float64 on im2col, float64 with its conv2 and conv3 forced through the direct convolution, float32 as the
    fast path runs it (conv2 and conv3 direct)."""
    from experiments.config import get_experiment
    from experiments.engines.fast import direct
    from experiments.faces import kind
    from experiments.train import order_for

    if forced:
        force_direct(monkeypatch, direct)
    calls = []
    monkeypatch.setattr(direct, "forward", lambda *a, f=direct.forward: calls.append(1) or f(*a))

    steps, resync = TRAJECTORY[dtype]
    cfg = {**get_experiment("orl-faces").runs["base"], "dtype": np.dtype(dtype).name}
    x, y = kind.load_faces(cfg)
    train, test = kind.identification_indices(cfg, y, 0)
    engine = kind.numpy_engine(cfg, 0, kind.face_data(cfg, x, y, train, test))
    batches = [(xb, yb) for e in range(1, 21) for xb, yb, _ in engine.batches(order_for(0, e, len(train)), e)]
    worst = lockstep(engine.model, engine.params, engine.state, engine.optimizer, batches[:steps], engine.lr_at(1),
                     resync)
    assert len(worst) == steps and (resync or max(worst) <= ROUNDING[dtype]), max(worst)
    assert cs.output_shape((28, 23), (3, 3), (1, 1, 1, 1), (1, 1)) == (28, 23)  # the padded 3x3 convs keep the size
    assert_direct_calls(calls, 2, steps, forced or (dtype == np.float32 and direct.AVAILABLE), resync)


# ---------------------------------------------------------------------------------------------
# The run setting `path` of the cnn and faces kinds
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("experiment", ["cnn-mnist", "orl-faces"])
def test_path_is_a_later_setting_frozen_at_reference(experiment):
    from experiments.config import get_experiment
    from experiments.runner import run_id

    exp = get_experiment(experiment)
    base, kind = exp.runs["base"], exp.kind
    assert base["path"] == "reference"  # the default: every recorded run trained on the reference layers
    ids = {p: run_id(kind.name, 0, kind.validate("t", {**base, "path": p})) for p in ("reference", "fast")}
    without = {k: v for k, v in base.items() if k != "path"}
    assert run_id(kind.name, 0, without) == ids["reference"] != ids["fast"]


def test_cnn_kind_trains_on_the_fast_path_beside_its_torch_twin(tmp_path):
    from experiments.config import get_experiment
    from experiments.mnist import cnn
    from experiments.outputs import Outputs
    from experiments.runner import RunSpec, execute

    cfg = cnn.validate("t", {**cnn.quick(get_experiment("cnn-mnist").runs["base"]), "path": "fast",
                             "train_limit": 640, "test_limit": 200})
    rows = execute(RunSpec("cnn-mnist", "cnn", "base", 0, cfg), Outputs(tmp_path))
    assert [r["engine"] for r in rows] == ["numpy-sequential-fast", "torch-sequential"]
    assert all(r["path"] == "fast" for r in rows)
    assert rows[0]["max_weight_diff_vs_other"] < 1e-10 and rows[0]["test_acc"] == rows[1]["test_acc"]


def test_faces_engine_on_the_fast_path_steps_with_its_torch_twin():
    from experiments.engines.sequential import ImageData
    from experiments.faces import kind
    from experiments.faces.engine import TorchTwinFaces, differences, lockstep_epoch
    from experiments.train import order_for

    cfg = kind.validate("t", {"channels": [3, 4], "epochs": 3, "batch_size": 4, "dtype": "float64", "max_shift": 1,
                              "embed": 5, "path": "fast"})
    rng = np.random.default_rng(9)
    x = rng.standard_normal((24, 1, 12, 10))
    y = np.arange(24) % 6
    ne = kind.numpy_engine(cfg, 0, ImageData(x[:16], y[:16], x[16:], y[16:]))
    assert ne.name == "numpy-fast" and type(ne.model.layers[0]) is not seq.Conv2d
    te = TorchTwinFaces(ne)
    for epoch in (1, 2, 3):
        ln, lt, worst = lockstep_epoch(ne, te, order_for(0, epoch, 16), epoch)
        assert abs(ln - lt) <= 1e-12 * max(1.0, abs(ln)) and worst <= 1e-12
    assert max(differences(ne, te)) <= 1e-12 and ne.accuracy() == te.accuracy()


def test_bench_rows_time_three_implementations_and_report_the_peak_share(monkeypatch):
    from experiments.bench import fast_cnn

    monkeypatch.setattr(fast_cnn, "CONV_SHAPES", fast_cnn.CONV_SHAPES[1:2])
    monkeypatch.setattr(fast_cnn, "MAP_SHAPES", fast_cnn.MAP_SHAPES[1:2])
    rows = fast_cnn.rows(quick=True, repeats=1)
    assert len(rows) == 2 * 3 * (1 + 2)  # dtypes x implementations x (conv, max pool, batch norm)
    assert {r["impl"] for r in rows} == {"fast", "numpy-reference", "torch"} and all(r["median_s"] > 0 for r in rows)
    conv = [r for r in rows if "conv" in r["benchmark"]]
    assert all(r["gflops"] > 0 and r["gemm_peak_gflops"] > 0 and r["peak_share"] == r["gflops"] / r["gemm_peak_gflops"]
               for r in conv)
    assert all("fast/torch = " in r["notes"] and "fast/reference = " in r["notes"] for r in rows)
    assert len(fast_cnn.summary(rows)) == 2 * 3
