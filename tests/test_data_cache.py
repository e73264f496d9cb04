"""The shared verified cache: locations and their messages, atomic install, stale temporaries, the lock."""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from pathlib import Path

import pytest

from experiments.data import cache


class BytesSource(cache.Source):
    """A source serving fixed bytes per name (for the fetch loop)."""

    def __init__(self, files: dict[str, bytes], label: str = "bytes"):
        self.files, self.label, self.closed = files, label, False

    def locate(self, name: str, workdir: Path) -> Path:
        if name not in self.files:
            raise cache.SourceError(f"no {name}")
        path = workdir / name
        path.write_bytes(self.files[name])
        return path

    def close(self) -> None:
        self.closed = True


FILES = {"a.bin": b"alpha" * 100, "b.bin": b"beta" * 77}
MANIFEST = {name: hashlib.sha256(data).hexdigest() for name, data in FILES.items()}


def fetch(folder: Path, sources, progress=False) -> Path:
    return cache.fetch(
        cache.Folder(folder, f"--cache-dir {folder}"),
        MANIFEST,
        lambda: sources,
        dataset="TEST",
        hint="Name a folder with --source-dir.",
        progress=progress,
    )


def test_choose_dir_argument_then_variable_then_default(monkeypatch, tmp_path):
    monkeypatch.delenv("X_DIR", raising=False)
    default = cache.choose_dir(None, "X_DIR", lambda: tmp_path / "default")
    assert default.path == tmp_path / "default" and default.origin.startswith(
        f"default cache folder {tmp_path / 'default'}"
    )
    monkeypatch.setenv("X_DIR", str(tmp_path / "env"))
    assert cache.choose_dir(None, "X_DIR", lambda: tmp_path) == cache.Folder(
        tmp_path / "env", f"X_DIR={tmp_path / 'env'}"
    )
    assert cache.choose_dir(tmp_path / "arg", "X_DIR", lambda: tmp_path) == cache.Folder(
        tmp_path / "arg", f"--cache-dir {tmp_path / 'arg'}"
    )


@pytest.mark.parametrize("where", ["/sys/nu", "under-a-file"])
def test_unwritable_folder_is_one_line_naming_its_origin(tmp_path, where):
    if where == "under-a-file":
        (tmp_path / "f").write_text("")
        where = str(tmp_path / "f" / "cache")
    with pytest.raises(cache.CacheDirError) as info:
        cache.make_writable(cache.Folder(Path(where), f"MNIST_DIR={where}"))
    message = str(info.value)
    assert re.fullmatch(rf"MNIST_DIR={re.escape(where)} is not writable: .+ \(\w+Error\)", message), message
    assert isinstance(info.value, cache.DataError) and isinstance(info.value, ValueError)


def test_fetch_installs_verified_files_and_reports_each(tmp_path, capsys):
    source = BytesSource(FILES)
    folder = fetch(tmp_path / "c", [source], progress=True)
    assert {p.name for p in folder.iterdir()} == {".lock", *FILES}
    assert all((folder / n).read_bytes() == d for n, d in FILES.items())
    assert source.closed
    out = capsys.readouterr().out
    assert f"a.bin: from bytes (a.bin), sha256 {MANIFEST['a.bin']} OK" in out
    fetch(folder, [], progress=True)
    assert f"b.bin: cached in {folder}, sha256 {MANIFEST['b.bin']} OK" in capsys.readouterr().out


def test_sources_are_tried_in_order_for_what_is_still_missing(tmp_path):
    first = BytesSource({"a.bin": FILES["a.bin"], "b.bin": b"wrong"}, "first")
    second = BytesSource({"b.bin": FILES["b.bin"]}, "second")
    third = BytesSource({}, "third")
    fetch(tmp_path / "c", [first, second, third])
    assert (tmp_path / "c" / "b.bin").read_bytes() == FILES["b.bin"]
    assert not third.closed  # not needed, not opened


def test_failure_names_file_every_source_and_the_hint(tmp_path):
    with pytest.raises(cache.FetchError) as info:
        fetch(tmp_path / "c", [BytesSource({"b.bin": b"wrong"}, "one"), BytesSource({}, "two")])
    lines = str(info.value).splitlines()
    assert lines[0] == f"could not fetch a verified copy of 2 TEST file(s) into {tmp_path / 'c'}:"
    actual = hashlib.sha256(b"wrong").hexdigest()
    assert any(
        re.fullmatch(
            rf"    one: .*b\.bin: SHA-256 mismatch for b\.bin: expected {MANIFEST['b.bin']}, actual {actual}", x
        )
        for x in lines
    ), lines
    assert "    two: no a.bin" in lines and lines[-1] == "Name a folder with --source-dir."
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [".lock"]  # no temporaries left


def test_install_is_atomic_and_checked(tmp_path):
    (tmp_path / "src").write_bytes(b"payload")
    good = hashlib.sha256(b"payload").hexdigest()
    with pytest.raises(
        cache.ChecksumError, match=rf"src: SHA-256 mismatch for out: expected {'0' * 64}, actual {good}"
    ):
        cache.install_file(tmp_path / "src", tmp_path, "out", "0" * 64)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]

    def interrupted(path):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.install_file(tmp_path / "src", tmp_path, "out", good, opener=interrupted)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]
    assert cache.install_file(tmp_path / "src", tmp_path, "out", good) == good
    assert (tmp_path / "out").read_bytes() == b"payload" and oct((tmp_path / "out").stat().st_mode & 0o777) == "0o644"


def test_stale_temporaries_are_removed_and_never_trusted(tmp_path, capsys):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / ".a.bin.x1.part").write_bytes(FILES["a.bin"])  # right content, temporary name
    (folder / ".fetch-dead").mkdir()
    with pytest.raises(cache.FetchError, match=r"(?s)a\.bin.*no source configured"):
        fetch(folder, [], progress=True)
    assert f"removed leftover of an interrupted fetch: {folder / '.a.bin.x1.part'}" in capsys.readouterr().out
    assert sorted(p.name for p in folder.iterdir()) == [".lock"]


def test_corrupt_cached_file_is_rejected_and_fetched_again(tmp_path, capsys):
    folder = fetch(tmp_path / "c", [BytesSource(FILES)])
    (folder / "a.bin").write_bytes(b"alphA" + FILES["a.bin"][5:])
    assert list(cache.cache_problems(folder, MANIFEST)) == ["a.bin"]
    fetch(folder, [BytesSource(FILES)], progress=True)
    assert "a.bin: cached copy rejected (" in capsys.readouterr().out
    assert cache.cache_problems(folder, MANIFEST) == {}


def test_verify_memo_sees_a_rewritten_file(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(FILES["a.bin"])
    cache.verify_file(path, MANIFEST["a.bin"])
    st = path.stat()
    path.write_bytes(b"alphA" + FILES["a.bin"][5:])  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    with pytest.raises(cache.ChecksumError, match=r"a\.bin: SHA-256 mismatch"):
        cache.verify_file(path, MANIFEST["a.bin"])


def test_lock_serialises_two_fetches(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    done = threading.Event()

    def other():
        fetch(folder, [BytesSource(FILES)])
        done.set()

    with cache.cache_lock(folder):
        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.3)
        assert not done.is_set() and not (folder / "a.bin").exists()  # waiting for the lock
    thread.join(10)
    assert done.is_set() and (folder / "a.bin").read_bytes() == FILES["a.bin"]


def test_spec_ready_fetches_once_and_verifies_every_load(tmp_path, monkeypatch):
    calls = []

    def sources(source_dir, progress):
        calls.append(source_dir)
        return [BytesSource(FILES)]

    spec = cache.Spec("TEST", MANIFEST, "TEST_DIR", lambda: tmp_path / "default", sources, hint="hint")
    monkeypatch.delenv("TEST_DIR", raising=False)
    assert spec.ready(source_dir="src") == tmp_path / "default" and calls == ["src"]
    assert spec.ready() == tmp_path / "default" and calls == ["src"]  # verified copy: no fetch
    (tmp_path / "default" / "b.bin").write_bytes(b"beta" * 76 + b"bet!")
    spec.ready()
    assert calls == ["src", None] and (tmp_path / "default" / "b.bin").read_bytes() == FILES["b.bin"]
    monkeypatch.setenv("TEST_DIR", "/sys/nu")
    with pytest.raises(cache.CacheDirError, match=r"^TEST_DIR=/sys/nu is not writable"):
        spec.ready()


def test_pip_download_one_names_the_requirement_and_leaves_no_folder_when_pip_gives_none(tmp_path, monkeypatch):
    """The one-wheel / one-archive download shared by ORL, CBCL and lfw_subset: anything but exactly one file is
    a SourceError naming the requirement, the count and pip's detail, and its temporary folder is removed."""
    from experiments.data import cache as cache_module

    made = tmp_path / "pip-tmp"

    def fake(args, prefix):
        (made / "dest").mkdir(parents=True)
        for name in ("a-1.whl", "b-1.whl"):
            (made / "dest" / name).write_bytes(b"")
        return made, "pip exit code 0: ok"

    monkeypatch.setattr(cache_module, "pip_download", fake)
    with pytest.raises(cache_module.SourceError, match=r"pip download pkg==1 gave 2 wheel\(s\) \(pip exit code 0"):
        cache_module.pip_download_one("pkg==1", True, prefix="t-")
    assert not made.exists()
    (made / "dest").mkdir(parents=True)
    (made / "dest" / "pkg-1.tar.gz").write_bytes(b"")
    monkeypatch.setattr(cache_module, "pip_download", lambda args, prefix: (made, "ok"))
    assert cache_module.pip_download_one("pkg==1", False, prefix="t-") == (made, made / "dest" / "pkg-1.tar.gz")
