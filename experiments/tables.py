"""Reading back the CSV tables and curves the runs write, with one clear line when a file is malformed."""

from __future__ import annotations


class TableError(ValueError):
    """A table or curve file that cannot be read back; the message names the file, the line and what to do."""


def read_table(path, **kwargs):
    """pandas.read_csv of a table or curve written here; a malformed file (one bad line, a cut-off write, bytes
    that are not text) is one TableError naming the file, the problem and what to do."""
    import pandas as pd

    try:
        df = pd.read_csv(path, **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        detail = str(e).strip().splitlines()[-1].removeprefix("Error tokenizing data. C error: ")
        raise TableError(f"{path}: not a readable CSV table ({detail}); fix or delete the bad line (a run whose "
                         f"row is missing runs again), or move the file away") from None
    check_seeds_column(df, path)
    return df


def check_seeds_column(df, path) -> None:
    """TableError naming the line of a seed beyond 2**63-1 (a row from before seeds were checked): pandas reads
    such a column as text or unsigned, and every report of the folder would fail on it."""
    from experiments.config import MAX_SEED

    if "seed" not in df or df["seed"].dtype.kind in "if":  # int64, or float where some rows have no seed
        return
    for line, seed in enumerate(df["seed"], start=2):
        try:
            ok = 0 <= int(seed) <= MAX_SEED
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise TableError(f"{path}: line {line} has seed {seed}, outside 0..2**63-1 (a run from before seeds "
                             f"were checked); delete that line")


def configurations(df, keys):
    """A label per row naming its resolved configuration (every run key's value, the implementation
    included): the variant's name, or, where rows of one variant differ in a setting, the name with the
    settings that differ. Runs are never pooled across settings, whatever their variant is called."""
    import pandas as pd

    cols = list(dict.fromkeys(k for k in keys if k in df.columns))  # a key named twice is one setting
    text = df[cols].apply(lambda c: c.map(str))  # NaN (a setting not recorded or not applying) as "nan"
    ident = text.agg("|".join, axis=1)
    labels = pd.Series(df["variant"].astype(str).values, index=df.index)
    for variant, g in df.groupby("variant", sort=False):
        if ident[g.index].nunique() > 1:
            differ = [c for c in cols if text.loc[g.index, c].nunique() > 1]
            labels[g.index] = [f"{variant} ({', '.join(f'{c}={r[c]}' for c in differ)})" for _, r in g.iterrows()]
    return labels
