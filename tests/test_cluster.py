"""experiments.cluster on real local Dask clusters (separate worker processes on 127.0.0.1): results come
back once each, a failing run is named and the rest go on, a worker killed mid-run has its run redone,
a client that stops can be restarted over the remaining runs, and a bad scheduler address fails fast."""

from __future__ import annotations

import io
import os
import socket
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from experiments import cluster
from experiments.progress import progress_bar


@dataclass(frozen=True)
class Item:
    """A stand-in for a RunSpec: an identity with a label, and a value to compute from."""

    name: str
    value: int
    marker: str = ""  # a file path some tasks use to act differently on their first attempt

    @property
    def label(self) -> str:
        return f"grid/{self.name}"


def work(item: Item) -> dict:
    """A run: a deterministic value from the item, and the worker's process id."""
    return {"value": item.value**2 + 7 * item.value, "pid": os.getpid()}


def fail_on_three(item: Item) -> dict:
    if item.value == 3:
        raise ArithmeticError(f"value {item.value} is unlucky\nsecond line of the message")
    return work(item)


def die_once(item: Item) -> dict:
    """Kills its own worker process the first time it runs an item with a marker, mid-run."""
    if item.marker and not Path(item.marker).exists():
        Path(item.marker).write_text(str(os.getpid()))
        time.sleep(0.2)
        os._exit(1)
    return work(item)


def die_once_slow(item: Item) -> dict:
    """die_once, with runs slow enough that their reruns are still going when the reader comes back."""
    result = die_once(item)
    time.sleep(0.3)
    return result


def always_die(item: Item) -> dict:
    if item.marker:
        os._exit(1)
    return work(item)


def slow(item: Item) -> dict:
    time.sleep(0.15)
    return work(item)


def items(n: int, **kw) -> list:
    return [Item(f"v{i}", i, **kw) for i in range(n)]


def serial(fn, its) -> dict:
    return {it: fn(it)["value"] for it in its}


def collect(stream) -> tuple[dict, dict, Counter]:
    """results {item: value}, errors {item: text}, and how often each item came back."""
    results, errors, seen = {}, {}, Counter()
    for item, result, error in stream:
        seen[item] += 1
        if error is None:
            results[item] = result["value"]
        else:
            errors[item] = error
    return results, errors, seen


def wait_for_death(marker: Path, timeout: float = 30) -> None:
    """Until the process whose id die_once wrote to `marker` has exited, and a moment for Dask to notice."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if marker.exists() and marker.read_text():
            stat = Path(f"/proc/{marker.read_text()}/stat")
            if not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                time.sleep(0.5)
                return
        time.sleep(0.05)
    raise TimeoutError(f"the worker never killed itself within {timeout} s ({marker})")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_result_comes_back_once_from_separate_worker_processes():
    its = items(8)
    out = list(cluster.iterate(slow, its, workers=2, progress=False))
    assert Counter(item for item, _, _ in out) == Counter(its)
    assert all(error is None for _, _, error in out)
    assert {item: r["value"] for item, r, _ in out} == serial(work, its)
    pids = {r["pid"] for _, r, _ in out}
    assert len(pids) == 2 and os.getpid() not in pids, pids


def test_a_failing_run_is_named_and_the_others_complete():
    its = items(6)
    results, errors, seen = collect(cluster.iterate(fail_on_three, its, workers=2, progress=False))
    assert set(seen) == set(its) and max(seen.values()) == 1
    bad = its[3]
    assert errors == {bad: "grid/v3: ArithmeticError: value 3 is unlucky"}
    assert results == {it: v for it, v in serial(work, its).items() if it != bad}


def test_a_worker_killed_mid_run_has_its_run_rescheduled(tmp_path):
    marker = tmp_path / "killed-once"
    its = items(6)
    its[2] = Item("v2", 2, marker=str(marker))
    out = list(cluster.iterate(die_once, its, workers=2, progress=False))
    assert marker.exists(), "the task never killed its worker: the test proved nothing"
    killed_pid = int(marker.read_text())
    assert Counter(item for item, _, _ in out) == Counter(its)
    assert all(error is None for _, _, error in out), [e for _, _, e in out if e]
    assert {item: r["value"] for item, r, _ in out} == serial(work, its)
    assert dict((item, r["pid"]) for item, r, _ in out)[its[2]] != killed_pid


def test_results_lost_with_a_killed_worker_before_the_client_read_them_come_back_once(tmp_path):
    marker = tmp_path / "killed-once"
    its = items(5) + [Item("killer", 5, marker=str(marker))]
    out = []
    for item, result, error in cluster.iterate(die_once_slow, its, workers=1, progress=False):
        out.append((item, result, error))
        if len(out) == 1:  # a slow reader: the worker runs ahead, holding results, then dies
            wait_for_death(marker)
    killed_pid = int(marker.read_text())
    assert Counter(item for item, _, _ in out) == Counter(its)
    assert all(error is None for _, _, error in out), [e for _, _, e in out if e]
    assert {item: r["value"] for item, r, _ in out} == serial(work, its)
    redone = [item for item, r, _ in out[1:] if r["pid"] != killed_pid]
    assert len(redone) == len(its) - 1, "results held by the dead worker were not recomputed: nothing was tested"


@pytest.mark.slow
def test_a_run_that_kills_every_worker_is_reported_after_the_allowed_failures(tmp_path):
    its = items(3)
    its[1] = Item("v1", 1, marker="always")
    results, errors, seen = collect(cluster.iterate(always_die, its, workers=2, progress=False))
    assert set(seen) == set(its) and max(seen.values()) == 1
    assert list(errors) == [its[1]] and errors[its[1]].startswith("grid/v1: KilledWorker:"), errors
    assert results == {it: v for it, v in serial(work, its).items() if it != its[1]}


def test_a_stopped_client_restarted_over_the_remaining_runs_completes_them():
    its = items(8)
    first = {}
    stream = cluster.iterate(slow, its, workers=2, progress=False)
    for item, result, error in stream:
        assert error is None
        first[item] = result["value"]
        if len(first) == 3:
            break
    stream.close()  # what a killed client leaves: some rows, the other runs never returned
    remaining = [it for it in its if it not in first]
    results, errors, seen = collect(cluster.iterate(slow, remaining, workers=2, progress=False))
    assert not errors and set(seen) == set(remaining) and max(seen.values()) == 1
    assert {**first, **results} == serial(work, its)


CLIENT = """
import json, sys, time
from experiments import cluster
from test_cluster import Item, work

def run(item):
    time.sleep(1.0)
    return work(item)

with open(sys.argv[1], "a") as rows:
    for item, result, error in cluster.iterate(run, [Item(f"v{i}", i) for i in range(8)], workers=2, progress=False):
        rows.write(json.dumps([item.name, result["value"]]) + "\\n")
        rows.flush()
"""


@pytest.mark.slow
def test_a_killed_client_takes_its_local_workers_with_it_and_a_new_one_runs_the_rest(tmp_path):
    import json
    import signal
    import subprocess
    import sys

    import psutil

    rows = tmp_path / "rows.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    client = subprocess.Popen([sys.executable, "-c", CLIENT, str(rows)], env=env)
    try:
        t0 = time.perf_counter()
        while not (rows.exists() and rows.read_text()) and time.perf_counter() - t0 < 60:
            time.sleep(0.05)
        workers = psutil.Process(client.pid).children(recursive=True)
        assert len(workers) >= 2, workers
        client.send_signal(signal.SIGKILL)
        client.wait(10)
    finally:
        client.kill()
    _, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive, f"worker processes outlived their killed client: {alive}"
    first = {name: value for name, value in map(json.loads, rows.read_text().splitlines())}
    its = items(8)
    assert 1 <= len(first) < len(its)
    remaining = [it for it in its if it.name not in first]
    results, errors, seen = collect(cluster.iterate(work, remaining, workers=2, progress=False))
    assert not errors and set(seen) == set(remaining) and max(seen.values()) == 1
    assert {**{it: first[it.name] for it in its if it.name in first}, **results} == serial(work, its)


def test_a_remote_scheduler_runs_the_grid_the_same_way():
    from distributed import LocalCluster

    its = items(5)
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as remote:
        results, errors, seen = collect(cluster.iterate(fail_on_three, its, scheduler=remote.scheduler_address,
                                                        progress=False))
        assert len(remote.scheduler.workers) == 2  # the remote cluster outlives the grid: not ours to close
    assert set(seen) == set(its) and max(seen.values()) == 1
    assert list(errors) == [its[3]]
    assert results == {it: v for it, v in serial(work, its).items() if it != its[3]}


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:{port}", "nonsense"])
def test_an_unreachable_scheduler_is_one_line_within_seconds(address):
    address = address.format(port=free_port())
    t0 = time.perf_counter()
    with pytest.raises(cluster.SchedulerUnreachable) as info:
        next(cluster.iterate(work, items(2), scheduler=address, progress=False))
    took = time.perf_counter() - t0
    message = str(info.value)
    assert took < cluster.CONNECT_TIMEOUT_S + 3, took
    assert address in message and "\n" not in message, message
    assert isinstance(info.value, cluster.ClusterError) and isinstance(info.value, ConnectionError)


@pytest.mark.parametrize("workers", [0, -2, 1.5, True, "2"])
def test_workers_below_one_or_not_an_integer_are_refused(workers):
    expected = r"--workers must be an integer >= 1, got " + repr(workers).replace(".", r"\.")
    with pytest.raises(ValueError, match=expected):
        next(cluster.iterate(work, items(1), workers=workers))


def test_a_run_that_cannot_be_sent_to_workers_is_named_before_any_cluster_starts():
    import threading

    bad = Item("v1", 1, marker=threading.Lock())
    with pytest.raises(TypeError, match=r"^run grid/v1 cannot be sent to Dask workers: TypeError: cannot pickle"):
        next(cluster.iterate(work, [Item("v0", 0), bad], workers=1, progress=False))
    lock = threading.Lock()
    with pytest.raises(TypeError, match=r"^the function cannot be sent"):
        next(cluster.iterate(lambda item: (item, lock), items(1), workers=1, progress=False))


def test_one_worker_and_no_items():
    assert list(cluster.iterate(work, [], workers=1)) == []
    out = list(cluster.iterate(work, items(2), workers=1, progress=False))
    assert {item: r["value"] for item, r, _ in out} == serial(work, items(2))


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_counts_runs_and_the_dashboard_line_is_printed(monkeypatch):
    term, bars = FakeTerminal(), []

    def recorded(**kw):
        bar = progress_bar(**kw)
        bars.append((bar, bar.disable))
        return bar

    monkeypatch.setattr("sys.stderr", term)
    monkeypatch.setattr(cluster, "progress_bar", recorded)
    list(cluster.iterate(work, items(3), workers=1, desc="grid"))
    text = term.getvalue()
    assert text.startswith("dask: 1 worker on a local cluster; "), text
    assert ("dashboard http" in text) == cluster.dashboard_available()
    assert "grid:" in text and [(b.n, b.total, off) for b, off in bars] == [(3, 3, False)]


def test_the_benchmark_run_is_a_deterministic_training_that_learns():
    from experiments.bench.cluster import ShortRun, short_run

    first, again, other = short_run(ShortRun(0, 5)), short_run(ShortRun(0, 5)), short_run(ShortRun(1, 5))
    assert first == again and first != other
    assert first["train_accuracy"] > 0.5 > short_run(ShortRun(0, 0))["train_accuracy"]  # 10 classes: chance 0.1


@pytest.mark.slow
def test_the_benchmark_rows_compare_the_paths_on_the_same_results():
    from experiments.bench.cluster import rows

    out = rows(rounds=1, n_runs=2, epochs=2)
    assert [(r["path"], r["workers"]) for r in out] == [
        ("direct", 1), ("dask", 1), ("dask", 2), ("process pool (control, no Dask)", 2), ("direct", 1), ("dask", 1),
        ("dask - direct", 1), ("dask - direct", 1)]
    assert all(r["seconds"] > 0 for r in out[:6])
    assert out[2]["ratio"] == pytest.approx(out[1]["seconds"] / out[2]["seconds"])
    assert out[3]["ratio"] == pytest.approx(out[0]["seconds"] / out[3]["seconds"])
    assert out[6]["seconds"] == pytest.approx(out[1]["seconds"] - out[0]["seconds"])
    assert out[7]["seconds"] == pytest.approx(out[5]["seconds"] - out[4]["seconds"])
