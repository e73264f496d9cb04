"""Progress bars: shown on a terminal, silent otherwise; the training loop's chunked epoch (the samples
bar advances once per chunk) makes exactly the updates of one pass over the epoch's order."""

from __future__ import annotations

import io

import numpy as np
import pytest

from experiments import progress, train
from experiments.mnist import mlp


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
    chunks = train.epoch_chunks(order, batch_size)
    np.testing.assert_array_equal(np.concatenate(chunks) if chunks else np.empty(0, int), order)
    assert all(len(c) % batch_size == 0 for c in chunks[:-1])
    assert all(len(c) <= max(batch_size, train.SAMPLES_PER_CHUNK) for c in chunks)


class CountingBar:
    def __init__(self):
        self.n = 0

    def update(self, k):
        self.n += k


@pytest.mark.parametrize("impl,batch_size,engine", [("numpy", 1, "numpy-compiled-batch1"),
                                                    ("numpy", 7, "numpy-readable"), ("torch", 7, "torch-eager")])
def test_a_chunked_epoch_equals_one_pass(impl, batch_size, engine, monkeypatch, small_mlp_run):
    """Chunking for the samples bar changes nothing but the summation order of the mean loss."""
    monkeypatch.setattr(train, "SAMPLES_PER_CHUNK", 50)
    N = 333
    cfg, data, W0, order = small_mlp_run(N, [784, 16, 10], impl=impl, batch_size=batch_size)
    whole, chunked = mlp.engine(cfg, W0, data), mlp.engine(cfg, W0, data)
    assert whole.name == engine
    loss_whole = whole.epoch(order, 1)
    bar = CountingBar()
    loss_chunked = train.run_epoch(chunked, order, 1, batch_size, bar)
    assert bar.n == N
    assert len(train.epoch_chunks(order, batch_size)) > 1
    for k, w in whole.snapshot().items():
        np.testing.assert_array_equal(chunked.snapshot()[k], w)
        assert np.abs(w - W0[int(k[1:])]).max() > 1e-6  # the epoch really trained
    assert loss_chunked == pytest.approx(loss_whole, rel=1e-13)
