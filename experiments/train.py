"""One training loop for every engine: sample order, checkpoints, curves, progress, resume.

An engine (experiments/engines/) trains on its own data: `epoch(order, epoch) -> mean loss`,
`accuracy() -> test accuracy`, `snapshot() -> {name: array}`, `restore(snapshot)`, and `name`.
The loop asks `order_for(epoch)` for each epoch's sample order (epochs count from 1), so a run
resumed from its checkpoint continues exactly as an uninterrupted one would.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.progress import progress_bar
from experiments.provenance import write_csv_atomic

SAMPLES_PER_CHUNK = 6000  # the samples bar advances once per chunk of whole mini-batches



def order_for(seed: int, epoch: int, n: int) -> np.ndarray:
    """Epoch `epoch`'s order (from 1): the epoch-th permutation drawn from default_rng(seed)."""
    rng = np.random.default_rng(seed)
    for _ in range(epoch - 1):
        rng.permutation(n)
    return rng.permutation(n)


def save_checkpoint(path: Path, snapshot: dict, epoch: int, curve: list, run_id: str, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, _epoch=epoch, _run_id=run_id, _seconds=seconds, _curve=json.dumps(curve),
             **{f"p_{k}": v for k, v in snapshot.items()})
    os.replace(tmp, path)


def load_checkpoint(path: Path, run_id: str) -> dict | None:
    """The checkpoint at `path` if it belongs to `run_id`, else None (a file of another run is never resumed)."""
    if not path.exists():
        return None
    with np.load(path) as z:
        if str(z["_run_id"]) != run_id:
            return None
        return {"snapshot": {k[2:]: z[k] for k in z.files if k.startswith("p_")}, "epoch": int(z["_epoch"]),
                "curve": json.loads(str(z["_curve"])), "seconds": float(z["_seconds"])}


def save_snapshot(path: Path, snapshot: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **snapshot)
    os.replace(tmp, path)


def epoch_chunks(order: np.ndarray, batch_size: int) -> list:
    """`order` cut into consecutive chunks of whole mini-batches (about SAMPLES_PER_CHUNK samples):
    training chunk after chunk makes exactly the updates of one pass over `order`."""
    size = max(batch_size, SAMPLES_PER_CHUNK // batch_size * batch_size)
    return [order[i:i + size] for i in range(0, len(order), size)]


def run_epoch(engine, order: np.ndarray, epoch: int, batch_size: int, samples_bar) -> float:
    """One epoch over `order`, chunk by chunk, advancing `samples_bar`; the mean loss over its mini-batches."""
    total, batches = 0.0, 0
    for chunk in epoch_chunks(order, batch_size):
        n = -(-len(chunk) // batch_size)
        total += engine.epoch(chunk, epoch) * n
        batches += n
        samples_bar.update(len(chunk))
    return total / max(batches, 1)


def finite(snapshot: dict) -> bool:
    return all(np.all(np.isfinite(v)) for v in snapshot.values())


def train(engine, *, run_id: str, label: str, epochs: int, batch_size: int, n_train: int,
          order_for: Callable[[int], np.ndarray], checkpoint: Path, curve_path: Path | None = None,
          final_path: Path | None = None, progress: bool = False) -> dict:
    """Train `engine` to `epochs` (resuming from `checkpoint` when it is this run's); the result fields.

    Each epoch appends (epoch, train_loss, test_acc, seconds, status) to the curve, written atomically
    to `curve_path`, and checkpoints. A non-finite loss or weight ends the run with status 'diverged'.
    """
    start, curve, seconds = 0, [], 0.0
    ck = load_checkpoint(checkpoint, run_id)
    if ck is not None:
        engine.restore(ck["snapshot"])
        start, curve, seconds = ck["epoch"], ck["curve"], ck["seconds"]
    status = curve[-1]["status"] if curve else "ok"
    epochs_bar = progress_bar(range(start + 1, epochs + 1), desc=label, enabled=progress, initial=start,
                              total=epochs, unit="epoch")
    samples_bar = progress_bar(total=n_train, desc="samples", enabled=progress, unit="sample", position=1,
                               unit_scale=True)
    with epochs_bar as bar, samples_bar as samples:
        for epoch in bar:
            if status != "ok":
                break
            samples.reset(total=n_train)
            t0 = time.perf_counter()
            loss = run_epoch(engine, order_for(epoch), epoch, batch_size, samples)
            seconds += time.perf_counter() - t0
            snapshot = engine.snapshot()
            ok = bool(np.isfinite(loss)) and finite(snapshot)
            status = "ok" if ok else "diverged"
            acc = engine.accuracy() if ok else float("nan")
            curve.append({"epoch": epoch, "train_loss": float(loss), "test_acc": acc, "seconds": seconds,
                          "status": status})
            bar.set_postfix(test_acc=f"{acc:.4f}")
            if curve_path is not None:
                write_csv_atomic(pd.DataFrame(curve), curve_path)
            save_checkpoint(checkpoint, snapshot, epoch, curve, run_id, seconds)  # the commit point of the epoch
    if final_path is not None:
        save_snapshot(final_path, engine.snapshot())
    accs = [c["test_acc"] for c in curve]
    return {
        "engine": engine.name, "status": status, "epochs_done": len(curve),
        "final_test_acc": accs[-1] if accs else float("nan"),
        "best_test_acc": float(np.nanmax(accs)) if accs and not np.all(np.isnan(accs)) else float("nan"),
        "final_train_loss": curve[-1]["train_loss"] if curve else float("nan"),
        "train_seconds": seconds, "seconds_per_epoch": seconds / max(len(curve), 1),
    }
