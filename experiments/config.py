"""Experiment configurations: TOML files in experiments/configs/, validated before any training.

A file has a name, a description, a kind (mlp, cnn, faces: experiments/kinds.py), seeds, a [base]
table (one complete run of that kind) and optionally [variants.NAME] tables that each override some
keys of the base, with their own `seeds` if they need them. An optional [cross] table lists values of
settings that every variant runs at each of (e.g. `inner_fold = [0, 1, 2]`: inner cross-validation); a
variant's own `cross = {...}` replaces it for that variant ({} for none). A variant then stands for one run
per combination and seed, each its own configuration and run_id. Unknown
keys, wrong types and impossible values are rejected with a message naming the file, the table, the key and
the value. One broken file never hides the others: scan() reports it beside the good ones.
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from experiments.kinds import Kind, kind_of
from experiments.schema import ConfigError, at_least, check_keys, check_value, is_int, one_of, positive  # noqa: F401

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
TOP_KEYS = {"name", "description", "kind", "seeds", "base", "variants", "table", "report", "cross"}
# NumPy's generators take any seed >= 0 and torch.manual_seed up to 2**64 - 1, but every table stores the
# seed as a 64-bit signed integer (pandas int64): a larger seed would train, then break every report
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    kind: Kind
    seeds: tuple
    runs: dict = field(default_factory=dict)  # variant name -> complete run configuration
    path: Path | None = None
    variant_seeds: dict = field(default_factory=dict)  # variant name -> its own seeds, where it has them
    table: str = ""
    varied: tuple = ()  # the run keys some variant sets, in the kind's order: the columns of its reports
    report: str | None = None  # which of the kind's reports this experiment's runs get (None: only the table)
    cross: dict = field(default_factory=dict)  # key -> the values every variant runs at ([cross])
    crossed: dict = field(default_factory=dict)  # variant -> (("key=value", configuration), ...) where it is crossed

    def configs_of(self, variant: str) -> tuple:
        """The configurations a variant runs: one per combination of its cross values, else its own."""
        return tuple(c for _, c in self.crossed_of(variant))

    def crossed_of(self, variant: str) -> tuple:
        """((its cross values as "key=value,...", configuration), ...); ("", its configuration) when not crossed."""
        return self.crossed.get(variant, (("", self.runs[variant]),))

    def seeds_of(self, variant: str) -> tuple:
        """The seeds a variant runs: its own `seeds` key if it has one, else the experiment's."""
        return self.variant_seeds.get(variant, self.seeds)

    def declares(self, variant: str, config: dict, seed: int) -> bool:
        """True when (config, seed) is a run this experiment itself declares (then it may go in results/)."""
        return variant in self.runs and config in self.configs_of(variant) and seed in self.seeds_of(variant)


def seed_too_large(seeds) -> str | None:
    """The message for the first seed above MAX_SEED, if any."""
    big = [s for s in seeds if is_int(s) and s > MAX_SEED]
    return f"seed {big[0]} is too large: seeds go up to 2**63-1 = {MAX_SEED} (the tables store 64-bit integers)" \
        if big else None


def check_seeds(where: str, seeds) -> tuple:
    if not (isinstance(seeds, list) and seeds and all(is_int(s) and s >= 0 for s in seeds)):
        raise ConfigError(f"{where}: seeds must be a non-empty list of non-negative integers, got {seeds!r}")
    if seed_too_large(seeds):
        raise ConfigError(f"{where}: {seed_too_large(seeds)}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{where}: seeds must not repeat, got {seeds!r}")
    return tuple(seeds)


def read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start}); save it as "
                          f"UTF-8") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None


def top_level(path: Path, raw: dict):
    """Check the top-level keys, the name and [base]; the experiment's Kind."""
    unknown = set(raw) - TOP_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s) {sorted(unknown)}; known: {sorted(TOP_KEYS)}")
    for key in ("name", "description", "kind", "base", "seeds"):
        if key not in raw:
            raise ConfigError(f"{path}: missing top-level key {key!r}")
    try:
        kind = kind_of(raw["kind"])
    except ValueError as e:
        raise ConfigError(f"{path}: kind: {e}") from None
    if not isinstance(raw["name"], str) or not raw["name"]:
        raise ConfigError(f"{path}: name must be a non-empty string, got {raw['name']!r}")
    if not isinstance(raw["base"], dict):
        raise ConfigError(f"{path}: [base] must be a table")
    return kind


def variant_runs(path: Path, raw: dict, kind) -> tuple[dict, dict, set, dict]:
    """(name -> validated settings of base and every variant, variant -> its seeds, keys the variants set,
    variant -> its own cross table)."""
    runs = {"base": kind.validate(f"{path} [base]", raw["base"])}
    variant_seeds, mentioned, own = {}, set(), {}
    variants = raw.get("variants", {})
    if not isinstance(variants, dict):
        raise ConfigError(f"{path}: [variants] must be a table of tables")
    for name, override in variants.items():
        if not isinstance(override, dict):
            raise ConfigError(f"{path}: [variants.{name}] must be a table")
        if name == "base":
            raise ConfigError(f"{path}: a variant may not be called 'base'")
        override = dict(override)
        if "seeds" in override:
            variant_seeds[name] = check_seeds(f"{path} [variants.{name}]", override.pop("seeds"))
        if "cross" in override:
            own[name] = override.pop("cross")
        mentioned |= set(override)
        runs[name] = kind.validate(f"{path} [variants.{name}]", {**raw["base"], **override})
    return runs, variant_seeds, mentioned, own


def check_cross(where: str, cross, kind, fixed: set) -> dict:
    """A cross table: known settings, each a non-empty list of distinct values, none set in `fixed`."""
    if not isinstance(cross, dict):
        raise ConfigError(f"{where}: cross must be a table of setting -> list of values, got {cross!r}")
    for key, values in cross.items():
        if key not in kind.run_keys:
            raise ConfigError(f"{where}: unknown setting {key!r} of kind {kind.name!r}")
        if not (isinstance(values, list) and values) or len({repr(v) for v in values}) != len(values):
            raise ConfigError(f"{where}: {key} must be a non-empty list of distinct values, got {values!r}")
        if key in fixed:
            raise ConfigError(f"{where}: {key} is crossed, so [base] and the variants may not set it")
    return cross


def cross_of(path: Path, raw: dict, kind, runs: dict, mentioned: set, own: dict) -> tuple[dict, dict]:
    """([cross] key -> values, variant -> ((its values as "key=value,...", its validated configuration), ...)):
    each variant at every combination of its own `cross` (own) or else the top-level [cross]."""
    fixed = mentioned | set(raw["base"])
    cross = check_cross(f"{path} [cross]", raw.get("cross", {}), kind, fixed)
    crossed = {}
    for name, cfg in runs.items():
        mine = check_cross(f"{path} [variants.{name}] cross", own[name], kind, fixed) if name in own else cross
        combos = [dict(zip(mine, c)) for c in itertools.product(*mine.values())] if mine else []
        if combos:
            crossed[name] = tuple((",".join(f"{k}={v}" for k, v in c.items()),
                                   kind.validate(f"{path} [variants.{name}] at {c}", {**cfg, **c})) for c in combos)
    return cross, crossed


def table_and_report(path: Path, raw: dict, kind) -> tuple[str, str | None]:
    table = raw.get("table", kind.table)
    if not isinstance(table, str) or not table.replace("_", "").replace("-", "").isalnum():
        raise ConfigError(f"{path}: table must be a plain file name (letters, digits, - and _), got {table!r}")
    report = raw.get("report", next(iter(kind.reports), None))
    if report is not None and report not in kind.reports:
        raise ConfigError(f"{path}: report {report!r} is not one of kind {kind.name!r}'s reports "
                          f"{sorted(kind.reports) or '(none)'}")
    return table, report


def load_experiment(path: Path) -> Experiment:
    """Parse and validate one TOML experiment file."""
    path = Path(path)
    raw = read_toml(path)
    kind = top_level(path, raw)
    seeds = check_seeds(f"{path}", raw["seeds"])
    runs, variant_seeds, mentioned, own = variant_runs(path, raw, kind)
    cross, crossed = cross_of(path, raw, kind, runs, mentioned, own)
    table, report = table_and_report(path, raw, kind)
    return Experiment(name=raw["name"], description=raw["description"], kind=kind, seeds=seeds, runs=runs,
                      path=path, variant_seeds=variant_seeds, table=table,
                      varied=tuple(k for k in kind.run_keys if k in mentioned), report=report, cross=cross,
                      crossed=crossed)


def scan(folder: Path | None = None) -> tuple[dict, dict]:
    """(name -> Experiment, file -> reason) over every TOML file: broken files and duplicate names are
    reported, never silently dropped or shadowed."""
    good, broken, seen = {}, {}, {}
    for p in sorted(Path(folder or CONFIG_DIR).glob("*.toml")):
        try:
            e = load_experiment(p)
        except ConfigError as err:
            broken[p] = str(err)
            continue
        if e.name in seen:
            broken[p] = f"{p}: name {e.name!r} is already used by {seen[e.name]}"
            good.pop(e.name, None)
            broken.setdefault(seen[e.name], f"{seen[e.name]}: name {e.name!r} is also used by {p}")
            continue
        seen[e.name] = p
        good[e.name] = e
    return good, broken


def get_experiment(name: str, folder: Path | None = None) -> Experiment:
    """The experiment called `name`; a ConfigError naming it, its file's problem, or the known names."""
    good, broken = scan(folder)
    if name in good:
        return good[name]
    for path, reason in broken.items():
        if path.stem == name or f"name {name!r}" in reason:
            raise ConfigError(reason)
    raise ConfigError(f"unknown experiment {name!r}; known: {', '.join(sorted(good)) or '(none)'}"
                      + (f"; broken files: {', '.join(p.name for p in broken)}" if broken else ""))


def all_experiments(folder: Path | None = None) -> dict:
    """name -> Experiment; raises the first problem if any file is broken (for code that needs them all)."""
    good, broken = scan(folder)
    if broken:
        raise ConfigError(next(iter(broken.values())))
    return good
