"""Image input for faces enrol / identify: every mode converted to the right 8-bit grey, sizes checked before
decoding, broken files refused in one line. Each conversion is tested on a synthetic image made from a real
ORL face, in the mode that Pillow's own convert('L') would ruin."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from experiments.faces import reading
from experiments.faces.reading import FaceImageError, read_face, read_grey


@pytest.fixture(scope="module")
def face():
    """ORL s2/3 (uint8 112 x 92), a face with dark background and bright skin."""
    from experiments.data import load

    return load("orl").images[12]


def test_eight_bit_grey_png_is_read_exactly(face, tmp_path):
    Image.fromarray(face).save(tmp_path / "f.png")
    assert np.array_equal(read_grey(tmp_path / "f.png"), face)
    assert np.array_equal(read_face(tmp_path / "f.png")[0], face)  # already ORL's size: unchanged


def test_16_bit_png_is_scaled_not_clipped(face, tmp_path):
    Image.fromarray(face.astype(np.uint16) * 257).save(tmp_path / "f16.png")
    with Image.open(tmp_path / "f16.png") as im:
        assert im.mode == "I;16"
        assert np.asarray(im.convert("L")).min() == 255  # what Pillow alone makes of it: all white
    assert np.array_equal(read_grey(tmp_path / "f16.png"), face)


def test_32_bit_integer_and_float_tiffs(face, tmp_path):
    Image.fromarray(face.astype(np.int32) * 257).save(tmp_path / "i.tif")
    Image.fromarray(face.astype(np.float32) / 255).save(tmp_path / "f.tif")
    with Image.open(tmp_path / "i.tif") as im, Image.open(tmp_path / "f.tif") as fl:
        assert (im.mode, fl.mode) == ("I", "F")
    assert np.array_equal(read_grey(tmp_path / "i.tif"), face)
    assert np.array_equal(read_grey(tmp_path / "f.tif"), face)


def test_cmyk_with_black_plate(face, tmp_path):
    """The face on the K plate only (C = M = Y = 0): grey = 255 - K."""
    cmyk = np.zeros((*face.shape, 4), np.uint8)
    cmyk[..., 3] = 255 - face
    Image.fromarray(cmyk, mode="CMYK").save(tmp_path / "c.tif")
    assert np.abs(read_grey(tmp_path / "c.tif").astype(int) - face).max() <= 1


@pytest.mark.parametrize("mode", ["LA", "RGBA"])
def test_alpha_is_composited_over_black(face, tmp_path, mode):
    """Transparent pixels hiding white are black, half-transparent ones half as bright, opaque ones the face."""
    alpha = np.full(face.shape, 255, np.uint8)
    alpha[:, :20], alpha[:, 20:30] = 0, 128
    grey = face.copy()
    grey[:, :20] = 255  # what convert('L') would show
    chans = [grey, alpha] if mode == "LA" else [grey, grey, grey, alpha]
    Image.fromarray(np.stack(chans, -1), mode=mode).save(tmp_path / "a.png")
    got = read_grey(tmp_path / "a.png").astype(int)
    assert np.all(got[:, :20] == 0)
    assert np.abs(got[:, 20:30] - np.rint(face[:, 20:30].astype(int) * 128 / 255)).max() <= 1
    assert np.array_equal(got[:, 30:], face[:, 30:])


def test_palette_is_applied_and_its_transparent_index_is_black(face, tmp_path):
    """Index i shows grey 255 - i: the pixels are the palette's greys, not the indices; index `hole` is
    transparent."""
    hole = int(np.bincount(face.ravel()).argmax())
    im = Image.fromarray(255 - face, mode="L").convert("P")
    im.putpalette([v for i in range(256) for v in (255 - i,) * 3])
    im.save(tmp_path / "p.png", transparency=255 - hole)
    im.save(tmp_path / "q.png")
    assert np.array_equal(read_grey(tmp_path / "q.png"), face)
    got = read_grey(tmp_path / "p.png")
    assert np.all(got[face == hole] == 0) and np.array_equal(got[face != hole], face[face != hole])


def test_colour_jpeg_of_a_grey_face(face, tmp_path):
    Image.fromarray(np.stack([face] * 3, -1)).save(tmp_path / "f.jpg", quality=95)
    assert np.abs(read_grey(tmp_path / "f.jpg").astype(int) - face).mean() < 1.5


def test_other_sizes_are_centre_cropped_to_orl_aspect_then_resized(face, tmp_path):
    wide = np.zeros((112, 300), np.uint8)
    wide[:, 104:196] = face  # the face in the middle of a wide picture
    Image.fromarray(wide).save(tmp_path / "w.png")
    got = read_face(tmp_path / "w.png")
    assert got.shape == (1, 112, 92)
    assert np.array_equal(got[0], face)
    Image.fromarray(face).resize((46, 56)).save(tmp_path / "small.png")
    assert read_face(tmp_path / "small.png").shape == (1, 112, 92)


def png_with_size(width: int, height: int) -> bytes:
    """A PNG whose header announces width x height but holds almost no data: decoding it would fail."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data  # noqa: E731
                                + struct.pack(">I", zlib.crc32(kind + data)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("width,height", [(20000, 20000), (8000, 6000)])
def test_huge_images_are_refused_from_the_header(tmp_path, width, height):
    (tmp_path / "huge.png").write_bytes(png_with_size(width, height))
    with pytest.raises(FaceImageError, match=f"limit of {reading.MAX_PIXELS:,} pixels"):
        read_grey(tmp_path / "huge.png")


@pytest.mark.parametrize("content,message", [
    (b"", "empty file"),
    (b"hello, not an image\n", "not an image Pillow can read"),
    ("truncated", "cannot decode its pixels|not an image Pillow can read"),
])
def test_unreadable_files_are_one_line_errors(face, tmp_path, content, message):
    if content == "truncated":
        Image.fromarray(face).save(tmp_path / "full.png")
        content = (tmp_path / "full.png").read_bytes()[:400]
    (tmp_path / "bad.png").write_bytes(content)
    with pytest.raises(FaceImageError, match=message) as e:
        read_grey(tmp_path / "bad.png")
    assert "bad.png" in str(e.value) and "\n" not in str(e.value)


def test_missing_file_folder_and_too_small_image(tmp_path):
    with pytest.raises(FaceImageError, match="no such file"):
        read_grey(tmp_path / "missing.png")
    with pytest.raises(FaceImageError, match="is a folder"):
        read_grey(tmp_path)
    Image.new("L", (1, 1), 128).save(tmp_path / "dot.png")
    with pytest.raises(FaceImageError, match="no face found: .* 1 x 1 pixels"):
        read_grey(tmp_path / "dot.png")


def test_exif_orientation_is_applied_and_8_bit_values_in_32_bit_images_are_levels(face, tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: the viewer rotates the picture 90 degrees clockwise
    Image.fromarray(face).save(tmp_path / "turned.jpg", exif=exif, quality=95)
    got = read_grey(tmp_path / "turned.jpg")
    assert got.shape == (92, 112)
    assert np.abs(got.astype(int) - np.rot90(face, -1)).mean() < 1.5
    Image.fromarray(face.astype(np.int32)).save(tmp_path / "eight.tif")
    assert np.array_equal(read_grey(tmp_path / "eight.tif"), face)


def test_levelling_is_blind_to_brightness_and_contrast():
    """images.level maps a x + b (a > 0) to what it maps x to; a constant image to 0; dataset standardisation
    (the default) is not blind, which is why the recogniser's models level."""
    from experiments.faces import images

    x = np.random.default_rng(0).random((3, 1, 28, 23))
    for a, b in ((0.6, 0.0), (1.7, -0.2), (0.5, 0.25)):
        np.testing.assert_allclose(images.level(a * x + b), images.level(x), rtol=0, atol=1e-12)
    lev = images.level(x)
    np.testing.assert_allclose(lev.mean(axis=(1, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(lev.std(axis=(1, 2, 3)), 1, atol=1e-12)
    assert not images.level(np.full((1, 1, 4, 4), 0.7)).any()
    assert not np.allclose(images.level(x), x)


@pytest.mark.parametrize("look", ["darker", "low_contrast", "colour_swapped"])
def test_a_levelled_network_input_sees_a_face_in_other_light_as_taken(face, look):
    """Through identify's input path (photometric.grey_of, then network_input), a levelled run's input for a
    darker, flatter or channel-swapped photo is the face's own up to the rounding of 8-bit levels (measured: at
    most 0.014 standard deviations per pixel, 0.0033 on average), while the default dataset standardisation moves
    the pixels by 0.4-1.1 of the face's standard deviation on average."""
    from experiments.faces import images, photometric

    cfg = {"downsample": 4, "standardise": "image"}
    seen = images.network_input(photometric.grey_of(look, face)[None], cfg)
    taken = images.network_input(face[None], cfg)
    assert np.abs(seen - taken).max() < 0.02 and np.abs(seen - taken).mean() < 0.005
    plain = {"downsample": 4}
    raw = images.network_input(photometric.grey_of(look, face)[None], plain) - images.network_input(face[None], plain)
    assert np.abs(raw).mean() > 0.3 * images.network_input(face[None], plain).std()


def test_photometric_looks_are_what_they_say(face):
    from experiments.faces import photometric

    assert np.array_equal(photometric.grey_of("as_taken", face), face)
    dark = photometric.grey_of("darker", face).astype(float)
    assert np.abs(dark - 0.6 * face).max() <= 0.5
    swapped = photometric.look("colour_swapped", face)
    assert swapped.mode == "RGB" and np.array_equal(np.asarray(swapped)[..., 2], face)
    with pytest.raises(ValueError, match="look 'sepia'"):
        photometric.look("sepia", face)
