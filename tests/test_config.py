"""Experiment configurations (TOML): every bad file is rejected before any training, with a
ConfigError naming the file, the table, the key and the value; the committed files all load; the
runner's plan of a grid (variants, seeds, overrides validated like TOML values)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from experiments.config import CONFIG_DIR, ConfigError, all_experiments, load_experiment
from experiments.mnist import mlp
from experiments.mnist.mlp import RUN_KEYS
from experiments.runner import plan

BASE = """\
layers = [784, 128, 64, 10]
epochs = 100
batch_size = 1
lr = 0.1
hidden = "tanh"
output = "tanh"
loss = "squared_error"
targets = "onehot"
init = "lecun_normal"
init_gain = 1.0
input_scaling = "unit"
shuffle = true
dtype = "float64"
"""


def toml(base_lines: dict | None = None, extra_top: str = "", variants: str = "", seeds: str = "[0, 1, 2]") -> str:
    """A complete experiment file, with some [base] lines replaced (key -> 'key = value' or None to drop)."""
    lines = []
    for line in BASE.splitlines():
        key = line.split("=")[0].strip()
        if base_lines and key in base_lines:
            if base_lines[key] is not None:
                lines.append(base_lines[key])
        else:
            lines.append(line)
    if base_lines:
        lines += [v for k, v in base_lines.items() if v is not None and k not in BASE]
    return (f'name = "t"\ndescription = "a test experiment"\nkind = "mlp"\nseeds = {seeds}\n{extra_top}\n'
            "[base]\n" + "\n".join(lines) + "\n" + variants)


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "exp.toml"
    p.write_text(text)
    return p


def rejected(tmp_path: Path, text: str, *patterns: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    msg = str(info.value)
    assert str(path) in msg, msg
    for pat in patterns:
        assert re.search(pat, msg), f"{pat!r} not in {msg!r}"
    return msg


def test_a_valid_file_loads_with_defaults_and_variants(tmp_path):
    text = toml({"batch_size": None, "shuffle": None}, variants='[variants.fast]\nlr = 1\n')
    exp = load_experiment(write(tmp_path, text))
    assert exp.name == "t" and exp.seeds == (0, 1, 2) and list(exp.runs) == ["base", "fast"]
    assert exp.runs["base"]["batch_size"] == 1 and exp.runs["base"]["shuffle"] is True  # defaults
    assert exp.runs["fast"]["lr"] == 1.0 and isinstance(exp.runs["fast"]["lr"], float)  # int accepted for a float
    assert exp.runs["fast"]["hidden"] == "tanh"  # the rest is inherited from [base]
    assert set(exp.runs["base"]) == set(RUN_KEYS)


@pytest.mark.parametrize("line,patterns", [
    ('learning_rate = 0.1', [r"\[base\]", r"unknown key 'learning_rate'", r"known keys: .*lr"]),
    ('Epochs = 3', [r"unknown key 'Epochs'"]),
])
def test_unknown_key(tmp_path, line, patterns):
    rejected(tmp_path, toml({"x": line}), *patterns)


def test_unknown_key_in_a_variant(tmp_path):
    rejected(tmp_path, toml(variants='[variants.v1]\nhiden = "sigmoid"\n'), r"\[variants\.v1\]", r"unknown key 'hiden'")


@pytest.mark.parametrize("key,line,patterns", [
    ("epochs", 'epochs = "100"', [r"epochs \(training epochs\) must be int, got str '100'"]),
    ("epochs", "epochs = 2.5", [r"epochs .* must be int, got float 2\.5"]),
    ("epochs", "epochs = true", [r"epochs .* must be int, got bool True"]),
    ("lr", 'lr = "fast"', [r"lr \(fixed learning rate eta\) must be float, got str 'fast'"]),
    ("lr", "lr = true", [r"lr .* must be float, got bool True"]),
    ("shuffle", "shuffle = 1", [r"shuffle \(reshuffle every epoch\) must be bool, got int 1"]),
    ("layers", 'layers = "784-128-10"', [r"layers .* must be list, got str '784-128-10'"]),
    ("hidden", "hidden = 3", [r"hidden .* must be str, got int 3"]),
    ("batch_size", "batch_size = [1]", [r"batch_size .* must be int, got list \[1\]"]),
])
def test_wrong_type(tmp_path, key, line, patterns):
    rejected(tmp_path, toml({key: line}), r"\[base\]", *patterns)


@pytest.mark.parametrize("key,line,patterns", [
    ("lr", "lr = -0.1", [r"lr = -0\.1 must be > 0"]),
    ("lr", "lr = 0", [r"lr = 0\.0 must be > 0"]),
    ("epochs", "epochs = 0", [r"epochs = 0 must be >= 1"]),
    ("batch_size", "batch_size = 0", [r"batch_size = 0 must be >= 1"]),
    ("init_gain", "init_gain = -2", [r"init_gain = -2\.0 must be > 0"]),
    ("layers", "layers = [784, 0, 10]", [r"layers = \[784, 0, 10\] must be a list of at least 2 positive integers"]),
    ("layers", "layers = [784]", [r"layers = \[784\] must be a list of at least 2"]),
    ("layers", "layers = [785, 128, 10]",
     [r"layers \[785, 128, 10\] do not fit MNIST: d\[0\] must be 784 and d\[L\] must be 10"]),
    ("layers", "layers = [784, 128, 9]", [r"layers \[784, 128, 9\] do not fit MNIST"]),
    ("hidden", 'hidden = "softplus"',
     [r"hidden = 'softplus' must be one of \['identity', 'relu', 'sigmoid', 'sign', 'tanh'\]"]),
    ("hidden", 'hidden = "sign"', [r"hidden activation 'sign' has derivative 0 everywhere"]),
    ("loss", 'loss = "mse"', [r"loss = 'mse' must be one of \['cross_entropy', 'squared_error'\]"]),
    ("loss", 'loss = "cross_entropy"',
     [r"loss cross_entropy takes the softmax of s\[L\], so output must be 'identity', got 'tanh'"]),
    ("dtype", 'dtype = "float16"', [r"dtype = 'float16' must be one of \['float32', 'float64'\]"]),
    ("input_scaling", 'input_scaling = "minmax"', [r"input_scaling = 'minmax' must be"]),
    ("targets", 'targets = "zero-one"', [r"targets = 'zero-one' must be one of \['onehot', 'pm1'\]"]),
    ("init", 'init = "xavier"', [r"init = 'xavier' must be one of"]),
    ("loss_scale", "loss_scale = 0", [r"loss_scale = 0\.0 must be > 0"]),
    ("loss_scale", "loss_scale = -0.5", [r"loss_scale = -0\.5 must be > 0"]),
])
def test_impossible_value(tmp_path, key, line, patterns):
    rejected(tmp_path, toml({key: line}), r"\[base\]", *patterns)


def test_cross_entropy_with_tanh_output_in_a_variant(tmp_path):
    rejected(tmp_path, toml(variants='[variants.ce]\nloss = "cross_entropy"\n'),
             r"\[variants\.ce\]", r"output must be 'identity', got 'tanh'")
    rejected(tmp_path, toml(variants='[variants.ce]\nloss = "cross_entropy"\noutput = "identity"\ntargets = "pm1"\n'),
             r"\[variants\.ce\]", r"cross_entropy needs targets 'onehot', got 'pm1'")


def test_missing_run_key(tmp_path):
    rejected(tmp_path, toml({"lr": None}), r"\[base\]: missing keys \['lr'\]")


def test_unknown_top_level_key(tmp_path):
    rejected(tmp_path, toml(extra_top='epoch = 3'), r"unknown top-level key\(s\) \['epoch'\]", r"known: \[")


@pytest.mark.parametrize("seeds,shown", [
    ("[]", r"\[\]"), ("[-1, 2]", r"\[-1, 2\]"), ('["0"]', r"\['0'\]"), ("[0.5]", r"\[0\.5\]"),
    ("7", "7"), ("[true]", r"\[True\]"),
])
def test_bad_seeds(tmp_path, seeds, shown):
    rejected(tmp_path, toml(seeds=seeds), rf"seeds must be a non-empty list of non-negative integers, got {shown}")


def test_missing_top_level_key_and_bad_tables(tmp_path):
    rejected(tmp_path, toml().replace('description = "a test experiment"\n', ""),
             r"missing top-level key 'description'")
    rejected(tmp_path, toml(variants="[variants]\nv1 = 3\n"), r"\[variants\.v1\] must be a table")
    rejected(tmp_path, toml(variants="[variants.base]\nlr = 0.2\n"), r"a variant may not be called 'base'")
    rejected(tmp_path, "name = 'x'\n[base\n", r"not valid TOML")


def test_committed_configs_all_load():
    files = sorted(CONFIG_DIR.glob("*.toml"))
    assert files, CONFIG_DIR
    for p in files:
        exp = load_experiment(p)
        assert exp.runs and exp.seeds
    exps = all_experiments()
    assert "seed-mlp" in exps


def test_seed_mlp_is_the_studys_configuration(seed_mlp):
    base = seed_mlp.runs["base"]
    assert base["layers"] == [784, 128, 64, 10]
    assert (base["epochs"], base["batch_size"], base["lr"]) == (100, 1, 0.1)
    assert len(seed_mlp.seeds) >= 3
    for name, run in seed_mlp.runs.items():
        # every variant keeps what the study states
        assert (run["layers"], run["epochs"], run["batch_size"], run["lr"]) == ([784, 128, 64, 10], 100, 1, 0.1), name
    assert {"output-sigmoid", "hidden-sigmoid", "output-softmax-ce"} <= set(seed_mlp.runs)


# --------------------------------------------------------------------------------------------
# The runner's plan
# --------------------------------------------------------------------------------------------


def test_plan_rejects_an_unknown_variant(seed_mlp):
    with pytest.raises(ConfigError, match=r"--variants: experiment 'seed-mlp' has no variant 'output-softmax'; "
                                          r"it has base, hidden-sigmoid, "):
        plan(seed_mlp, variants=["output-softmax"])


@pytest.mark.parametrize("epochs", [0, -2])
def test_plan_rejects_non_positive_epochs(seed_mlp, epochs):
    with pytest.raises(ConfigError, match=rf"seed-mlp \[base\] with .*epochs = {epochs} must be >= 1"):
        plan(seed_mlp, overrides={"epochs": epochs})


@pytest.mark.parametrize("seeds,why", [([], "non-negative integers, got \\[\\]"), ([1, 1], "must not repeat"),
                                       ([0, -1], "non-negative integers, got \\[0, -1\\]")])
def test_plan_rejects_bad_seeds(seed_mlp, seeds, why):
    with pytest.raises(ConfigError, match=rf"--seeds .*{why}"):
        plan(seed_mlp, seeds=seeds)


def test_plan_grid_and_overrides(seed_mlp):
    specs = plan(seed_mlp, seeds=[0, 5], variants=["output-sigmoid", "base"], overrides={"epochs": 7, "impl": "torch"})
    got = [(s.variant, s.seed) for s in specs]
    assert got == [("output-sigmoid", 0), ("base", 0), ("output-sigmoid", 5), ("base", 5)]  # seed-major
    assert all(s.config["epochs"] == 7 and s.config["impl"] == "torch" for s in specs)
    assert all(s.kind == "mlp" and s.experiment == "seed-mlp" for s in specs)
    assert specs[0].label == "seed-mlp/output-sigmoid/seed0"
    assert seed_mlp.runs["base"]["epochs"] == 100  # the experiment itself is not modified
    (q,) = plan(seed_mlp, seeds=[0], variants=["output-sigmoid"], quick=True)
    assert (q.config["epochs"], q.config["train_limit"], q.config["test_limit"]) == (2, 2000, 1000)
    assert mlp.quick({**q.config, "epochs": 1})["epochs"] == 1  # quick never lengthens a run
    # a run's identity: 16 hex digits of the hash of its whole configuration and seed
    assert len(q.run_id) == 16 and int(q.run_id, 16) >= 0
    (full,) = plan(seed_mlp, seeds=[0], variants=["output-sigmoid"])
    assert q.run_id != full.run_id
    everything = plan(seed_mlp)
    assert len(everything) == sum(len(seed_mlp.seeds_of(v)) for v in seed_mlp.runs)
    assert len({s.run_id for s in everything}) == len(everything)
    assert all(len(seed_mlp.seeds_of(v)) >= 3 for v in seed_mlp.runs)


def test_a_variant_may_run_its_own_seeds(tmp_path):
    text = toml(variants='[variants.more]\nlr = 1\nseeds = [0, 1, 2, 3, 4]\n[variants.fast]\nlr = 2\n')
    exp = load_experiment(write(tmp_path, text))
    assert exp.seeds_of("more") == (0, 1, 2, 3, 4) and exp.seeds_of("fast") == exp.seeds_of("base") == (0, 1, 2)
    assert "seeds" not in exp.runs["more"]  # seeds choose runs; they are not part of a run's configuration
    got = [(s.variant, s.seed) for s in plan(exp)]
    # seed-major: every configuration's k-th seed before any (k+1)-th
    assert got == [(v, k) for k in range(3) for v in ("base", "more", "fast")] + [("more", 3), ("more", 4)]
    # the command line's seeds replace every variant's
    assert {s.seed for s in plan(exp, seeds=[7])} == {7}
    assert exp.varied == ("lr",)  # the report's columns: the keys some variant sets


def test_two_variants_that_are_the_same_run_are_rejected(tmp_path):
    exp = load_experiment(write(tmp_path, toml(variants='[variants.same]\nlr = 0.1\n')))
    with pytest.raises(ConfigError, match=r"variants 'base' and 'same' are the same run"):
        plan(exp)


def test_the_kind_is_validated(tmp_path):
    rejected(tmp_path, toml().replace('kind = "mlp"', 'kind = "svm"'),
             r"kind: unknown experiment kind 'svm'; known: mlp")
    rejected(tmp_path, toml().replace('kind = "mlp"\n', ""), r"missing top-level key 'kind'")
    # a cnn-kind file is checked against the cnn schema, where `hidden` is a number of units
    rejected(tmp_path, toml().replace('kind = "mlp"', 'kind = "cnn"'),
             r"\[base\]: hidden \(hidden dense units .*\) must be int, got str 'tanh'")


@pytest.mark.parametrize("seeds,why", [("[]", "non-empty list"), ("[1, 1]", "must not repeat"),
                                       ("[-2]", "non-negative")])
def test_bad_variant_seeds(tmp_path, seeds, why):
    rejected(tmp_path, toml(variants=f"[variants.more]\nlr = 1\nseeds = {seeds}\n"), r"\[variants\.more\]", why)


def test_cross_runs_every_variant_at_each_value_and_keeps_each_a_run_of_its_own(tmp_path):
    variants = '[variants.deep]\nlayers = [784, 64, 10]\n\n[cross]\nbatch_size = [1, 8]\n'
    text = toml({"batch_size": None}, variants=variants)
    exp = load_experiment(write(tmp_path, text))
    assert exp.cross == {"batch_size": [1, 8]} and [c["batch_size"] for c in exp.configs_of("deep")] == [1, 8]
    specs = plan(exp)
    assert len(specs) == 2 * 2 * 3 and len({s.run_id for s in specs}) == 12
    assert [s.label for s in specs[:2]] == ["t/base@batch_size=1/seed0", "t/base@batch_size=8/seed0"]
    assert all(exp.declares(s.variant, s.config, s.seed) for s in specs)
    assert not exp.declares("base", {**exp.runs["base"], "batch_size": 2}, 0)
    assert all(s.config["epochs"] == 2 for s in plan(exp, overrides={"epochs": 2}))


@pytest.mark.parametrize("cross, patterns", [
    ("[cross]\nwidth = [1, 2]\n", [r"\[cross\]", "unknown setting 'width'"]),
    ("[cross]\nbatch_size = []\n", [r"\[cross\]", "non-empty list of distinct values, got \\[\\]"]),
    ("[cross]\nbatch_size = [2, 2]\n", ["distinct values"]),
    ("[cross]\nepochs = [10]\n", ["epochs is crossed, so \\[base\\] and the variants may not set it"]),
    ("[cross]\nbatch_size = [0]\n", [r"\[variants.base\] at \{'batch_size': 0\}", "batch_size"]),
    ("cross = 3\n", [r"\[cross\]: cross must be a table of setting -> list of values, got 3"]),
])
def test_a_bad_cross_is_rejected(tmp_path, cross, patterns):
    top = cross.startswith("cross =")  # a plain key goes above [base]
    rejected(tmp_path, toml({"batch_size": None}, extra_top=cross if top else "", variants="" if top else cross),
             *patterns)


def test_a_variants_own_cross_replaces_the_top_level_one(tmp_path):
    variants = ('[variants.wide]\nlayers = [784, 256, 10]\ncross = { batch_size = [2, 4, 8] }\n\n'
                '[variants.plain]\nlayers = [784, 32, 10]\ncross = {}\n\n[cross]\nbatch_size = [1, 16]\n')
    exp = load_experiment(write(tmp_path, toml({"batch_size": None}, variants=variants)))
    assert [c["batch_size"] for c in exp.configs_of("base")] == [1, 16]
    assert [c["batch_size"] for c in exp.configs_of("wide")] == [2, 4, 8]
    assert exp.configs_of("plain") == (exp.runs["plain"],) and "cross" not in exp.runs["wide"]
    assert len(plan(exp)) == (2 + 3 + 1) * 3
    assert exp.crossed_of("wide")[1][0] == "batch_size=4" and exp.crossed_of("plain")[0][0] == ""
    rejected(tmp_path, toml({"batch_size": None}, variants='[variants.w]\ncross = { lr = [0.1] }\n'),
             r"\[variants.w\] cross: lr is crossed")
