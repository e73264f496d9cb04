"""Progress bars for long work: shown on a terminal, silent when stderr is a file or a pipe.

One helper serves every long loop (training epochs, samples within an epoch, runs of a grid,
CNN steps) so that "quiet when not on a terminal" holds everywhere alike.
"""

from __future__ import annotations

import sys


def on_terminal() -> bool:
    """True when stderr (where tqdm draws) is an interactive terminal."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def progress_bar(iterable=None, *, total: int | None = None, desc: str = "", enabled: bool = True, **kw):
    """A tqdm bar over `iterable` (or a manual one of `total` steps), disabled unless `enabled`
    and stderr is a terminal.  Extra keywords go to tqdm (position, unit, initial, leave...)."""
    from tqdm import tqdm

    kw.setdefault("leave", False)
    return tqdm(iterable, total=total, desc=desc, disable=not (enabled and on_terminal()), **kw)
