"""The face / non-face gate's pieces: per-image standardisation, inputs, seeded data, the held-out split."""

from __future__ import annotations

import numpy as np

from experiments.faces import gate


def test_standardise_removes_brightness_and_contrast_and_zeroes_blank_images():
    rng = np.random.default_rng(0)
    x = rng.random((3, 19, 19))
    np.testing.assert_allclose(gate.standardise(0.3 * x + 0.2), gate.standardise(x), rtol=0, atol=1e-12)
    assert np.abs(gate.standardise(np.full((2, 19, 19), 0.7))).max() < 1e-12  # zero up to the rounding of the mean
    faint = 0.5 + 0.001 * rng.standard_normal((1, 19, 19))  # below the floor: stays faint, not blown up to noise
    assert np.abs(gate.standardise(faint)).max() < 0.5


def test_prepare_takes_uint8_levels_or_floats_of_any_size():
    rng = np.random.default_rng(1)
    u8 = rng.integers(0, 256, (40, 30)).astype(np.uint8)
    a, b = gate.prepare([u8]), gate.prepare([u8 / 255.0])
    assert a.shape == (1, 1, 19, 19) and np.array_equal(a, b)
    assert gate.prepare(np.zeros((4, 25, 25))).shape == (4, 1, 19, 19)
    assert gate.network((3, 5), 0.1).forward(a, *gate.network((3, 5), 0.1).init(0), train=False)[0].shape == (1, 2)


def test_holdout_split_is_stratified_disjoint_and_seeded():
    labels = np.array([1] * 50 + [0] * 120)
    train, test = gate.holdout_split(labels, 0.2, seed=0)
    assert np.intersect1d(train, test).size == 0 and np.union1d(train, test).tolist() == list(range(170))
    assert (np.sum(labels[test] == 1), np.sum(labels[test] == 0)) == (10, 24)
    assert np.array_equal(test, gate.holdout_split(labels, 0.2, seed=0)[1])
    assert not np.array_equal(test, gate.holdout_split(labels, 0.2, seed=1)[1])


def test_synthetic_nonfaces_and_face_crops_are_seeded():
    a = gate.synthetic_nonfaces(9, np.random.default_rng(3))
    b = gate.synthetic_nonfaces(9, np.random.default_rng(3))
    assert all(np.array_equal(x, y) and x.dtype == np.uint8 and min(x.shape) >= gate.SIDE for x, y in zip(a, b))
    assert np.ptp(a[0]) <= 20 and np.ptp(a[1]) > 100  # a blank (little noise) and a noise image
    faces = np.random.default_rng(4).integers(0, 256, (2, 112, 92)).astype(np.uint8)
    crops = gate.face_crops(faces, 3, np.random.default_rng(5))
    assert len(crops) == 6 and all(c.shape[0] == c.shape[1] >= 0.55 * 92 - 1 for c in crops)
