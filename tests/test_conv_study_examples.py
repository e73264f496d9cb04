"""The study's worked examples for convolutional networks (section 1.4), as tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reference import conv, pooling
from reference import conv_shapes as cs


def correlate(x2d, k2d, stride=1, padding=0):
    """Single image, single channel, zero bias: the study's 2-D picture of the operation."""
    x = np.asarray(x2d, dtype=np.float64)[None, None]
    K = np.asarray(k2d, dtype=np.float64)[None, None]
    return conv.forward(x, K, np.zeros(1), stride, padding)[0][0, 0]


def test_study_example_19_25_37_43():
    # 0x0 + 1x1 + 3x2 + 4x3 = 19, and so on: cross-correlation, the kernel is not flipped.
    x = np.arange(9).reshape(3, 3)
    out = correlate(x, [[0, 1], [2, 3]])
    np.testing.assert_array_equal(out, [[19, 25], [37, 43]])


def test_vertical_edge_detection_marks_only_the_edge_column():
    # Bright left half (10), dark right half (0): one vertical edge between columns 2 and 3.
    x = np.zeros((6, 6))
    x[:, :3] = 10.0
    out = correlate(x, [[1, -1]])
    assert out.shape == (6, 5)
    expected = np.zeros((6, 5))
    expected[:, 2] = 10.0
    np.testing.assert_array_equal(out, expected)
    # The 3x3 vertical-edge kernel of the study's figure: columns (1, 0, -1).
    out3 = correlate(x, [[1, 0, -1]] * 3)
    np.testing.assert_array_equal(out3, np.tile([0.0, 30.0, 30.0, 0.0], (4, 1)))


def test_three_channel_input_and_kernel_give_one_map_the_sum_over_channels():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 3, 5, 6))
    K = rng.normal(size=(1, 3, 3, 3))
    s = conv.forward(x, K, np.zeros(1))[0]
    assert s.shape == (1, 1, 3, 4)
    per_channel = sum(correlate(x[0, c], K[0, c]) for c in range(3))
    np.testing.assert_allclose(s[0, 0], per_channel, rtol=1e-13)


@pytest.mark.parametrize("c", [1, 2, 5])
def test_c_kernels_give_c_output_channels(c):
    rng = np.random.default_rng(c)
    x = rng.normal(size=(2, 3, 6, 6))
    K = rng.normal(size=(c, 3, 3, 3))
    b = rng.normal(size=c)
    s = conv.forward(x, K, b)[0]
    assert s.shape == (2, c, 4, 4)
    for o in range(c):  # each output channel is its own kernel's map
        np.testing.assert_allclose(s[:, o:o + 1], conv.forward(x, K[o:o + 1], b[o:o + 1])[0], rtol=1e-13)


@pytest.mark.parametrize("k_h,k_w", [(1, 1), (2, 2), (3, 3), (2, 5), (4, 3)])
def test_padding_k_minus_1_keeps_height_and_width(k_h, k_w):
    # The study's total padding p = k - 1 (odd totals for even kernels: the extra row goes below).
    pad = cs.padding_from_total(k_h - 1, k_w - 1)
    x = np.random.default_rng(0).normal(size=(1, 1, 7, 9))
    s = conv.forward(x, np.ones((1, 1, k_h, k_w)), np.zeros(1), 1, pad)[0]
    assert s.shape[2:] == (7, 9)
    assert cs.output_size(7, k_h, k_h - 1, 1) == 7


def test_stride_3_vertically_2_horizontally_gives_the_formula_size():
    # floor((n_h - k_h + p_h + s_h) / s_h) x floor((n_w - k_w + p_w + s_w) / s_w)
    x = np.random.default_rng(1).normal(size=(1, 1, 7, 8))
    s = conv.forward(x, np.ones((1, 1, 3, 3)), np.zeros(1), (3, 2), 0)[0]
    assert s.shape[2:] == ((7 - 3 + 0 + 3) // 3, (8 - 3 + 0 + 2) // 2) == (2, 3)
    # and the windows really start at rows 0, 3 and columns 0, 2, 4
    expected = [[x[0, 0, u:u + 3, v:v + 3].sum() for v in (0, 2, 4)] for u in (0, 3)]
    np.testing.assert_allclose(s[0, 0], expected, rtol=1e-13)
    t = F.conv2d(torch.from_numpy(x), torch.ones(1, 1, 3, 3, dtype=torch.float64), stride=(3, 2))
    assert tuple(t.shape[2:]) == (2, 3)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_keeps_the_number_of_channels(kind):
    x = np.random.default_rng(2).normal(size=(2, 5, 8, 6))
    f = pooling.maxpool_forward if kind == "max" else pooling.avgpool_forward
    y = f(x, 2)[0]
    assert y.shape == (2, 5, 4, 3)


# Pixel utilisation (the study's Figure 9): how many output positions use each input pixel.
UTILISATION = {
    # 5x5 image, no padding
    ((1, 1), 0): np.ones((5, 5), dtype=int),
    ((2, 2), 0): np.outer([1, 2, 2, 2, 1], [1, 2, 2, 2, 1]),
    ((3, 3), 0): np.outer([1, 2, 3, 2, 1], [1, 2, 3, 2, 1]),
    # "same" padding p = k - 1 in total (per side: 0 for 1x1; 0 top/left, 1 bottom/right for 2x2; 1 for 3x3)
    ((1, 1), "same"): np.ones((5, 5), dtype=int),
    ((2, 2), "same"): np.outer([1, 2, 2, 2, 2], [1, 2, 2, 2, 2]),
    ((3, 3), "same"): np.outer([2, 3, 3, 3, 2], [2, 3, 3, 3, 2]),
    # "full" padding k - 1 on every side: every pixel is used k_h k_w times
    ((2, 2), "full"): np.full((5, 5), 4),
    ((3, 3), "full"): np.full((5, 5), 9),
}


@pytest.mark.parametrize("kernel,padding", list(UTILISATION))
def test_pixel_utilisation_figure_9(kernel, padding):
    k_h, k_w = kernel
    pad = {0: (0, 0, 0, 0), "same": cs.padding_from_total(k_h - 1, k_w - 1),
           "full": (k_h - 1, k_h - 1, k_w - 1, k_w - 1)}[padding]
    counts = conv.pixel_use_counts((5, 5), kernel, 1, pad)
    np.testing.assert_array_equal(counts, UTILISATION[(kernel, padding)])
    # Independent count: enumerate the windows one by one (fine in a test: 5x5 image).
    H_out, W_out = cs.output_shape((5, 5), kernel, pad, (1, 1))
    brute = np.zeros((5 + pad[0] + pad[1], 5 + pad[2] + pad[3]), dtype=int)
    for u in range(H_out):
        for v in range(W_out):
            brute[u:u + k_h, v:v + k_w] += 1
    np.testing.assert_array_equal(counts, brute[pad[0]:pad[0] + 5, pad[2]:pad[2] + 5])


def test_pixel_utilisation_without_padding_favours_the_centre():
    counts = conv.pixel_use_counts((6, 6), (3, 3))
    assert counts[0, 0] == 1 and counts[2, 2] == 9
    assert counts.sum() == 4 * 4 * 9  # H_out W_out windows of k_h k_w pixels each
