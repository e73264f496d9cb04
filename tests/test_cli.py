"""The command line (issue 8, reliability point 5): every mistake a user can make prints ONE line naming
the option, file, key or variable and the value, and exits with status 2; --debug shows the traceback
instead. `list` shows every experiment's variants; seeds an experiment does not declare are run, not
silently dropped. Every case fails before any training."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments import cli, config, outputs
from experiments.config import ConfigError

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
EXPERIMENTS = ("seed-mlp", "cnn-mnist", "comparison")

ERRORS = [
    (["bogus"], ["invalid choice: 'bogus'"]),
    (["run", "seed-mlp", "--bogus", "1"], ["unrecognized arguments: --bogus 1"]),
    (["run"], ["name"]),
    (["run", "seed-mlp", "--workers", "0"], ["--workers must be >= 1, got 0"]),
    (["run", "seed-mlp", "--workers", "two"], ["--workers must be an integer, got 'two'"]),
    (["reproduce", "--workers", "0"], ["--workers must be >= 1, got 0"]),
    (["run", "seed-mlp", "--seeds", "-1"], ["--seeds must be >= 0, got -1"]),
    (["run", "seed-mlp", "--seeds", "0", "x"], ["--seeds must be an integer, got 'x'"]),
    (["run", "seed-mlp", "--seeds", "0", "3", "0"], ["--seeds must not repeat, got [0, 3, 0]"]),
    *[(["run", name, "--epochs", e], [f"--epochs must be >= 1, got {e}"]) for name in EXPERIMENTS for e in ("0", "-3")],
    (["run", "seed-mlp", "--variants", "base", "output-sigmod"],
     ["--variants", "no variant 'output-sigmod'", "it has base, hidden-sigmoid"]),
    (["run", "cnn-mnist", "--variants", "output-sigmoid"],
     ["--variants", "'cnn-mnist' has no variant 'output-sigmoid'"]),
    (["run", "seed_mlp"], ["unknown experiment 'seed_mlp'", "known: ", "seed-mlp"]),
    (["run", "seed-mlp", "--out", str(RESULTS)], ["--out", str(RESULTS), "results/ is written only by"]),
    (["run", "seed-mlp", "--quick", "--out", str(RESULTS / "mine")], ["--out", str(RESULTS / "mine")]),
    (["reproduce", "--out", str(RESULTS / "quick")], ["--out", str(RESULTS / "quick")]),
    (["run", "seed-mlp", "--out", "/proc/nonexistent/out"], ["--out /proc/nonexistent/out", "cannot create"]),
    (["run", "cnn-mnist", "--impl", "jax"], ["--impl", "'jax'"]),
    (["run", "seed-mlp", "--impl", "both"], ["impl = 'both' must be one of ['numpy', 'torch']"]),
    (["data", "cifar"], ["invalid choice: 'cifar'"]),
    (["bench", "--repeats", "0"], ["--repeats must be >= 1, got 0"]),
]


def one_line_error(capsys, argv: list) -> str:
    rc = cli.main(argv)
    captured = capsys.readouterr()
    assert rc == 2, (argv, captured.out, captured.err)
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    assert "Traceback" not in captured.out + captured.err
    return captured.err


@pytest.mark.parametrize("argv,expected", ERRORS, ids=[" ".join(a) for a, _ in ERRORS])
def test_a_user_error_prints_one_line_and_exits_2(argv, expected, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(outputs, "DEFAULT_OUT", tmp_path / "out")
    err = one_line_error(capsys, argv)
    for text in expected:
        assert text in err, (text, err)
    assert not (RESULTS / "mine").exists() and not (RESULTS / "quick").exists()
    assert not (tmp_path / "out" / "reproduction.csv").exists()  # nothing ran


def use_config_dir(monkeypatch, folder: Path) -> None:
    monkeypatch.setattr(config, "CONFIG_DIR", folder)
    for fn in (config.scan, config.get_experiment, config.all_experiments):
        monkeypatch.setattr(fn, "__defaults__", (folder,))


def test_a_broken_config_is_one_line_naming_the_file_the_key_and_the_value(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "configs"
    folder.mkdir()
    text = (config.CONFIG_DIR / "seed-mlp.toml").read_text()
    (folder / "seed-mlp.toml").write_text(text.replace("\nepochs = 100\n", "\nepochs = -100\n"))
    use_config_dir(monkeypatch, folder)
    err = one_line_error(capsys, ["run", "seed-mlp"])
    assert str(folder / "seed-mlp.toml") in err and "[base]" in err and "epochs = -100 must be >= 1" in err


def test_impl_on_an_experiment_without_that_setting(tmp_path, monkeypatch, capsys):
    """The faces kind has no `impl` key: --impl is refused by name rather than ignored."""
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "faces.toml").write_text('name = "faces-toy"\ndescription = "toy"\nkind = "faces"\nseeds = [0]\n'
                                       '[base]\nmethod = "cnn"\n')
    use_config_dir(monkeypatch, folder)
    assert "impl" not in config.get_experiment("faces-toy").runs["base"]
    err = one_line_error(capsys, ["run", "faces-toy", "--impl", "torch", "--quick"])
    assert "--impl torch" in err and "'faces-toy' has no implementation choice" in err


def test_an_unwritable_mnist_dir_is_named(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MNIST_DIR", "/proc/nonexistent/x")
    err = one_line_error(capsys, ["data"])
    assert "MNIST_DIR=/proc/nonexistent/x" in err and "not writable" in err
    # a run that needs MNIST says the same, before any training, and writes no table
    err = one_line_error(capsys, ["run", "seed-mlp", "--quick", "--variants", "base", "--seeds", "0",
                                  "--out", str(tmp_path)])
    assert "MNIST_DIR=/proc/nonexistent/x" in err
    assert not (tmp_path / "reproduction.csv").exists()


def test_an_unreachable_scheduler_is_one_line(tmp_path, capsys):
    err = one_line_error(capsys, ["run", "seed-mlp", "--quick", "--variants", "base", "--seeds", "0",
                                  "--scheduler", "tcp://127.0.0.1:1", "--out", str(tmp_path)])
    assert "--scheduler 'tcp://127.0.0.1:1'" in err
    assert not (tmp_path / "reproduction.csv").exists()


@pytest.mark.parametrize("argv,error", [
    (["--debug", "run", "seed_mlp"], ConfigError),
    (["--debug", "run", "seed-mlp", "--workers", "0"], cli.UsageError),
    (["--debug", "run", "seed-mlp", "--seeds", "0", "0"], ConfigError),
])
def test_debug_shows_the_traceback(argv, error, capsys):
    with pytest.raises(error):
        cli.main(argv)


def test_list_shows_every_experiment_with_its_variants(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name, exp in config.all_experiments().items():
        assert any(line.startswith(f"{name} ") for line in out.splitlines()), name
        assert f"variants: {', '.join(exp.runs)}" in out, name
    assert "BROKEN" not in out


def test_seeds_an_experiment_does_not_declare_are_run_not_dropped(tmp_path, monkeypatch):
    """`run comparison --seeds 0 1` once ran only seed 0 without a word; now both seeds are planned (an
    ad-hoc run into the output folder)."""
    monkeypatch.setattr(outputs, "DEFAULT_OUT", tmp_path / "out")
    _, specs, out = cli.plan_for(cli.parser().parse_args(["run", "comparison", "--seeds", "0", "1"]))
    assert sorted((s.variant, s.seed) for s in specs) == [("base", 0), ("base", 1), ("torch", 0), ("torch", 1)]
    assert not out.official and out.root == tmp_path / "out"


def test_the_data_command_offers_source_and_cache_folders():
    help_text = cli.parser()._subparsers._group_actions[0].choices["data"].format_help()
    assert "--source-dir" in help_text and "--cache-dir" in help_text
