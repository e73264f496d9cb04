"""Progress bars: shown on a terminal, silent otherwise; the samples bar's chunked epoch makes
exactly the updates of one pass over the epoch's order."""

from __future__ import annotations

import io

import numpy as np
import pytest

from experiments import mlp_run, progress


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_bar_is_silent_when_stderr_is_not_a_terminal(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    for _ in progress.progress_bar(range(50), desc="epochs"):
        pass
    assert not progress.on_terminal()
    assert err.getvalue() == ""


def test_bar_draws_on_a_terminal_and_can_be_switched_off(monkeypatch):
    term = FakeTerminal()
    monkeypatch.setattr("sys.stderr", term)
    assert progress.on_terminal()
    for _ in progress.progress_bar(range(50), desc="epochs", file=term):
        pass
    assert "epochs" in term.getvalue() and "/50" in term.getvalue()
    off = FakeTerminal()
    monkeypatch.setattr("sys.stderr", off)
    for _ in progress.progress_bar(range(50), desc="epochs", enabled=False, file=off):
        pass
    assert off.getvalue() == ""


@pytest.mark.parametrize("N,batch_size", [(60000, 1), (60000, 32), (13, 5), (5, 8), (0, 3)])
def test_epoch_chunks_cover_the_order_in_whole_mini_batches(N, batch_size):
    order = np.random.default_rng(0).permutation(N)
    chunks = mlp_run.epoch_chunks(order, batch_size)
    np.testing.assert_array_equal(np.concatenate(chunks) if chunks else np.empty(0, int), order)
    assert all(len(c) % batch_size == 0 for c in chunks[:-1])
    assert all(len(c) <= max(batch_size, mlp_run.SAMPLES_PER_CHUNK) for c in chunks)


class CountingBar:
    def __init__(self):
        self.n = 0

    def update(self, k):
        self.n += k


@pytest.mark.parametrize("impl,batch_size", [("numpy", 1), ("numpy", 7), ("torch", 7)])
def test_a_chunked_epoch_equals_one_pass(impl, batch_size, monkeypatch, small_mlp_run):
    """Chunking for the samples bar changes nothing but the summation order of the mean loss."""
    monkeypatch.setattr(mlp_run, "SAMPLES_PER_CHUNK", 50)
    N = 333
    cfg, data, W0, order = small_mlp_run(N, [784, 16, 10], impl=impl, batch_size=batch_size)
    whole, chunked = mlp_run.ENGINES[impl](cfg, W0, data), mlp_run.ENGINES[impl](cfg, W0, data)
    loss_whole = whole.epoch(order)
    bar = CountingBar()
    loss_chunked = mlp_run.run_epoch(chunked, order, batch_size, bar)
    assert bar.n == N
    assert len(mlp_run.epoch_chunks(order, batch_size)) > 1
    for l in range(1, 3):
        np.testing.assert_array_equal(chunked.weights()[l], whole.weights()[l])
    assert loss_chunked == pytest.approx(loss_whole, rel=1e-13)
