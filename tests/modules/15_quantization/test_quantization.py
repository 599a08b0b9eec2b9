"""Module 15 quantization: error bounds (property tests), real int8 storage, integer arithmetic,
calibration, whole-model conversion and float16 storage."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tinytorch.core.activations import ReLU
from tinytorch.core.autograd import no_grad
from tinytorch.core.layers import Flatten, Linear, Sequential
from tinytorch.core.random import manual_seed
from tinytorch.core.spatial import Conv2d, MaxPool2d, conv2d_naive
from tinytorch.core.tensor import Tensor
from tinytorch.perf.quantization import (
    Float16Conv2d,
    Float16Linear,
    QuantizedConv2d,
    QuantizedLinear,
    calibrate,
    dequantize_int8,
    model_nbytes,
    params_from_range,
    quantize_int8,
    quantize_model,
)

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32)
float_arrays = arrays(np.float32, st.tuples(st.integers(1, 5), st.integers(1, 6)), elements=finite)


def _bound(q):
    """Half a quantization step, per element, plus float32 rounding slack."""
    scale, _ = q.params.shaped(q.values.ndim)
    return scale / 2 * (1 + 1e-5) + 1e-6 * np.abs(scale) * 256


@given(float_arrays, st.booleans(), st.sampled_from([None, 0, 1]))
def test_round_trip_error_is_at_most_half_a_step(x, symmetric, axis):
    q = quantize_int8(x, symmetric=symmetric, axis=axis)
    assert q.values.dtype == np.int8 and q.values.shape == x.shape
    assert np.all(np.abs(dequantize_int8(q) - x) <= _bound(q))


@given(float_arrays, st.sampled_from([None, 0]))
def test_symmetric_codes_stay_in_minus_127_to_127_and_zero_point_is_zero(x, axis):
    q = quantize_int8(x, symmetric=True, axis=axis)
    assert q.values.min() >= -127 and q.values.max() <= 127
    assert np.all(q.params.zero_point == 0)


@given(float_arrays, st.booleans(), st.sampled_from([None, 1]))
def test_zero_is_exactly_representable(x, symmetric, axis):
    x = x.copy()
    x[0, 0] = 0.0
    q = quantize_int8(x, symmetric=symmetric, axis=axis)
    assert dequantize_int8(q)[0, 0] == 0.0


@given(arrays(np.float32, 20, elements=st.floats(0, 100, width=32)))
def test_affine_uses_the_whole_code_range_on_one_sided_data(x):
    x = np.append(x, np.float32(0.0))  # the range [0, max] always includes 0
    if x.max() == 0:
        return
    q = quantize_int8(x, symmetric=False)
    assert q.values.min() == -128 and q.values.max() == 127


def test_per_channel_keeps_small_rows_precise_where_per_tensor_crushes_them():
    rng = np.random.default_rng(0)
    w = np.stack([rng.standard_normal(64) * 10, rng.standard_normal(64) * 0.01]).astype(np.float32)
    per_tensor = np.abs(dequantize_int8(quantize_int8(w)) - w)[1].max()
    per_channel = np.abs(dequantize_int8(quantize_int8(w, axis=0)) - w)[1].max()
    assert per_channel < per_tensor / 100


def test_values_outside_the_calibrated_range_saturate():
    params = calibrate(np.array([-1.0, 1.0], np.float32))
    q = quantize_int8(np.array([5.0, -5.0, 0.5], np.float32), params=params)
    assert q.values.tolist() == [127, -127, 64]


def test_calibrating_on_batches_equals_calibrating_on_all_data():
    rng = np.random.default_rng(1)
    batches = [rng.standard_normal((4, 3)).astype(np.float32) * s for s in (1, 5, 2)]
    for symmetric in (True, False):
        for axis in (None, 1):
            a = calibrate(batches, symmetric, axis)
            b = calibrate(np.concatenate(batches), symmetric, axis)
            np.testing.assert_array_equal(a.scale, b.scale)
            np.testing.assert_array_equal(a.zero_point, b.zero_point)


def test_params_from_range_by_hand():
    p = params_from_range(-1.0, 3.0, symmetric=False)
    assert p.scale == np.float32(4 / 255) and int(p.zero_point) == round(-128 + 1 / (4 / 255))
    assert float(params_from_range(0.0, 0.0).scale) == 1.0   # all zeros: any scale works, no division by 0


def test_quantize_rejects_integer_input():
    with pytest.raises(TypeError, match="floating point"):
        quantize_int8(np.arange(4))


# ----------------------------------------------------------------------------- layers

def _layer_and_input(seed=0):
    manual_seed(seed)
    layer = Linear(48, 20)
    x = np.random.default_rng(seed).random((7, 48), dtype=np.float32)
    return layer, x


def test_quantized_linear_stores_int8_weights_a_quarter_of_float32():
    layer, _ = _layer_and_input()
    q = QuantizedLinear.from_float(layer)
    assert q.weight.data.dtype == np.int8
    assert q.weight.data.nbytes * 4 == layer.weight.data.nbytes
    assert q.nbytes < layer.weight.data.nbytes / 4 + layer.bias.data.nbytes + 2 * 20 * 4
    assert not list(q.parameters())  # buffers: inference only, nothing to train
    names = dict(q.named_buffers())
    assert names["weight"].dtype == np.int8 and names["weight_scale"].dtype == np.float32


def test_quantized_linear_is_the_integer_formula_and_close_to_float():
    layer, x = _layer_and_input()
    params = calibrate(x, symmetric=False)
    q = QuantizedLinear.from_float(layer, params)
    out = q(Tensor(x)).data
    # Independent recomputation: int8 codes of the input, centred, exact integer products.
    xq = quantize_int8(x, params=params).values.astype(np.int64) - int(params.zero_point)
    exact = (xq @ q.weight.data.astype(np.int64).T) * (params.scale * q.weight_scale.data) + layer.bias.data
    np.testing.assert_allclose(out, exact, rtol=1e-6, atol=1e-6)
    reference = x @ layer.weight.data.T + layer.bias.data
    step = float(params.scale) * np.abs(layer.weight.data).sum(1).max() + np.abs(x).sum(1).max() * q.weight_scale.data.max()
    assert np.abs(out - reference).max() <= step  # within one step of error per product, summed


def test_integer_matmul_accumulates_in_int32(monkeypatch):
    layer, x = _layer_and_input()
    q = QuantizedLinear.from_float(layer)
    seen = []
    original = np.matmul

    def spy(a, b, *args, **kwargs):
        seen.append((a.dtype, b.dtype))
        return original(a, b, *args, **kwargs)

    monkeypatch.setattr(np, "matmul", spy)
    q(Tensor(x))
    assert (np.dtype(np.int32), np.dtype(np.int32)) in seen


def test_static_and_dynamic_input_quantization():
    layer, x = _layer_and_input()
    static = QuantizedLinear.from_float(layer, calibrate(x, symmetric=False))
    dynamic = QuantizedLinear.from_float(layer)
    assert static.input_params is not None and dynamic.input_params is None
    np.testing.assert_allclose(static(Tensor(x)).data, dynamic(Tensor(x)).data, rtol=1e-6)  # same range here
    assert "static" in repr(static) and "dynamic" in repr(dynamic)


def test_quantized_linear_rejects_a_wrong_input_width():
    q = QuantizedLinear.from_float(_layer_and_input()[0])
    with pytest.raises(ValueError, match=r"QuantizedLinear: expected input \(\*, 48\)"):
        q(Tensor(np.zeros((2, 47), np.float32)))


def test_quantized_linear_keeps_leading_dimensions():
    layer, x = _layer_and_input()
    out = QuantizedLinear.from_float(layer)(Tensor(x.reshape(7, 1, 48)))
    assert out.shape == (7, 1, 20)


def test_quantized_conv2d_equals_the_integer_convolution_and_is_close_to_float():
    manual_seed(3)
    conv = Conv2d(3, 5, 3, stride=2, padding=1)
    x = np.random.default_rng(3).random((2, 3, 9, 8), dtype=np.float32)
    params = calibrate(x, symmetric=False)
    q = QuantizedConv2d.from_float(conv, params)
    assert q.weight.data.dtype == np.int8 and q.weight.data.nbytes * 4 == conv.weight.data.nbytes
    out = q(Tensor(x)).data
    xq = (quantize_int8(x, params=params).values.astype(np.int64) - int(params.zero_point)).astype(np.float64)
    integer = conv2d_naive(xq, q.weight.data.astype(np.float64), None, 2, 1)  # exact in float64
    exact = integer * (params.scale * q.weight_scale.data).reshape(1, -1, 1, 1) + conv.bias.data.reshape(1, -1, 1, 1)
    np.testing.assert_allclose(out, exact, rtol=1e-5, atol=1e-5)
    with no_grad():
        reference = conv(Tensor(x)).data
    assert np.abs(out - reference).max() < 0.05


def test_float16_layers_halve_the_bytes_and_stay_close():
    layer, x = _layer_and_input()
    half = Float16Linear.from_float(layer)
    assert half.weight.data.dtype == np.float16 and half.weight.data.nbytes * 2 == layer.weight.data.nbytes
    np.testing.assert_allclose(half(Tensor(x)).data, x @ layer.weight.data.T + layer.bias.data, atol=2e-3)
    manual_seed(0)
    conv = Conv2d(1, 4, 3)
    images = np.random.default_rng(0).random((2, 1, 6, 6), dtype=np.float32)
    with no_grad():
        np.testing.assert_allclose(Float16Conv2d.from_float(conv)(Tensor(images)).data, conv(Tensor(images)).data,
                                   atol=2e-3)


# ----------------------------------------------------------------------------- whole models

def lenet():
    manual_seed(0)
    return Sequential(Conv2d(1, 6, 3, padding=1), ReLU(), MaxPool2d(2), Conv2d(6, 16, 3, padding=1), ReLU(),
                      MaxPool2d(2), Flatten(), Linear(64, 10))


def test_quantize_model_replaces_every_weight_layer_and_leaves_the_original_alone():
    model = lenet()
    before = [p.data.copy() for p in model.parameters()]
    images = np.random.default_rng(0).random((16, 1, 8, 8), dtype=np.float32)
    q = quantize_model(model, [images[:8], images[8:]])
    assert [type(m).__name__ for m in q] == ["QuantizedConv2d", "ReLU", "MaxPool2d", "QuantizedConv2d", "ReLU",
                                             "MaxPool2d", "Flatten", "QuantizedLinear"]
    assert all(np.array_equal(a, p.data) for a, p in zip(before, model.parameters()))
    assert all(type(m).__name__ != "QuantizedLinear" for m in model)
    assert all(m.input_params is not None for m in q if hasattr(m, "int_weight"))
    # int8 weights: 1558 bytes; float32 biases and per-channel scales: 2 * 32 * 4; 3 input (scale, zero point) pairs.
    assert model_nbytes(model) == 1590 * 4
    assert model_nbytes(q) == 1558 + 2 * 32 * 4 + 3 * 8
    with no_grad():
        assert np.array_equal(q(Tensor(images)).data.argmax(1), model(Tensor(images)).data.argmax(1))


def test_calibration_records_each_layers_own_input_range():
    model = lenet()
    images = np.random.default_rng(0).random((16, 1, 8, 8), dtype=np.float32) * 2
    q = quantize_model(model, images)
    first = q[0].input_params
    assert float(first.scale) == pytest.approx(float(images.max()) / 255, rel=1e-6)  # min 0, affine
    assert int(first.zero_point) == -128
    assert float(q[3].input_params.scale) != float(first.scale)  # the second conv sees ReLU-pooled features


def test_quantize_model_float16_and_bad_dtype():
    model = lenet()
    half = quantize_model(model, dtype="float16")
    assert model_nbytes(half) * 2 == model_nbytes(model)
    with pytest.raises(ValueError, match="int8' or 'float16"):
        quantize_model(model, dtype="int4")
