"""Issue 18, "Bad input and noise": every case a new user found, each one line and exit status 2 (or one line
saying what was repaired), and the Dask noise a newcomer reads as a crash, gone.

CLI cases go through experiments.cli.main(argv); where stray stderr output is the point (Dask's tracebacks at
exit, a Ctrl-C), a subprocess runs the command and its stderr is read whole.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from test_cli import one_line_error, use_config_dir

import experiments.data
from experiments import cli, config, outputs, runner, train
from experiments.config import MAX_SEED, ConfigError
from experiments.data import cache
from experiments.tables import TableError

ROOT = Path(__file__).resolve().parent.parent
HUGE = "99999999999999999999999"
ENV = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def seed_mlp_copy(tmp_path: Path, replace: tuple = ()) -> Path:
    """A config folder holding seed-mlp.toml, with (old, new) text replaced."""
    folder = tmp_path / "configs"
    folder.mkdir()
    text = (config.CONFIG_DIR / "seed-mlp.toml").read_text()
    for old, new in replace:
        assert old in text, old
        text = text.replace(old, new)
    (folder / "seed-mlp.toml").write_text(text)
    return folder


@pytest.fixture
def no_training(monkeypatch):
    """Fails the test if any run executes."""
    def refuse(*a, **k):
        raise AssertionError("a run executed")
    monkeypatch.setattr(runner, "execute", refuse)


@pytest.fixture
def small_mnist(monkeypatch, mnist):
    """experiments.data.load('mnist') returns the first 500 training and 100 test images of the real MNIST."""
    small = experiments.data.Dataset("mnist", np.concatenate([mnist.train_x[:500], mnist.test_x[:100]]),
                                     np.concatenate([mnist.train_y[:500], mnist.test_y[:100]]), classes=10, split=500)
    real = experiments.data.load
    monkeypatch.setattr(experiments.data, "load", lambda name, **kw: small if name == "mnist" else real(name, **kw))
    return small


# 1. Seeds beyond what the tables store ----------------------------------------------------------


def test_a_huge_seed_on_the_command_line_is_refused_before_any_work(capsys, tmp_path, no_training):
    err = one_line_error(capsys, ["run", "seed-mlp", "--quick", "--seeds", "0", HUGE, "--out", str(tmp_path)])
    assert f"seed {HUGE} is too large" in err and f"2**63-1 = {MAX_SEED}" in err
    err = one_line_error(capsys, ["run", "seed-mlp", "--seeds", str(MAX_SEED + 1), "--out", str(tmp_path)])
    assert f"seed {MAX_SEED + 1} is too large" in err
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("seed", [HUGE, str(2**64 - 1)])
def test_a_folder_holding_a_huge_seed_from_before_says_which_line(seed, tmp_path, capsys, no_training):
    """Rows a run wrote before seeds were checked: one line naming the file and the line, not an OverflowError in
    every later report of the folder."""
    table = tmp_path / "reproduction.csv"
    table.write_text(f"run_id,impl,seed\nabc,numpy,0\ndef,numpy,{seed}\n")
    err = one_line_error(capsys, ["run", "seed-mlp", "--quick", "--variants", "base", "--seeds", "0", "--out",
                                  str(tmp_path)])
    assert f"{table}: line 3 has seed {seed}, outside 0..2**63-1" in err and "delete that line" in err


def test_the_largest_seed_is_accepted_and_one_more_is_not(seed_mlp):
    assert cli.seed_arg(str(MAX_SEED)) == MAX_SEED
    assert runner.plan(seed_mlp, seeds=[MAX_SEED], variants=["base"])[0].seed == MAX_SEED
    with pytest.raises(ConfigError, match=rf"--seeds: seed {MAX_SEED + 1} is too large"):
        runner.plan(seed_mlp, seeds=[0, MAX_SEED + 1], variants=["base"])


@pytest.mark.parametrize("where", ["top", "variant"])
def test_a_huge_seed_in_a_toml_file_is_refused(where, tmp_path, monkeypatch, capsys):
    if where == "top":
        folder = seed_mlp_copy(tmp_path, [("seeds = [0, 1, 2]", f"seeds = [0, {HUGE}]")])
    else:
        section = "[variants.hidden-sigmoid]\n"
        folder = seed_mlp_copy(tmp_path, [(section, f"{section}seeds = [{HUGE}]\n")])
    use_config_dir(monkeypatch, folder)
    err = one_line_error(capsys, ["run", "seed-mlp"])
    assert str(folder / "seed-mlp.toml") in err and f"seed {HUGE} is too large" in err
    assert ("[variants.hidden-sigmoid]" in err) == (where == "variant")


# 2. A byte that is not UTF-8 in one TOML file -------------------------------------------------------


def test_a_non_utf8_byte_makes_that_file_broken_and_hides_nothing(tmp_path, monkeypatch, capsys):
    folder = seed_mlp_copy(tmp_path)
    text = (folder / "seed-mlp.toml").read_bytes().replace(b'name = "seed-mlp"', b'name = "other"')
    bad = text.replace(b"description = \"", b"description = \"\xe9t\xe9 ", 1)  # Latin-1 accents
    (folder / "other.toml").write_bytes(bad)
    use_config_dir(monkeypatch, folder)
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert any(line.startswith("seed-mlp ") for line in out)
    offset = bad.index(b"\xe9")
    assert any(line.startswith("other.toml") and "BROKEN:" in line and
               f"not UTF-8 text (byte 0xe9 at offset {offset}); save it as UTF-8" in line for line in out), out
    err = one_line_error(capsys, ["run", "other"])
    assert str(folder / "other.toml") in err and "not UTF-8" in err


# 3. Non-finite floats, empty option values, --impl both ---------------------------------------------


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "+inf"])
def test_a_non_finite_float_setting_is_refused(value, tmp_path, monkeypatch, capsys):
    folder = seed_mlp_copy(tmp_path, [("\nlr = 0.1\n", f"\nlr = {value}\n")])
    use_config_dir(monkeypatch, folder)
    err = one_line_error(capsys, ["run", "seed-mlp"])
    assert f"[base]: lr = {float(value)!r} must be a finite number" in err


def test_every_float_setting_of_every_kind_must_be_finite():
    from experiments.kinds import registry

    for kind in registry().values():
        keys = kind.run_keys
        for key in (k for k, (typ, _, _) in keys.items() if typ is float):
            for bad in (float("inf"), float("nan")):
                with pytest.raises(ConfigError, match=rf"{key} = {bad!r} must be a finite number"):
                    config.check_value("x", key, bad, keys)


@pytest.mark.parametrize("argv", [
    ["run", "seed-mlp", "--quick", "--scheduler", ""],
    ["run", "seed-mlp", "--quick", "--out", ""],
    ["run", "seed-mlp", "--quick", "--out", "  "],
    ["reproduce", "--quick", "--out", ""],
    ["reproduce", "--quick", "--scheduler", ""],
    ["equivalence", "--out", ""],
    ["data", "--cache-dir", ""],
    ["data", "orl", "--source-dir", ""],
], ids=lambda a: " ".join(a))
def test_an_empty_option_value_is_refused(argv, capsys, tmp_path, monkeypatch, no_training):
    monkeypatch.chdir(tmp_path)
    option = argv[argv.index("") - 1] if "" in argv else "--out"
    err = one_line_error(capsys, argv)
    assert f"{option} must not be empty" in err
    assert not any(tmp_path.iterdir())  # nothing written into the current folder


def test_an_empty_output_folder_is_refused_by_the_api_too(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(outputs.OutputError, match=r"--out '': an empty folder name would mean the current folder"):
        outputs.ad_hoc("")


def test_impl_both_is_offered_for_cnn_experiments_only(capsys, no_training):
    err = one_line_error(capsys, ["run", "seed-mlp", "--impl", "both"])
    assert "--impl both: experiment 'seed-mlp': impl = 'both' must be one of ['numpy', 'torch']" in err
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "numpy or torch; both (the two from one start) for cnn experiments only" in help_text


# 4. A complete, valid, read-only data cache ---------------------------------------------------------


FILES = {"a.bin": b"alpha" * 100, "b.bin": b"beta" * 77}
MANIFEST = {name: __import__("hashlib").sha256(data).hexdigest() for name, data in FILES.items()}


def refuse_writes(monkeypatch):
    """As for a user without write access (these tests run as root, whom chmod does not stop)."""
    def unwritable(folder):
        raise cache.CacheDirError(f"{folder.origin} is not writable: Permission denied (PermissionError)")
    monkeypatch.setattr(cache, "make_writable", unwritable)


def test_a_complete_read_only_cache_is_verified_and_used(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "shared"
    folder.mkdir()
    for name, data in FILES.items():
        (folder / name).write_bytes(data)
    folder.chmod(0o555)
    refuse_writes(monkeypatch)
    got = cache.fetch(cache.Folder(folder, f"--cache-dir {folder}"), MANIFEST, lambda: [], dataset="TEST",
                      hint="", progress=True)
    assert got == folder and sorted(p.name for p in folder.iterdir()) == ["a.bin", "b.bin"]  # no lock, no probe
    assert f"a.bin: cached in {folder}, sha256 {MANIFEST['a.bin']} OK" in capsys.readouterr().out
    (folder / "b.bin").chmod(0o644)
    folder.chmod(0o755)
    (folder / "b.bin").write_bytes(b"changed")
    folder.chmod(0o555)
    with pytest.raises(cache.CacheDirError, match="is not writable"):  # a fetch still needs write access
        cache.fetch(cache.Folder(folder, f"--cache-dir {folder}"), MANIFEST, lambda: [], dataset="TEST", hint="")
    folder.chmod(0o755)


def test_the_data_command_and_a_run_accept_a_read_only_mnist_cache(tmp_path, monkeypatch, capsys, mnist):
    from experiments.data import mnist as mnist_module

    real = mnist_module.SPEC.folder().path
    shared = tmp_path / "shared"
    shared.mkdir()
    for name in mnist_module.SPEC.manifest:
        (shared / name).symlink_to(real / name)
    shared.chmod(0o555)
    refuse_writes(monkeypatch)
    monkeypatch.setenv("MNIST_DIR", str(shared))
    assert cli.main(["data", "mnist"]) == 0
    assert capsys.readouterr().out.count("OK") == len(mnist_module.SPEC.manifest)
    runner.prefetch(runner.plan(config.get_experiment("seed-mlp"), variants=["base"], quick=True))  # what run does
    assert experiments.data.load("mnist").train_x.shape == (60000, 28, 28)
    shared.chmod(0o755)


# 5. A truncated checkpoint, a malformed output table ----------------------------------------------


def toy_train(tmp_path, engine, **kw):
    return train.train(engine, run_id="toy", label="toy/run", epochs=4, batch_size=1, n_train=2,
                       order_for=lambda e: np.arange(2), checkpoint=tmp_path / "ck" / "toy.npz", **kw)


def test_a_truncated_checkpoint_is_set_aside_and_the_run_starts_from_epoch_0(tmp_path, capsys, toy_engine):
    with pytest.raises(toy_engine.Killed):
        toy_train(tmp_path, toy_engine(kill_at=3))
    path = tmp_path / "ck" / "toy.npz"
    half = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(half)
    capsys.readouterr()
    engine = toy_engine()
    result = toy_train(tmp_path, engine)
    assert engine.trained == [1, 2, 3, 4] and result["epochs_done"] == 4 and engine.w.tolist() == [4.0] * 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"toy/run: {path}: not a readable checkpoint (BadZipFile" in err
    assert "set aside as toy.npz.broken, training again from epoch 0" in err
    assert (tmp_path / "ck" / "toy.npz.broken").read_bytes() == half  # kept, not deleted
    path.write_bytes(b"")  # a second broken one does not overwrite the first
    toy_train(tmp_path, toy_engine())
    assert (tmp_path / "ck" / "toy.npz.broken-2").read_bytes() == b""
    assert (tmp_path / "ck" / "toy.npz.broken").read_bytes() == half


def test_a_run_with_a_truncated_checkpoint_trains_again_through_the_cli(small_mnist, tmp_path, capsys):
    argv = ["run", "seed-mlp", "--quick", "--variants", "base", "--seeds", "0", "--epochs", "1", "--out",
            str(tmp_path)]
    assert cli.main(argv) == 0
    first = (tmp_path / "reproduction.csv").read_text()
    (checkpoint,) = (tmp_path / "checkpoints").glob("*.npz")
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    (tmp_path / "reproduction.csv").unlink()
    capsys.readouterr()
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert f"{checkpoint}: not a readable checkpoint" in err and "training again from epoch 0" in err
    assert "Traceback" not in err
    final = "final_test_acc"
    import pandas as pd

    assert pd.read_csv(tmp_path / "reproduction.csv")[final].tolist() == pd.read_csv(__import__("io").StringIO(
        first))[final].tolist()  # the same run again, from epoch 0


def test_faces_identify_names_a_truncated_checkpoint(tmp_path, capsys):
    from PIL import Image

    Image.fromarray(np.full((112, 92), 128, np.uint8)).save(tmp_path / "face.png")
    (tmp_path / "ck.npz").write_bytes(b"PK\x03\x04 cut here")
    err = one_line_error(capsys, ["faces", "identify", str(tmp_path / "face.png"), "--no-gate", "--checkpoint",
                                  str(tmp_path / "ck.npz")])
    assert f"error: --checkpoint {tmp_path / 'ck.npz'}: not a readable checkpoint (BadZipFile: " in err


def test_a_malformed_line_in_an_output_table_is_one_line_naming_it(tmp_path, capsys, no_training):
    table = tmp_path / "reproduction.csv"
    table.write_text("run_id,impl,final_test_acc\nabc,numpy,0.5\ndef,numpy,0.5,extra,fields\n")
    err = one_line_error(capsys, ["run", "seed-mlp", "--quick", "--variants", "base", "--seeds", "0", "--out",
                                  str(tmp_path)])
    assert f"error: {table}: not a readable CSV table (Expected 3 fields in line 3, saw 5)" in err
    assert "fix or delete the bad line" in err
    table.write_bytes(b"run_id,impl\n\xff\xfe,numpy\n")
    err = one_line_error(capsys, ["run", "seed-mlp", "--quick", "--variants", "base", "--seeds", "0", "--out",
                                  str(tmp_path)])
    assert f"{table}: not a readable CSV table" in err


def test_appending_to_a_malformed_table_names_it(tmp_path):
    from experiments.provenance import append_rows_atomic

    table = tmp_path / "t.csv"
    table.write_text('run_id,impl\na,"numpy\n')
    with pytest.raises(TableError, match=rf"{table}: not a readable CSV table \(EOF inside string"):
        append_rows_atomic([{"run_id": "b", "impl": "numpy"}], table, ["run_id", "impl"])
    assert table.read_text() == 'run_id,impl\na,"numpy\n'  # untouched


# 6. Dask noise ------------------------------------------------------------------------------------------


def test_a_scheduler_address_without_a_port_is_one_line_and_no_wait(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "experiments", "run", "seed-mlp", "--quick", "--variants", "base",
                           "--seeds", "0", "--scheduler", "nonsense", "--out", str(tmp_path)],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == ("error: --scheduler 'nonsense' is not a Dask scheduler address: missing port number in "
                           "address 'nonsense'\n"), proc.stderr
    import distributed  # noqa: F401  (its import is not what is timed)

    from experiments.cluster import SchedulerUnreachable, connect

    t0 = time.perf_counter()
    with pytest.raises(SchedulerUnreachable, match="unknown address scheme 'http'"):
        connect("http://example:1")
    assert time.perf_counter() - t0 < 2.0  # refused before a Client exists, not after Dask's 6 s timeout


SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    from pathlib import Path
    from experiments.cluster import iterate

    # Ctrl-C as at a terminal's foreground process: a suite started as a background job (cmd &) hands its children
    # SIGINT ignored, and then nothing would be interrupted
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def task(x):
        mark = Path(sys.argv[2])
        if sys.argv[1] == "kill" and x == 1 and not mark.exists():
            mark.write_text("killed once")
            os.kill(os.getpid(), signal.SIGKILL)  # a worker dies mid-task
        time.sleep(60 if sys.argv[1] == "ctrl-c" else 0.2)
        return x * x

    if __name__ == "__main__":
        try:
            print(sorted(r for _, r, e in iterate(task, range(4), workers=2, progress=False)), flush=True)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.exit(130)
""")
DASK_LINE = "dask: 2 workers on a local cluster; "


def run_script(tmp_path, mode: str, **kw) -> subprocess.Popen:
    (tmp_path / "grid.py").write_text(SCRIPT)
    return subprocess.Popen([sys.executable, str(tmp_path / "grid.py"), mode, str(tmp_path / "mark")], cwd=ROOT,
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


@pytest.mark.parametrize("mode", ["clean", "kill"])
def test_a_local_cluster_starts_and_stops_without_noise(mode, tmp_path):
    """Nothing on stderr but the one line saying where the runs go, also when a worker was killed mid-task
    (its task reruns; no leaked-semaphore warnings at exit)."""
    proc = run_script(tmp_path, mode)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0 and out == "[0, 1, 4, 9]\n", (out, err)
    assert err.count("\n") == 1 and err.startswith(DASK_LINE), err
    assert (tmp_path / "mark").exists() == (mode == "kill")


def test_ctrl_c_during_a_grid_on_local_workers_prints_no_traceback(tmp_path):
    """A terminal's Ctrl-C reaches the whole process group: the workers ignore it, this process closes them."""
    proc = run_script(tmp_path, "ctrl-c", start_new_session=True)
    err_lines = []
    for line in proc.stderr:  # wait until the cluster runs the tasks
        err_lines.append(line)
        if line.startswith(DASK_LINE):
            break
    time.sleep(2)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    err = "".join(err_lines) + err
    assert proc.returncode == 130, (out, err)
    assert err.splitlines()[1:] == ["interrupted"], err


def test_leaked_semaphores_of_a_killed_process_are_freed_without_a_warning(tmp_path):
    script = textwrap.dedent("""
        import multiprocessing as mp, os, signal, sys

        def leak():
            sem = mp.get_context("spawn").Semaphore()  # registered with the resource tracker, never released
            os.kill(os.getpid(), signal.SIGKILL)

        if __name__ == "__main__":
            if sys.argv[1] == "quiet":
                from experiments.cluster import quiet_resource_tracker
                quiet_resource_tracker()
            p = mp.get_context("spawn").Process(target=leak)
            p.start()
            p.join()
    """)
    (tmp_path / "leak.py").write_text(script)
    env = {k: v for k, v in ENV.items() if k != "PYTHONWARNINGS"}
    runs = {mode: subprocess.run([sys.executable, str(tmp_path / "leak.py"), mode], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=120) for mode in ("loud", "quiet")}
    assert "leaked semaphore objects" in runs["loud"].stderr  # the warning this guards against exists
    assert runs["quiet"].stderr == ""


# 7. Silent repairs say so ------------------------------------------------------------------------------


class BytesSource(cache.Source):
    def __init__(self, files: dict, label: str = "bytes", named: bool = False):
        self.files, self.label, self.named = files, label, named

    def locate(self, name, workdir):
        if name not in self.files:
            raise cache.SourceError(f"no {name}")
        (workdir / name).write_bytes(self.files[name])
        return workdir / name


def test_a_corrupted_cache_file_refetched_is_said_without_progress(tmp_path, capsys):
    folder = cache.Folder(tmp_path / "c", "test")
    cache.fetch(folder, MANIFEST, lambda: [BytesSource(FILES)], dataset="TEST", hint="", progress=False)
    (tmp_path / "c" / "a.bin").write_bytes(b"alphA" + FILES["a.bin"][5:])
    capsys.readouterr()
    cache.fetch(folder, MANIFEST, lambda: [BytesSource(FILES)], dataset="TEST", hint="", progress=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured
    assert captured.err.startswith(f"a.bin: cached copy rejected ({tmp_path / 'c' / 'a.bin'}: SHA-256 mismatch")
    assert (tmp_path / "c" / "a.bin").read_bytes() == FILES["a.bin"]


def test_a_file_of_a_folder_the_user_named_that_is_refused_is_said(tmp_path, capsys):
    """The user's folder fails, a download then succeeds: the substitution is said, naming the folder."""
    mine = BytesSource({"a.bin": b"corrupted", "b.bin": FILES["b.bin"]}, "folder /mine", named=True)
    cache.fetch(cache.Folder(tmp_path / "c", "test"), MANIFEST, lambda: [mine, BytesSource(FILES)], dataset="TEST",
                hint="", progress=False)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("  a.bin: failed from folder /mine: ") and "SHA-256 mismatch" in err


def test_a_resumed_run_says_so_naming_its_checkpoint(tmp_path, capsys, toy_engine):
    with pytest.raises(toy_engine.Killed):
        toy_train(tmp_path, toy_engine(kill_at=4))
    capsys.readouterr()
    engine = toy_engine()
    toy_train(tmp_path, engine)
    assert engine.trained == [4]
    checkpoint = tmp_path / "ck" / "toy.npz"
    assert capsys.readouterr().err == f"toy/run: resuming after epoch 3 of 4 from checkpoint {checkpoint}\n"


# 8. Start-up --------------------------------------------------------------------------------------------

HEAVY = ("torch", "sklearn", "scipy", "pandas", "dask", "distributed", "PIL", "matplotlib")


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["list"]], ids=" ".join)
def test_help_and_list_import_no_heavy_module(argv):
    code = textwrap.dedent(f"""
        import sys
        from experiments import cli
        try:
            rc = cli.main({argv!r})
        except SystemExit as e:
            rc = e.code
        print("HEAVY", rc, sorted(m for m in {HEAVY!r} if m in sys.modules))
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    last = proc.stdout.strip().splitlines()[-1]
    assert last == "HEAVY 0 []", (last, proc.stderr)


def test_a_malformed_curve_read_by_a_report_is_one_line_naming_it(small_mnist, tmp_path, capsys):
    argv = ["run", "seed-mlp", "--quick", "--variants", "base", "--seeds", "0", "--epochs", "1", "--out",
            str(tmp_path)]
    assert cli.main(argv) == 0
    (curve,) = (tmp_path / "runs" / "seed-mlp").glob("*.csv")
    curve.write_text(curve.read_text() + "1,2,3,4,5,6,7,8,9\n")
    capsys.readouterr()
    err = one_line_error(capsys, argv)  # nothing left to train; the report reads the curve
    assert f"{curve}: not a readable CSV table (Expected " in err


def test_the_torch_free_list_of_loss_twins_is_the_twin_table():
    """faces validation checks a twin run's loss against framework.LOSS_TWINS so as not to import torch."""
    import framework
    from framework.tables import TORCH_LOSSES

    assert framework.LOSS_TWINS == tuple(TORCH_LOSSES)
