"""The schema of one run: each kind's RUN_KEYS map a key to (type, description, check), and these
functions check a run's settings against them, with messages that name the file, table, key and value."""

from __future__ import annotations

import math


class ConfigError(ValueError):
    """A configuration that cannot be run; the message names the file, table, key and value."""


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def one_of(options):
    """A RUN_KEYS check: the value is one of `options` (shown sorted unless their order means something)."""
    shown = list(options) if isinstance(options, (list, tuple)) else sorted(options)
    return lambda v: None if v in options else f"must be one of {shown}"


def at_least(n):
    """A RUN_KEYS check: the value is >= n."""
    return lambda v: None if v >= n else f"must be >= {n}"


def positive(v):
    """A RUN_KEYS check: the value is > 0."""
    return None if v > 0 else "must be > 0"


def check_value(where: str, key: str, value, run_keys: dict):
    """`value` of `key` checked against run_keys[key] = (type, description, check); ints pass as floats."""
    if key not in run_keys:
        raise ConfigError(f"{where}: unknown key {key!r}; known keys: {', '.join(sorted(run_keys))}")
    typ, what, check = run_keys[key]
    if typ is float and is_int(value):
        value = float(value)
    if typ is float and isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: {key} = {value!r} must be a finite number")
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: {key} ({what}) must be {typ.__name__}, got {type(value).__name__} {value!r}")
    problem = check(value)
    if problem:
        raise ConfigError(f"{where}: {key} = {value!r} {problem}")
    return value


def check_keys(where: str, run: dict, run_keys: dict, defaults: dict) -> dict:
    """Defaults filled in, every key checked, none missing."""
    out = {k: check_value(where, k, v, run_keys) for k, v in {**defaults, **run}.items()}
    missing = sorted(set(run_keys) - set(out))
    if missing:
        raise ConfigError(f"{where}: missing keys {missing}")
    return out
