"""Image files as the face networks see them: any format Pillow reads, converted to 8-bit grey correctly.

Pillow's own `convert("L")` ruins some images: it clips 16-bit grey ('I;16', 'I') at 255, so a real
face becomes all white; it ignores alpha, so the colours hidden under transparent pixels show. Here
each mode is mapped to grey levels 0..255 explicitly:

- 16-bit grey ('I;16', 'I;16B', 'I;16L', 'I;16N') and 32-bit integer ('I'): values / 257 (65535 -> 255);
  'I' images whose values all lie in 0..255 are taken as 8-bit levels;
- floating point ('F'): values in [0, 1] scaled by 255, otherwise clipped to 0..255;
- CMYK: through RGB ((255 - C)(255 - K) / 255 per channel), then luma;
- alpha (LA, RGBA, PA, P or RGB/L with a transparent colour): composited over black (ORL's background);
- palettes (P): their colours, then luma; RGB: ITU-R 601-2 luma (Pillow's L = 0.299 R + 0.587 G + 0.114 B).

EXIF orientation is applied (phone photos); the first frame of an animation is used. The size is
read from the header and refused above MAX_PIXELS before any pixel is decoded; images smaller than
MIN_SIDE on a side hold no face to find. Every failure is a FaceImageError (a DataError: one line,
exit status 2) naming the file.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from experiments.data import DataError

MAX_PIXELS = 40_000_000           # refused above this (e.g. 8000 x 5000), from the header, before decoding
MIN_SIDE = 19                     # the face gate's input side (MIT CBCL's 19 x 19)
ORL_SIZE = (92, 112)              # (width, height) of the ORL images the networks trained on
SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")


class FaceImageError(DataError):
    """An image file that cannot be used; the message names the file."""


def open_checked(path, what: str = "IMAGE"):
    """The Pillow image at `path`, opened lazily: its header read and its size checked, no pixel decoded."""
    from PIL import Image, UnidentifiedImageError

    if not os.path.isfile(path):
        raise FaceImageError(f"{what} {path}: " + ("is a folder" if os.path.isdir(path) else "no such file"))
    if os.path.getsize(path) == 0:
        raise FaceImageError(f"{what} {path}: empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit is checked below
            im = Image.open(path)
    except Image.DecompressionBombError as e:
        raise FaceImageError(f"{what} {path}: larger than the limit of {MAX_PIXELS:,} pixels ({e})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise FaceImageError(f"{what} {path}: not an image Pillow can read ({e})") from None
    w, h = im.size
    if w * h > MAX_PIXELS:
        im.close()
        raise FaceImageError(f"{what} {path}: {w} x {h} = {w * h:,} pixels, larger than the limit of "
                             f"{MAX_PIXELS:,} pixels (refused before decoding)")
    return im


def _integer_levels(a: np.ndarray, mode: str) -> np.ndarray:
    a = a.astype(np.float64)
    if mode in SIXTEEN_BIT or a.max(initial=0) > 255:
        return np.clip(a, 0, 65535) / 257.0
    return np.clip(a, 0, 255)


def _float_levels(a: np.ndarray) -> np.ndarray:
    a = np.nan_to_num(a.astype(np.float64))
    return a * 255.0 if a.min(initial=0) >= 0 and a.max(initial=0) <= 1 else np.clip(a, 0, 255)


def _over_black(im) -> np.ndarray:
    """Luma of an image with alpha, composited over black: L * alpha / 255."""
    la = np.asarray(im.convert("RGBA").convert("LA"), dtype=np.float64)
    return la[..., 0] * la[..., 1] / 255.0


def has_alpha(im) -> bool:
    return im.mode in ("LA", "RGBA", "PA", "La", "RGBa") or "transparency" in im.info


def grey_levels(im) -> np.ndarray:
    """float64 (H, W) grey levels in [0, 255] of a decoded Pillow image of any mode."""
    mode = im.mode
    if mode in SIXTEEN_BIT or mode == "I":
        return _integer_levels(np.asarray(im), mode)
    if mode == "F":
        return _float_levels(np.asarray(im))
    if has_alpha(im):
        return _over_black(im)
    if mode in ("CMYK", "P", "LAB", "HSV"):  # through their colours, then luma
        return np.asarray(im.convert("RGB").convert("L"), dtype=np.float64)
    return np.asarray(im.convert("L"), dtype=np.float64)


def to_uint8(levels: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(levels), 0, 255).astype(np.uint8)


def read_grey(path, what: str = "IMAGE") -> np.ndarray:
    """uint8 (H, W): the image at `path` in 8-bit grey levels, at its own size (checked before decoding)."""
    from PIL import ImageOps

    im = open_checked(path, what)
    try:
        with im:
            im.seek(0)
            im.load()
            im = ImageOps.exif_transpose(im)
            grey = to_uint8(grey_levels(im))
    except FaceImageError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as e:  # truncated or corrupt pixel data
        raise FaceImageError(f"{what} {path}: cannot decode its pixels ({e})") from None
    h, w = grey.shape
    if min(h, w) < MIN_SIDE:
        raise FaceImageError(f"no face found: {what} {path} is {w} x {h} pixels, smaller than the "
                             f"{MIN_SIDE} x {MIN_SIDE} a face needs")
    return grey


def crop_to_aspect(grey: np.ndarray, width: int, height: int) -> np.ndarray:
    """The largest centred part of `grey` with the aspect ratio width : height."""
    h, w = grey.shape
    if w * height > h * width:      # too wide: cut columns
        keep = max(1, round(h * width / height))
        left = (w - keep) // 2
        return grey[:, left:left + keep]
    keep = max(1, round(w * height / width))
    top = (h - keep) // 2
    return grey[top:top + keep]


def fit(grey: np.ndarray, size: tuple[int, int] = ORL_SIZE) -> np.ndarray:
    """uint8 (height, width) for size = (width, height): centre-cropped to its aspect ratio, resized (bilinear,
    antialiased when shrinking, as Pillow does)."""
    from PIL import Image

    part = np.ascontiguousarray(crop_to_aspect(grey, *size))
    return np.asarray(Image.fromarray(part).resize(size, Image.BILINEAR), dtype=np.uint8)


def read_face(path, size: tuple[int, int] = ORL_SIZE, what: str = "IMAGE") -> np.ndarray:
    """uint8 (1, height, width): the image at `path` in grey, fitted to size = (width, height) (ORL's 92 x 112)."""
    return fit(read_grey(path, what), size)[None]
