"""Grids of runs on Dask: one execution path for a local cluster and for a remote scheduler.

    for item, result, error in iterate(fn, items, workers=N):          # N local worker processes
    for item, result, error in iterate(fn, items, scheduler="tcp://host:8786"):   # an existing cluster

Each item becomes one task `fn(item)`; pairs come back as tasks finish, so the caller (the only writer
of results) can record each one at once. A task that raises is reported as one line naming the item's
label, and the other tasks go on. A worker process that dies mid-task (killed, out of memory, node lost)
has its task rescheduled on another worker by the scheduler, up to its `allowed-failures` setting
(Dask's default 3, ALLOWED_FAILURES here for a local cluster); past it the item is reported as failed.

What workers need: `fn` and the items are pickled (cloudpickle), so the worker must import the project:
the same code installed on every worker, and the data each run reads, either fetched and verified by each
worker itself or on storage they share (MNIST_DIR, the face cache). Local workers are spawned processes,
so a script that starts a local cluster must do so under `if __name__ == "__main__":`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator

from experiments.progress import progress_bar
from experiments.threads import THREAD_VARIABLES

ALLOWED_FAILURES = 3  # worker deaths one task may survive before it is reported as failed
CONNECT_TIMEOUT_S = 3  # an unreachable scheduler is reported after this long
DASHBOARD_ADDRESS = "127.0.0.1:8787"  # a busy port makes Dask pick another; the link printed is the real one
WORKER_ENV = {var: "1" for var in THREAD_VARIABLES}  # one BLAS/OpenMP thread per single-threaded worker


class ClusterError(ConnectionError):
    """A cluster a user named cannot be used (a user's mistake: one line naming it, exit 2)."""


class SchedulerUnreachable(ClusterError):
    """No Dask scheduler answered at the address given."""


def label_of(item) -> str:
    """The item's `label` (a RunSpec's "experiment/variant/seed0"), else its str."""
    label = getattr(item, "label", None)
    return str(label if label is not None else item)


def exception_text(exc: BaseException) -> str:
    """ "Type: first line of the message" (or just the type)."""
    message = str(exc).strip().splitlines()
    return type(exc).__name__ + (f": {message[0]}" if message else "")


def error_line(item, exc: BaseException) -> str:
    """One line naming the item and the exception: "label: Type: first line of the message"."""
    return f"{label_of(item)}: {exception_text(exc)}"


def check_workers(workers) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"--workers must be an integer >= 1, got {workers!r}")
    return workers


@contextlib.contextmanager
def quiet_dask(level: int = logging.ERROR):
    """Dask's INFO/WARNING chatter (worker restarts, closed streams at shutdown) off, restored after."""
    loggers = [logging.getLogger(name) for name in ("distributed", "bokeh", "tornado")]
    before = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(level)
    try:
        yield
    finally:
        for lg, lvl in zip(loggers, before):
            lg.setLevel(lvl)


def check_picklable(fn: Callable, items: list) -> None:
    """TypeError naming what cannot be sent to a worker (Dask's own error names only its task graph)."""
    import cloudpickle

    for what, obj in [("the function", fn), *((f"run {label_of(item)}", item) for item in items)]:
        try:
            cloudpickle.dumps(obj)
        except Exception as exc:
            raise TypeError(f"{what} cannot be sent to Dask workers: {type(exc).__name__}: {exc}") from exc


def dashboard_available() -> bool:
    """Dask serves its dashboard only when bokeh is installed."""
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return False
    return True


def check_address(scheduler: str) -> None:
    """SchedulerUnreachable for an address Dask cannot parse (no port, unknown scheme), before any Client exists:
    a Client that fails inside its constructor waits 6 s in its __del__ and prints a TimeoutError traceback."""
    from distributed.comm import registry
    from distributed.comm.addressing import normalize_address, parse_address

    try:
        address = normalize_address(scheduler)
        registry.get_backend(parse_address(address)[0]).get_address_host_port(address)
    except (ValueError, TypeError) as exc:
        raise SchedulerUnreachable(f"--scheduler {scheduler!r} is not a Dask scheduler address: {exc}") from None
    except NotImplementedError:  # a transport without host:port (inproc): the Client decides
        pass


def connect(scheduler: str, timeout: float = CONNECT_TIMEOUT_S):
    """A Client of the scheduler at `scheduler`, or SchedulerUnreachable naming it within `timeout` s."""
    from distributed import Client

    check_address(scheduler)
    try:
        return Client(scheduler, timeout=timeout, set_as_default=False)
    except ValueError as exc:  # malformed address, e.g. no port
        raise SchedulerUnreachable(f"--scheduler {scheduler!r} is not a Dask scheduler address: {exc}") from exc
    except OSError as exc:  # refused, timed out, unknown host: Dask retries them all until the timeout
        raise SchedulerUnreachable(f"--scheduler {scheduler!r}: no Dask scheduler answered in {timeout:g} s") from exc
    except Exception as exc:  # something answered that does not speak Dask's protocol
        raise SchedulerUnreachable(
            f"--scheduler {scheduler!r}: what answered is not a Dask scheduler ({exception_text(exc)})"
        ) from exc


@contextlib.contextmanager
def workers_ignore_ctrl_c():
    """SIGINT ignored while the local workers are spawned, so they inherit SIG_IGN: Ctrl-C at a terminal reaches
    the whole process group, and workers that raise KeyboardInterrupt mid-import or mid-task print tracebacks while
    this process is already closing them cleanly. (A Ctrl-C during these few seconds is not seen.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def quiet_resource_tracker() -> None:
    """A worker killed mid-task leaves semaphores that multiprocessing's resource tracker (a process of its own,
    started later with this environment) frees at exit, warning "There appear to be N leaked semaphore objects":
    freeing them is all there is to do, so the warning is off (a caller's own PYTHONWARNINGS is kept)."""
    os.environ.setdefault("PYTHONWARNINGS", "ignore::UserWarning:multiprocessing.resource_tracker")


def silence_worker_logs() -> None:
    """Run on each local worker just before shutdown: a heartbeat that meets the closing scheduler logs a
    CommClosedError traceback that means nothing."""
    logging.getLogger("distributed").setLevel(logging.CRITICAL)


def close_local(cluster, client) -> None:
    """Close a local cluster without the tracebacks of its shutdown races (heartbeats, closed comms; after a Ctrl-C
    the scheduler can log a failed broadcast to a worker whose comm is already closed)."""
    with quiet_dask(logging.CRITICAL):
        with contextlib.suppress(Exception):
            client.run(silence_worker_logs)
        client.close()
        cluster.close()


def start_local(workers: int):
    """A LocalCluster of `workers` single-threaded worker processes on 127.0.0.1 and its Client."""
    import dask
    from distributed import Client, LocalCluster

    settings = {  # Dask's frequent wake-ups take the GIL from a pure-Python run: a few % of its time
        "distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
        "distributed.worker.profile.enabled": False,  # a stack sample every 10 ms, for the dashboard
        "distributed.admin.tick.interval": "1s",  # 20 ms by default, only to warn of a blocked event loop
        "distributed.admin.system-monitor.interval": "2s",  # 500 ms by default, for the dashboard's plots
    }
    quiet_resource_tracker()
    with dask.config.set(settings), warnings.catch_warnings(), workers_ignore_ctrl_c():
        warnings.filterwarnings("ignore", message=".*[Pp]ort .* is already in use.*")
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=DASHBOARD_ADDRESS if dashboard_available() else None,
            silence_logs=logging.ERROR, env=WORKER_ENV,
        )
    try:
        return cluster, Client(cluster, set_as_default=False)
    except BaseException:
        cluster.close()
        raise


def describe(client, scheduler: str | None) -> str:
    """One line: where the runs go and where the dashboard is (or why there is none)."""
    where = f"scheduler {scheduler}" if scheduler else "a local cluster"
    info = client.scheduler_info(n_workers=-1)
    n = len(info.get("workers", {}))
    waiting = " (the runs wait for workers to join)" if n == 0 else ""
    try:
        served = "dashboard" in info.get("services", {}) and client.run_on_scheduler(dashboard_available)
    except Exception:  # a scheduler that refuses to run functions: no claim either way
        served = False
    if served:
        dash = f"dashboard {client.dashboard_link}"
    else:
        dash = "no dashboard (it needs bokeh>=3.1 where the scheduler runs)"
    return f"dask: {n} worker{'s' if n != 1 else ''}{waiting} on {where}; {dash}"


def guarded(fn: Callable, item) -> tuple:
    """fn(item) on a worker as (result, None), or (None, error line) when it raises.

    Caught on the worker so that the error comes back as text (any exception, picklable or not) and
    Dask does not log the failure as its own.
    """
    try:
        return fn(item), None
    except Exception as exc:
        return None, error_line(item, exc)


def outcome(future, item) -> tuple:
    """(result, error) of a finished task; a task Dask itself gave up on (all its workers died, or it
    was cancelled) becomes (None, one line naming the item and why)."""
    try:
        if future.status == "error":
            raise future.exception()
        if future.status != "finished":
            raise RuntimeError(f"task {future.status} before it finished")
        return future.result()
    except Exception as exc:
        return None, error_line(item, exc)


def iterate(
    fn: Callable, items: Iterable, *, workers: int = 1, scheduler: str | None = None, progress: bool = True,
    desc: str = "runs",
) -> Iterator[tuple]:
    """Run fn(item) for every item on Dask; yield (item, result, error) as each finishes.

    error is None, or one line naming the item's label and the exception (result is then None).
    scheduler: the address of a running Dask scheduler (tcp://host:8786); without it a local cluster of
    `workers` single-threaded processes is started and closed at the end. Each item's pair comes back
    exactly once, rescheduled tasks included. Closing the generator early (break, an exception) cancels
    the tasks not yet finished and shuts a local cluster down.
    Raises ValueError for workers < 1 and SchedulerUnreachable when no scheduler answers at `scheduler`.
    """
    check_workers(workers)
    items = list(items)
    if not items:
        return
    check_picklable(fn, items)
    with quiet_dask():
        cluster, client = (None, connect(scheduler)) if scheduler else start_local(workers)
        futures = {}
        try:
            print(describe(client, scheduler), file=sys.stderr, flush=True)
            from distributed import as_completed

            for item in items:
                futures[client.submit(guarded, fn, item, pure=False, key=f"{desc}-{uuid.uuid4().hex}")] = item
            with progress_bar(total=len(items), desc=desc, enabled=progress, unit="run") as bar:
                pending = as_completed(futures, loop=client.loop)
                for future in pending:
                    if future.status in ("pending", "lost"):  # its worker died holding the result: Dask reruns it
                        pending.add(future)
                        continue
                    item = futures.pop(future)
                    result, error = outcome(future, item)
                    future.release()  # a worker lost later must not make Dask redo a run already returned
                    bar.update(1)
                    yield item, result, error
        finally:
            client.cancel([f for f in futures if not f.done()])
            if cluster is not None:
                close_local(cluster, client)
            else:
                client.close()

