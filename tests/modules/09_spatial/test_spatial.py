"""Module 09 spatial: Conv2d, MaxPool2d, AvgPool2d.

The fast im2col convolution is checked against the explicit-loop ``conv2d_naive``;
every fused primitive gets a float64 central-difference gradient check.
"""

from contextlib import contextmanager

import numpy as np
import pytest
from gradcheck import gradcheck
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tinytorch.core import spatial
from tinytorch.core.activations import relu
from tinytorch.core.random import manual_seed
from tinytorch.core.spatial import (
    AvgPool2d,
    Conv2d,
    MaxPool2d,
    avg_pool2d,
    conv2d,
    conv2d_naive,
    max_pool2d,
)
from tinytorch.core.tensor import Tensor

# (N, C, H, W, O, kernel, stride, padding): square and non-square kernels, strides, paddings.
CONV_CASES = [
    (2, 3, 7, 6, 4, (3, 2), (2, 1), (1, 2)),
    (3, 1, 8, 8, 6, 3, 1, 1),
    (2, 2, 9, 9, 3, 5, 2, 0),
    (2, 2, 10, 9, 3, (3, 5), 3, 2),
    (2, 2, 5, 5, 3, 5, 1, 0),
    (2, 2, 11, 7, 3, (2, 3), (1, 3), (0, 1)),
    (1, 2, 6, 9, 2, 1, (3, 2), 0),
    (2, 1, 3, 3, 2, 3, 4, 1),
    (2, 3, 6, 7, 4, (3, 2), 1, (2, 1)),
    (3, 2, 7, 5, 3, (2, 4), 1, (0, 2)),
]


def _conv_arrays(rng, n, c, h, w, o, kernel, dtype=np.float64):
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    weight = rng.standard_normal((o, c, kh, kw)).astype(dtype)
    bias = rng.standard_normal(o).astype(dtype)
    return x, weight, bias


# Both ways of unfolding: one kernel row per matmul wherever the stride allows (threshold 1),
# and whole windows in one matmul (threshold never reached), whatever the channel count.
UNFOLDINGS = pytest.mark.parametrize("min_row", [1, 10**9], ids=["row-unfold", "window-unfold"])


@contextmanager
def unfolding(min_row):
    """Force ``Conv2dFunction``'s choice of unfolding for the duration of a block."""
    saved, spatial.MIN_ROW_CONTRACTION = spatial.MIN_ROW_CONTRACTION, min_row
    try:
        yield
    finally:
        spatial.MIN_ROW_CONTRACTION = saved


def _distinct(rng, shape):
    """Values spaced 0.1 apart in random order: no ties, so max pooling is differentiable
    and stays so under the +-1e-6 finite-difference nudges."""
    return rng.permutation(int(np.prod(shape))).reshape(shape).astype(np.float64) * 0.1


# ----------------------------------------------------------------------------- forward

@UNFOLDINGS
@pytest.mark.parametrize("n, c, h, w, o, kernel, stride, padding", CONV_CASES)
def test_conv2d_matches_naive(n, c, h, w, o, kernel, stride, padding, min_row):
    x, weight, bias = _conv_arrays(np.random.default_rng(0), n, c, h, w, o, kernel)
    with unfolding(min_row):
        fast = conv2d(Tensor(x, dtype=np.float64), Tensor(weight, dtype=np.float64),
                      Tensor(bias, dtype=np.float64), stride, padding)
    np.testing.assert_allclose(fast.data, conv2d_naive(x, weight, bias, stride, padding),
                               rtol=1e-12, atol=1e-12)


def test_conv2d_without_bias_and_float32():
    x, weight, _ = _conv_arrays(np.random.default_rng(1), 2, 3, 6, 6, 4, 3, dtype=np.float32)
    out = conv2d(Tensor(x), Tensor(weight), None, 1, 1)
    assert out.dtype == np.float32 and out.shape == (2, 4, 6, 6)
    np.testing.assert_allclose(out.data, conv2d_naive(x, weight, None, 1, 1), rtol=1e-5, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 2), c=st.integers(1, 3), o=st.integers(1, 3),
    h=st.integers(1, 7), w=st.integers(1, 7),
    kh=st.integers(1, 4), kw=st.integers(1, 4),
    sh=st.integers(1, 3), sw=st.integers(1, 3),
    ph=st.integers(0, 2), pw=st.integers(0, 2),
    seed=st.integers(0, 2**16), min_row=st.sampled_from([1, 10**9]),
)
def test_conv2d_matches_naive_property(n, c, o, h, w, kh, kw, sh, sw, ph, pw, seed, min_row):
    assume(kh <= h + 2 * ph and kw <= w + 2 * pw)  # else: test_kernel_larger_than_padded_input
    x, weight, bias = _conv_arrays(np.random.default_rng(seed), n, c, h, w, o, (kh, kw))
    with unfolding(min_row):
        out = conv2d(Tensor(x, dtype=np.float64), Tensor(weight, dtype=np.float64),
                     Tensor(bias, dtype=np.float64), (sh, sw), (ph, pw))
    np.testing.assert_allclose(out.data, conv2d_naive(x, weight, bias, (sh, sw), (ph, pw)),
                               rtol=1e-12, atol=1e-12)


def test_max_pool_forward_by_hand():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(max_pool2d(Tensor(x), 2).data, [[[[5, 7], [13, 15]]]])
    # -inf padding: the max of a border window is a real pixel, never the padding.
    neg = -x - 1
    assert max_pool2d(Tensor(neg), 3, 1, 1).data.max() == -1


def test_avg_pool_forward_by_hand():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    np.testing.assert_allclose(avg_pool2d(Tensor(x), 2).data, [[[[2.5, 4.5], [10.5, 12.5]]]])
    # count_include_pad=True: the corner window of 3x3/pad 1 holds 4 real pixels out of 9.
    ones = np.ones((1, 1, 4, 4), dtype=np.float32)
    np.testing.assert_allclose(avg_pool2d(Tensor(ones), 3, 1, 1).data[0, 0, 0, 0], 4 / 9, rtol=1e-6)


# ----------------------------------------------------------------------------- gradients

@UNFOLDINGS
@pytest.mark.parametrize("n, c, h, w, o, kernel, stride, padding", CONV_CASES[:6] + CONV_CASES[-2:])
def test_conv2d_gradcheck(n, c, h, w, o, kernel, stride, padding, min_row):
    x, weight, bias = _conv_arrays(np.random.default_rng(2), n, c, h, w, o, kernel)
    with unfolding(min_row):
        gradcheck(lambda x, w, b: conv2d(x, w, b, stride, padding), x, weight, bias)


@pytest.mark.parametrize("kernel, stride, padding", [((1, 2), (2, 1), (2, 3)), (3, 3, 2), (2, (1, 3), (1, 0))])
def test_conv2d_gradcheck_with_padding_beyond_the_kernel(kernel, stride, padding):
    """Output pixels that see only padding send no gradient to the input (the frame is cropped)."""
    x, weight, bias = _conv_arrays(np.random.default_rng(8), 2, 2, 4, 5, 3, kernel)
    gradcheck(lambda x, w, b: conv2d(x, w, b, stride, padding), x, weight, bias)


@pytest.mark.parametrize("kernel, padding", [(2, 2), ((3, 2), (3, 1)), (1, 1)])
def test_conv2d_gradcheck_batch_folded_input_gradient_with_padding_beyond_the_kernel(kernel, padding):
    """Stride 1, col2im on the batch-folded layout: border outputs that see only padding send nothing back."""
    x, weight, bias = _conv_arrays(np.random.default_rng(9), 2, 3, 4, 5, 2, kernel)
    with unfolding(1):
        gradcheck(lambda x, w, b: conv2d(x, w, b, 1, padding), x, weight, bias)


def test_conv2d_unfolds_one_kernel_row_when_rows_are_wide_enough():
    """The documented rule: row-by-row for stride-1 rows of C*kw >= 8 inputs, else whole windows."""
    assert spatial._rows_per_unfold(3, (5, 5), (1, 1)) == 1          # CIFAR's first layer
    assert spatial._rows_per_unfold(8, (3, 3), (1, 2)) == 1          # a horizontal stride is fine
    assert spatial._rows_per_unfold(1, (3, 3), (1, 1)) == 3          # one channel: thin rows
    assert spatial._rows_per_unfold(8, (3, 3), (2, 1)) == 3          # vertical stride: whole windows


def test_conv2d_full_size_layers_match_naive_in_float32():
    """The shapes the book trains at full size (28x28 and 32x32x3 with 5x5 kernels), both unfoldings."""
    rng = np.random.default_rng(7)
    for c, o, size, k, pad in ((8, 16, 14, 3, 1), (3, 6, 32, 5, 0), (6, 16, 14, 5, 0)):
        x = rng.standard_normal((2, c, size, size)).astype(np.float32)
        weight = rng.standard_normal((o, c, k, k)).astype(np.float32)
        expected = conv2d_naive(x.astype(np.float64), weight.astype(np.float64), None, 1, pad)
        for min_row in (1, 10**9):
            with unfolding(min_row):
                out = conv2d(Tensor(x), Tensor(weight), None, 1, pad)
            assert out.dtype == np.float32
            np.testing.assert_allclose(out.data, expected, rtol=1e-4, atol=1e-4)


def test_conv2d_gradcheck_without_bias():
    x, weight, _ = _conv_arrays(np.random.default_rng(3), 2, 2, 5, 4, 3, (2, 3))
    gradcheck(lambda x, w: conv2d(x, w, None, (2, 1), 1), x, weight)


def test_conv2d_weight_grad_only_when_input_is_data():
    x, weight, bias = _conv_arrays(np.random.default_rng(4), 2, 2, 5, 5, 3, 3)
    w_t, b_t = Tensor(weight, requires_grad=True, dtype=np.float64), Tensor(bias, requires_grad=True, dtype=np.float64)
    x_t = Tensor(x, dtype=np.float64)
    conv2d(x_t, w_t, b_t, 1, 1).sum().backward()
    assert x_t.grad is None and w_t.grad.shape == weight.shape and b_t.grad.shape == bias.shape


@pytest.mark.parametrize("kernel, stride, padding", [
    (2, None, 0), (3, 2, 1), ((3, 2), (1, 2), (1, 1)), (2, 1, 0), (3, 3, 1),
])
def test_max_pool_gradcheck(kernel, stride, padding):
    x = _distinct(np.random.default_rng(5), (2, 2, 7, 6))
    gradcheck(lambda x: max_pool2d(x, kernel, stride, padding), x)


def test_max_pool_gradient_goes_to_the_first_maximum_of_a_tie():
    """As PyTorch: a window of equal values (ReLU zeros) sends its gradient to its first pixel
    in row-major order, once; overlapping windows add up at a shared winner."""
    x = Tensor(np.zeros((1, 1, 4, 4)), requires_grad=True)
    max_pool2d(x, 2).backward(np.arange(1.0, 5.0).reshape(1, 1, 2, 2))
    np.testing.assert_array_equal(x.grad[0, 0], [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]])
    y = Tensor(np.array([[[[0.0, 5.0, 5.0], [5.0, 0.0, 0.0]]]]), requires_grad=True)
    max_pool2d(y, 2, 1).backward(np.array([[[[1.0, 10.0]]]]))   # windows share the 5 at (0, 1)
    np.testing.assert_array_equal(y.grad[0, 0], [[0, 11, 0], [0, 0, 0]])


def test_max_pool_infinite_gradient_reaches_the_winner_only():
    """inf * 0 is nan: an infinite upstream gradient must not spill nan onto the losers."""
    x = Tensor(np.array([[[[1.0, 3.0], [2.0, 0.0]]]]), requires_grad=True)
    max_pool2d(x, 2).backward(np.array([[[[np.inf]]]]))
    np.testing.assert_array_equal(x.grad[0, 0], [[0, np.inf], [0, 0]])


@pytest.mark.parametrize("kernel, stride, padding", [
    (2, None, 0), (3, 2, 1), ((3, 2), (1, 2), (1, 1)), (2, 1, 0),
])
def test_avg_pool_gradcheck(kernel, stride, padding):
    x = np.random.default_rng(6).standard_normal((2, 2, 7, 6))
    gradcheck(lambda x: avg_pool2d(x, kernel, stride, padding), x)


def test_max_pool_routes_gradient_to_the_max_only():
    x = Tensor(np.array([[[[1.0, 4.0], [3.0, 2.0]]]]), requires_grad=True)
    max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad, [[[[0, 1], [0, 0]]]])


# ----------------------------------------------------------------------------- errors

def test_conv_rejects_3d_input():
    conv = Conv2d(3, 4, 3)
    with pytest.raises(ValueError, match=r"Conv2d expects 4-D input \(N, C, H, W\), got shape \(3, 8, 8\)"):
        conv(Tensor(np.zeros((3, 8, 8), dtype=np.float32)))


def test_conv_rejects_channel_mismatch():
    conv = Conv2d(3, 4, 3)
    with pytest.raises(ValueError, match="expected 3 input channels, got 1"):
        conv(Tensor(np.zeros((2, 1, 8, 8), dtype=np.float32)))


def test_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match=r"Conv2d: kernel size \(5, 5\) is larger than the padded input \(4, 4\)"):
        Conv2d(1, 1, 5, padding=1)(Tensor(np.zeros((1, 1, 2, 2), dtype=np.float32)))
    with pytest.raises(ValueError, match="MaxPool2d: kernel size"):
        MaxPool2d(3)(Tensor(np.zeros((1, 1, 2, 2), dtype=np.float32)))


@pytest.mark.parametrize("pool", [MaxPool2d, AvgPool2d])
def test_pool_errors(pool):
    name = pool.__name__
    with pytest.raises(ValueError, match=f"{name} expects 4-D input"):
        pool(2)(Tensor(np.zeros((4, 4), dtype=np.float32)))
    with pytest.raises(ValueError, match=f"{name}: padding should be at most half of kernel size"):
        pool(2, padding=2)(Tensor(np.zeros((1, 1, 4, 4), dtype=np.float32)))


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="stride must be >= 1"):
        Conv2d(1, 1, 3, stride=0)
    with pytest.raises(ValueError, match="kernel_size must be an int or a pair"):
        Conv2d(1, 1, (3, 3, 3))


# ----------------------------------------------------------------------------- modules

def test_conv2d_module_shapes_params_and_repr():
    conv = Conv2d(1, 6, 3, padding=1)
    assert conv.weight.shape == (6, 1, 3, 3) and conv.bias.shape == (6,)
    assert sum(p.data.size for p in conv.parameters()) == 6 * 9 + 6
    assert conv(Tensor(np.zeros((32, 1, 8, 8), dtype=np.float32))).shape == (32, 6, 8, 8)
    assert repr(conv) == "Conv2d(1, 6, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"
    no_bias = Conv2d(6, 16, (3, 5), stride=2, bias=False)
    assert no_bias.bias is None and len(list(no_bias.parameters())) == 1
    assert repr(no_bias) == "Conv2d(6, 16, kernel_size=(3, 5), stride=(2, 2), bias=False)"


def test_conv2d_init_is_pytorch_default_and_seeded():
    manual_seed(0)
    conv = Conv2d(4, 8, 3)
    bound = 1 / np.sqrt(4 * 3 * 3)
    for p in (conv.weight, conv.bias):
        assert p.dtype == np.float32 and p.requires_grad
        assert np.abs(p.data).max() <= bound and np.abs(p.data).max() > 0.8 * bound
    manual_seed(0)
    np.testing.assert_array_equal(Conv2d(4, 8, 3).weight.data, conv.weight.data)


def test_pool_modules_repr_and_shapes():
    assert repr(MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=2, padding=0)"
    assert repr(AvgPool2d(3, 1, 1)) == "AvgPool2d(kernel_size=3, stride=1, padding=1)"
    x = Tensor(np.zeros((2, 6, 8, 8), dtype=np.float32))
    assert MaxPool2d(2)(x).shape == (2, 6, 4, 4) and AvgPool2d(2)(x).shape == (2, 6, 4, 4)
    assert MaxPool2d(2)(x).dtype == np.float32 and AvgPool2d(2)(x).dtype == np.float32
    assert list(MaxPool2d(2).parameters()) == []


def test_lenet_like_stack_trains_end_to_end():
    """Conv -> ReLU -> pool -> conv -> pool: gradients reach every parameter."""
    manual_seed(0)
    c1, c2 = Conv2d(1, 6, 3, padding=1), Conv2d(6, 16, 3, padding=1)
    x = Tensor(np.random.default_rng(7).standard_normal((4, 1, 8, 8)).astype(np.float32))
    h = MaxPool2d(2)(relu(c1(x)))
    out = AvgPool2d(2)(relu(c2(h)))
    assert out.shape == (4, 16, 2, 2)
    out.sum().backward()
    for p in (c1.weight, c1.bias, c2.weight, c2.bias):
        assert p.grad is not None and p.grad.shape == p.shape and p.grad.dtype == np.float32
