"""Module 09 spatial: the fast path of max pooling over side-by-side windows (stride = kernel,
no padding, e.g. ``MaxPool2d(2)``) computes exactly what the definition says.

The reference is written out window by window with ``np.argmax`` (which returns the first
maximum, the tie rule PyTorch follows), so a wrong winner, a wrong tie or a gradient written
into the wrong pixel of a cropped input fails here. Timings belong in ``make bench``.
"""

from __future__ import annotations

import numpy as np
import pytest

from tinytorch.core.spatial import max_pool2d
from tinytorch.core.tensor import Tensor


def reference_max_pool(x: np.ndarray, kernel: tuple[int, int], grad: np.ndarray):
    """Max over each (kh, kw) window at stride (kh, kw), and the input gradient sending each
    window's gradient to its first maximum in row-major order."""
    (kh, kw), (n, c, h, w) = kernel, x.shape
    oh, ow = h // kh, w // kw
    out = np.zeros((n, c, oh, ow), dtype=x.dtype)
    grad_x = np.zeros_like(x)
    for b in range(n):
        for ch in range(c):
            for y in range(oh):
                for xx in range(ow):
                    window = x[b, ch, y * kh:(y + 1) * kh, xx * kw:(xx + 1) * kw]
                    i, j = np.unravel_index(np.argmax(window), window.shape)
                    out[b, ch, y, xx] = window[i, j]
                    grad_x[b, ch, y * kh + i, xx * kw + j] = grad[b, ch, y, xx]
    return out, grad_x


@pytest.mark.parametrize("kernel", [(2, 2), (3, 3), (2, 3), (1, 1)])
@pytest.mark.parametrize("hw", [(8, 8), (7, 9), (6, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ties", [False, True])
def test_side_by_side_max_pool_matches_the_window_by_window_reference(kernel, hw, dtype, ties):
    rng = np.random.default_rng(sum(kernel) + 10 * hw[0] + hw[1])
    shape = (3, 2, *hw)
    # ties: few distinct values (ReLU zeros make windows of equal pixels); else all distinct
    x = rng.integers(0, 3, shape).astype(dtype) if ties else rng.standard_normal(shape).astype(dtype)
    xt = Tensor(x, dtype=dtype, requires_grad=True)
    out = max_pool2d(xt, kernel)
    grad = rng.standard_normal(out.shape).astype(dtype)
    out.backward(grad)
    want_out, want_grad = reference_max_pool(x, kernel, grad)
    assert out.dtype == dtype and xt.grad.dtype == dtype
    np.testing.assert_array_equal(out.data, want_out)
    np.testing.assert_array_equal(xt.grad, want_grad)   # uncovered rows/columns (odd sizes) get 0


def test_side_by_side_max_pool_of_negative_values_and_a_non_contiguous_input():
    rng = np.random.default_rng(1)
    x = -rng.random((2, 3, 8, 6)).astype(np.float32) - 1.0          # every value below -1
    view = x.transpose(0, 1, 3, 2)                                   # (2, 3, 6, 8), strided
    xt = Tensor(view, requires_grad=True)
    out = max_pool2d(xt, 2)
    grad = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(grad)
    want_out, want_grad = reference_max_pool(np.ascontiguousarray(view), (2, 2), grad)
    np.testing.assert_array_equal(out.data, want_out)
    np.testing.assert_array_equal(xt.grad, want_grad)


def test_side_by_side_max_pool_sends_an_infinite_gradient_to_the_winner_only():
    x = np.array([[[[1.0, 3.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0]]]], dtype=np.float32)
    xt = Tensor(x, requires_grad=True)
    max_pool2d(xt, 2).backward(np.array([[[[np.inf, -np.inf]]]], dtype=np.float32))
    want = np.zeros_like(x)
    want[0, 0, 0, 1], want[0, 0, 0, 2] = np.inf, -np.inf            # the 3, and the first 0 of a tie
    np.testing.assert_array_equal(xt.grad, want)                      # no nan from inf * 0
