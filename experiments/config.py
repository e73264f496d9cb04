"""Experiment configurations (TOML files in experiments/configs/), validated before any training.

A file has a name, a description, a [base] table (one complete run configuration), seeds, and
optionally [variants.NAME] tables that each override some keys of the base (a one-factor-at-a-time
grid). Every run is (variant, seed, impl). Unknown keys, wrong types and impossible values are
rejected with a message naming the file, the table, the key, and the value.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from reference.activations import ACTIVATIONS
from reference.losses import LOSSES
from reference.network import INIT_SCHEMES

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
MNIST_D0, MNIST_CLASSES = 784, 10

# key -> (type, description, check(value) -> error text or None)
RUN_KEYS = {
    "layers": (list, "layer widths d[0..L]", lambda v: None if len(v) >= 2 and all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in v) else "must be a list of at least 2 positive integers"),
    "epochs": (int, "training epochs", lambda v: None if v >= 1 else "must be >= 1"),
    "batch_size": (int, "mini-batch size", lambda v: None if v >= 1 else "must be >= 1"),
    "lr": (float, "fixed learning rate eta", lambda v: None if v > 0 else "must be > 0"),
    "hidden": (str, "hidden activation", lambda v: None if v in ACTIVATIONS else f"must be one of {sorted(ACTIVATIONS)}"),
    "output": (str, "output activation", lambda v: None if v in ACTIVATIONS else f"must be one of {sorted(ACTIVATIONS)}"),
    "loss": (str, "loss", lambda v: None if v in LOSSES else f"must be one of {list(LOSSES)}"),
    "targets": (str, "target coding", lambda v: None if v in ("onehot", "pm1") else "must be 'onehot' (0/1) or 'pm1' (-1/+1)"),
    "init": (str, "initialisation scheme", lambda v: None if v in INIT_SCHEMES else f"must be one of {list(INIT_SCHEMES)}"),
    "init_gain": (float, "initialisation scale", lambda v: None if v > 0 else "must be > 0"),
    "input_scaling": (str, "input scaling", lambda v: None if v in ("unit", "raw", "standardised") else "must be 'unit' ([0,1]), 'raw' ([0,255]) or 'standardised'"),
    "loss_scale": (float, "constant c multiplying the pointwise error e_n (0.5: e = 1/2 sum (x-y)^2; 0.1: the mean over 10 outputs)",
                   lambda v: None if v > 0 else "must be > 0"),
    "shuffle": (bool, "reshuffle every epoch", lambda v: None),
    "dtype": (str, "float dtype", lambda v: None if v in ("float64", "float32") else "must be 'float64' or 'float32'"),
}
DEFAULTS = {
    "batch_size": 1, "targets": "onehot", "init": "lecun_normal", "init_gain": 1.0,
    "input_scaling": "unit", "shuffle": True, "dtype": "float64", "loss_scale": 1.0,
}
TOP_KEYS = {"name", "description", "seeds", "base", "variants", "kind"}


class ConfigError(ValueError):
    """A configuration file that cannot be run; the message names the file, table and key."""


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    kind: str
    seeds: tuple
    runs: dict = field(default_factory=dict)  # variant name -> complete run configuration
    path: Path | None = None
    variant_seeds: dict = field(default_factory=dict)  # variant name -> its own seeds, where it has them

    def seeds_of(self, variant: str) -> tuple:
        """The seeds a variant runs: its own `seeds` key if it has one, else the experiment's."""
        return self.variant_seeds.get(variant, self.seeds)


def _check_value(where: str, key: str, value):
    if key not in RUN_KEYS:
        raise ConfigError(f"{where}: unknown key {key!r}; known keys: {', '.join(sorted(RUN_KEYS))}")
    typ, what, check = RUN_KEYS[key]
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: {key} ({what}) must be {typ.__name__}, got {type(value).__name__} {value!r}")
    problem = check(value)
    if problem:
        raise ConfigError(f"{where}: {key} = {value!r} {problem}")
    return value


def validate_run(where: str, run: dict) -> dict:
    """Fill defaults, check every key, and check the combination (MNIST widths, loss/output)."""
    run = {**DEFAULTS, **run}
    out = {k: _check_value(where, k, v) for k, v in run.items()}
    missing = sorted(set(RUN_KEYS) - set(out))
    if missing:
        raise ConfigError(f"{where}: missing keys {missing}")
    d = out["layers"]
    if d[0] != MNIST_D0 or d[-1] != MNIST_CLASSES:
        raise ConfigError(f"{where}: layers {d} do not fit MNIST: d[0] must be {MNIST_D0} and d[L] must be {MNIST_CLASSES}")
    if out["loss"] == "cross_entropy" and out["output"] != "identity":
        raise ConfigError(f"{where}: loss cross_entropy takes the softmax of s[L], so output must be 'identity', got {out['output']!r}")
    if out["loss"] == "cross_entropy" and out["targets"] != "onehot":
        raise ConfigError(f"{where}: loss cross_entropy needs targets 'onehot', got {out['targets']!r}")
    for k in ("hidden", "output"):
        if out[k] == "sign":
            raise ConfigError(f"{where}: {k} activation 'sign' has derivative 0 everywhere and cannot be trained by gradient descent")
    return out


def _check_seeds(where: str, seeds) -> tuple:
    if not (isinstance(seeds, list) and seeds and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
        raise ConfigError(f"{where}: seeds must be a non-empty list of non-negative integers, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{where}: seeds must not repeat, got {seeds!r}")
    return tuple(seeds)


def load_experiment(path: Path) -> Experiment:
    """Parse and validate one TOML experiment file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    unknown = set(raw) - TOP_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s) {sorted(unknown)}; known: {sorted(TOP_KEYS)}")
    for key in ("name", "description", "base", "seeds"):
        if key not in raw:
            raise ConfigError(f"{path}: missing top-level key {key!r}")
    seeds = _check_seeds(f"{path}", raw["seeds"])
    if not isinstance(raw["base"], dict):
        raise ConfigError(f"{path}: [base] must be a table")
    runs = {"base": validate_run(f"{path} [base]", raw["base"])}
    variant_seeds = {}
    for name, override in raw.get("variants", {}).items():
        if not isinstance(override, dict):
            raise ConfigError(f"{path}: [variants.{name}] must be a table")
        if name == "base":
            raise ConfigError(f"{path}: a variant may not be called 'base'")
        override = dict(override)
        if "seeds" in override:
            variant_seeds[name] = _check_seeds(f"{path} [variants.{name}]", override.pop("seeds"))
        runs[name] = validate_run(f"{path} [variants.{name}]", {**raw["base"], **override})
    return Experiment(name=raw["name"], description=raw["description"], kind=raw.get("kind", "mlp"),
                      seeds=seeds, runs=runs, path=path, variant_seeds=variant_seeds)


def all_experiments() -> dict:
    """name -> Experiment for every file in experiments/configs/."""
    exps = {}
    for p in sorted(CONFIG_DIR.glob("*.toml")):
        e = load_experiment(p)
        exps[e.name] = e
    return exps
