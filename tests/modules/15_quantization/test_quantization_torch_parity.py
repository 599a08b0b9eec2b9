"""Parity of int8 quantization codes with PyTorch (skipped without torch).

Values are placed within a few float32 steps of half a quantization step, where ``x / scale``
and ``x * (1 / scale)`` round differently: with a zero point of 0 the codes must be torch's,
bit for bit; torch's kernels add a nonzero zero point before rounding, so there one code apart.
"""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tinytorch.core.tensor import Tensor  # noqa: E402
from tinytorch.perf.quantization import QuantizedLinear, quantize_int8  # noqa: E402

RNG = np.random.default_rng(2018)


def near_half_steps(scales: np.ndarray, count: int) -> np.ndarray:
    """(len(scales), count) values within 3 float32 steps of (k + 0.5) * scale for integers k."""
    base = (RNG.integers(-100, 100, (len(scales), count)) + 0.5).astype(np.float32) * scales[:, None]
    return base + RNG.integers(-3, 4, base.shape).astype(np.float32) * np.spacing(base)


def torch_codes(make):
    with warnings.catch_warnings():                 # torch deprecates its quantized tensors, not their values
        warnings.simplefilter("ignore")
        return make().int_repr().numpy()


@pytest.mark.parametrize("zero_point", [0, -7])
def test_per_tensor_codes_are_torchs(zero_point):
    scale = np.float32(0.0123457)
    x = near_half_steps(np.array([scale]), 200_000)[0]
    ours = quantize_int8(x, scale, zero_point).int_repr().astype(np.int64)
    theirs = torch_codes(lambda: torch.quantize_per_tensor(torch.from_numpy(x), float(scale), zero_point, torch.qint8))
    assert_codes_match(ours, theirs, zero_point == 0)


def assert_codes_match(ours, theirs, exactly):
    if exactly:
        assert np.array_equal(ours, theirs)
    else:
        assert np.abs(ours - theirs).max() <= 1


def test_per_channel_codes_are_torchs():
    scales = np.array([0.0123457, 0.0377, 0.00731], np.float32)
    zero_points = np.array([0, 5, -3])
    x = near_half_steps(scales, 50_000)
    ours = quantize_int8(x, scales, zero_points, axis=0).int_repr().astype(np.int64)
    theirs = torch_codes(lambda: torch.quantize_per_channel(
        torch.from_numpy(x), torch.from_numpy(scales.astype(np.float64)), torch.from_numpy(zero_points), 0, torch.qint8))
    assert_codes_match(ours[0], theirs[0], True)                    # zero point 0: bit for bit
    assert_codes_match(ours[1:], theirs[1:], False)


def test_a_quantized_linear_reads_torchs_input_codes():
    """The layer's own input quantization (no int8 round trip) gives torch's codes minus the zero point."""
    scale, zero_point = np.float32(0.0123457), 0
    x = near_half_steps(np.array([scale]), 4096)[0].reshape(64, 64)
    layer = QuantizedLinear(RNG.standard_normal((3, 64)).astype(np.float32), input_qparams=(scale, zero_point))
    codes, _ = layer._input_codes(x)
    theirs = torch_codes(lambda: torch.quantize_per_tensor(torch.from_numpy(x), float(scale), zero_point, torch.qint8))
    assert np.array_equal(codes, theirs.astype(np.float32) - zero_point)
    assert layer(Tensor(x)).shape == (64, 3)
