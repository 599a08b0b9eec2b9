"""Module 15 quantization: observers and qschemes, error bounds (property tests), real int8
storage, exact integer arithmetic, calibration, whole-model conversion and float16 storage."""

import warnings

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
    EXACT_TERMS,
    Float16Conv2d,
    Float16Linear,
    FoldedReLU,
    MinMaxObserver,
    QuantizedConv2d,
    QuantizedLinear,
    _fold_relus,
    int_matmul,
    model_nbytes,
    per_channel_affine,
    per_channel_symmetric,
    per_tensor_affine,
    per_tensor_symmetric,
    quantize_int8,
    quantize_model,
)

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32)
float_arrays = arrays(np.float32, st.tuples(st.integers(1, 5), st.integers(1, 6)), elements=finite)
QSCHEMES = [per_tensor_affine, per_tensor_symmetric, per_channel_affine, per_channel_symmetric]


def quantize(x, qscheme, ch_axis=0):
    """quantize_int8 with the parameters an observer of ``qscheme`` calculates from ``x``."""
    observer = MinMaxObserver(qscheme, ch_axis=ch_axis)
    observer(x)
    return quantize_int8(x, *observer.calculate_qparams(), axis=ch_axis if observer.per_channel else None)


def _bound(q):
    """Half a quantization step, per element, plus float32 rounding slack."""
    scale = q.scale if q.axis is None else q.scale.reshape([-1 if a == q.axis else 1 for a in range(len(q.shape))])
    return scale / 2 * (1 + 1e-5) + 1e-6 * np.abs(scale) * 256


@given(float_arrays, st.sampled_from(QSCHEMES), st.sampled_from([0, 1]))
def test_round_trip_error_is_at_most_half_a_step(x, qscheme, ch_axis):
    q = quantize(x, qscheme, ch_axis)
    assert q.int_repr().dtype == np.int8 and q.int_repr().shape == x.shape
    assert np.all(np.abs(q.dequantize() - x) <= _bound(q))


@given(float_arrays, st.sampled_from([per_tensor_symmetric, per_channel_symmetric]))
def test_symmetric_codes_stay_in_minus_127_to_127_and_zero_point_is_zero(x, qscheme):
    q = quantize(x, qscheme)
    assert q.int_repr().min() >= -127 and q.int_repr().max() <= 127
    assert np.all(q.zero_point == 0)


@given(float_arrays, st.sampled_from(QSCHEMES), st.sampled_from([0, 1]))
def test_zero_is_exactly_representable(x, qscheme, ch_axis):
    x = x.copy()
    x[0, 0] = 0.0
    assert quantize(x, qscheme, ch_axis).dequantize()[0, 0] == 0.0


@given(arrays(np.float32, 20, elements=st.floats(0, 100, width=32)))
def test_affine_uses_the_whole_code_range_on_one_sided_data(x):
    x = np.append(x, np.float32(0.0))  # the range [0, max] always includes 0
    if x.max() == 0:
        return
    q = quantize(x, per_tensor_affine)
    assert q.int_repr().min() == -128 and q.int_repr().max() == 127


def test_per_channel_keeps_small_rows_precise_where_per_tensor_crushes_them():
    rng = np.random.default_rng(0)
    w = np.stack([rng.standard_normal(64) * 10, rng.standard_normal(64) * 0.01]).astype(np.float32)
    per_tensor = np.abs(quantize(w, per_tensor_symmetric).dequantize() - w)[1].max()
    per_channel = np.abs(quantize(w, per_channel_symmetric).dequantize() - w)[1].max()
    assert per_channel < per_tensor / 100


def test_values_outside_the_observed_range_saturate():
    observer = MinMaxObserver(per_tensor_symmetric)
    observer(np.array([-1.0, 1.0], np.float32))
    q = quantize_int8(np.array([5.0, -5.0, 0.5], np.float32), *observer.calculate_qparams())
    assert q.int_repr().tolist() == [127, -128, 64]   # the int8 range; inside the range codes stay in +-127


def test_observing_batches_equals_observing_all_data():
    rng = np.random.default_rng(1)
    batches = [rng.standard_normal((4, 3)).astype(np.float32) * s for s in (1, 5, 2)]
    for qscheme in QSCHEMES:
        one_by_one, at_once = MinMaxObserver(qscheme, ch_axis=1), MinMaxObserver(qscheme, ch_axis=1)
        for batch in batches:
            assert one_by_one(batch) is batch            # the observer passes its input through
        at_once(np.concatenate(batches))
        for a, b in zip(one_by_one.calculate_qparams(), at_once.calculate_qparams()):
            np.testing.assert_array_equal(a, b)


def test_calculate_qparams_by_hand():
    observer = MinMaxObserver(per_tensor_affine)
    observer(np.array([-1.0, 3.0], np.float32))
    scale, zero_point = observer.calculate_qparams()
    assert scale == np.float32(4 / 255) and int(zero_point) == round(-128 + 1 / (4 / 255))
    assert scale.dtype == np.float32 and zero_point.dtype == np.int32 and scale.shape == ()
    zeros = MinMaxObserver(per_tensor_symmetric)
    zeros(np.zeros(3, np.float32))
    assert float(zeros.calculate_qparams()[0]) == 1.0   # all zeros: any scale works, no division by 0
    per_channel = MinMaxObserver(per_channel_affine, ch_axis=0)
    per_channel(np.array([[0.0, 2.55], [-1.0, 1.0]], np.float32))
    scale, zero_point = per_channel.calculate_qparams()
    np.testing.assert_allclose(scale, [0.01, 2 / 255], rtol=1e-6)
    assert zero_point.tolist() == [-128, 0] and scale.shape == (2,)


# ----------------------------------------------------------------------------- exact integer products

def int64_product(a, b):
    return a.astype(np.int64) @ b.astype(np.int64)


@pytest.mark.parametrize("k", [1, 7, EXACT_TERMS, EXACT_TERMS + 1, 3 * EXACT_TERMS + 5, 4000])
def test_int_matmul_is_exact_on_random_codes_and_on_the_worst_case(k):
    rng = np.random.default_rng(k)
    a = rng.integers(-255, 256, (5, k)).astype(np.float32)       # shifted input codes
    b = rng.integers(-128, 128, (k, 3)).astype(np.float32)       # int8 weight codes
    assert np.array_equal(int_matmul(a, b), int64_product(a, b))
    # worst case: every product at its largest magnitude, all of one sign, or alternating signs
    a_max = np.full((2, k), 255.0, np.float32)
    for b_max in (np.full((k, 2), -128.0, np.float32), np.full((k, 2), 127.0, np.float32)):
        assert np.array_equal(int_matmul(a_max, b_max), int64_product(a_max, b_max))
    a_alt = np.where(np.arange(k) % 2 == 0, 255.0, -255.0).astype(np.float32)[None]
    assert np.array_equal(int_matmul(a_alt, np.full((k, 1), -128.0, np.float32)),
                          int64_product(a_alt, np.full((k, 1), -128.0)))


def test_a_total_no_float32_can_hold_comes_back_exact():
    """Why the blocks and the float64 between them: an odd integer above 2**24 is no float32."""
    k = 4000
    a = np.full((1, k), 255.0, np.float32)
    b = np.full((k, 1), 127.0, np.float32)
    a[0, 0] = 254.0   # makes the exact total odd
    exact = int(int64_product(a, b)[0, 0])
    assert exact > 2 ** 24 and exact % 2 == 1 and int(np.float32(exact)) != exact
    assert int(int_matmul(a, b)[0, 0]) == exact


# ----------------------------------------------------------------------------- layers

def _layer_and_input(seed=0):
    manual_seed(seed)
    layer = Linear(48, 20)
    x = np.random.default_rng(seed).random((7, 48), dtype=np.float32)
    return layer, x


def _qparams(x, qscheme=per_tensor_affine):
    observer = MinMaxObserver(qscheme)
    observer(x)
    return observer.calculate_qparams()


def _centred_input_codes(x, qparams):
    scale, zero_point = qparams
    return quantize_int8(x, scale, zero_point).int_repr().astype(np.int64) - int(zero_point)


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
    qparams = _qparams(x)
    q = QuantizedLinear.from_float(layer, qparams)
    out = q(Tensor(x)).data
    # Independent recomputation: int8 codes of the input, centred, exact integer products in int64.
    xq = _centred_input_codes(x, qparams)
    exact = (xq @ q.weight.data.astype(np.int64).T) * (qparams[0] * q.weight_scale.data) + layer.bias.data
    np.testing.assert_allclose(out, exact, rtol=1e-6, atol=1e-6)
    reference = x @ layer.weight.data.T + layer.bias.data
    step = float(qparams[0]) * np.abs(layer.weight.data).sum(1).max() + np.abs(x).sum(1).max() * q.weight_scale.data.max()
    assert np.abs(out - reference).max() <= step  # within one step of error per product, summed


def test_quantized_linear_accumulates_exactly_beyond_one_float32_block():
    """Integer weights of scale 1 and an input of scale 1: the output is the integer sum itself."""
    k = 3 * EXACT_TERMS
    weight = np.full((2, k), 127.0, np.float32)
    weight[1, ::2] = -127.0                                 # row 1 alternates: a small exact total
    x = np.full((1, k), 255.0, np.float32)                  # code 255 + (-128) = 127; centred: 255
    q = QuantizedLinear(weight, input_qparams=(np.float32(1.0), np.int32(-128)))
    assert np.array_equal(q.weight.data, weight.astype(np.int8)) and np.all(q.weight_scale.data == 1.0)
    codes = np.full(k, 255, np.int64)
    exact = codes @ weight.astype(np.int64).T
    assert exact[0] > 2 ** 24
    np.testing.assert_array_equal(q(Tensor(x)).data[0], exact.astype(np.float32))


def test_static_and_dynamic_input_quantization():
    layer, x = _layer_and_input()
    static = QuantizedLinear.from_float(layer, _qparams(x))
    dynamic = QuantizedLinear.from_float(layer)
    assert static.input_qparams is not None and dynamic.input_qparams is None
    np.testing.assert_allclose(static(Tensor(x)).data, dynamic(Tensor(x)).data, rtol=1e-6)  # same range here
    assert "static" in repr(static) and "dynamic" in repr(dynamic)


def test_per_tensor_weights_have_one_scale():
    layer, x = _layer_and_input()
    q = QuantizedLinear.from_float(layer, weight_qscheme=per_tensor_symmetric)
    assert len(set(q.weight_scale.data.tolist())) == 1
    assert np.abs(q(Tensor(x)).data - (x @ layer.weight.data.T + layer.bias.data)).max() < 0.05


def test_quantized_linear_keeps_leading_dimensions():
    layer, x = _layer_and_input()
    out = QuantizedLinear.from_float(layer)(Tensor(x.reshape(7, 1, 48)))
    assert out.shape == (7, 1, 20)


def test_quantized_conv2d_equals_the_integer_convolution_and_is_close_to_float():
    manual_seed(3)
    conv = Conv2d(3, 5, 3, stride=2, padding=1)
    x = np.random.default_rng(3).random((2, 3, 9, 8), dtype=np.float32)
    qparams = _qparams(x)
    q = QuantizedConv2d.from_float(conv, qparams)
    assert q.weight.data.dtype == np.int8 and q.weight.data.nbytes * 4 == conv.weight.data.nbytes
    out = q(Tensor(x)).data
    xq = _centred_input_codes(x, qparams).astype(np.float64)
    integer = conv2d_naive(xq, q.weight.data.astype(np.float64), None, 2, 1)  # exact in float64
    exact = integer * (qparams[0] * q.weight_scale.data).reshape(1, -1, 1, 1) + conv.bias.data.reshape(1, -1, 1, 1)
    np.testing.assert_allclose(out, exact, rtol=1e-5, atol=1e-5)
    with no_grad():
        reference = conv(Tensor(x)).data
    assert np.abs(out - reference).max() < 0.05


@pytest.mark.parametrize("channels, kernel", [(60, 3), (2, 23)])
def test_quantized_conv2d_is_exact_when_one_output_sums_more_than_exact_terms(channels, kernel):
    """60 * 3 * 3 = 540 and 2 * 23 * 23 = 1058 products per output: channel blocks, or float64."""
    assert channels * kernel * kernel > EXACT_TERMS
    rng = np.random.default_rng(channels)
    weight = rng.integers(-127, 128, (2, channels, kernel, kernel)).astype(np.float32)
    weight[:, 0, 0, 0] = 127.0                               # every row's largest |w| is 127: scale 1
    x = rng.integers(-128, 128, (1, channels, kernel + 1, kernel + 1)).astype(np.float32)
    q = QuantizedConv2d(weight, padding=1, input_qparams=(np.float32(1.0), np.int32(0)))
    assert np.all(q.weight_scale.data == 1.0)
    exact = conv2d_naive(x.astype(np.int64), weight.astype(np.int64), None, 1, 1)
    np.testing.assert_array_equal(q(Tensor(x)).data, exact.astype(np.float32))


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
    assert all(m.input_qparams is not None for m in q if hasattr(m, "int_weight"))
    # int8 weights: 1558 bytes; float32 biases and per-channel scales: 2 * 32 * 4; 3 input (scale, zero point) pairs.
    assert model_nbytes(model) == 1590 * 4
    assert model_nbytes(q) == 1558 + 2 * 32 * 4 + 3 * 8
    with no_grad():
        assert np.array_equal(q(Tensor(images)).data.argmax(1), model(Tensor(images)).data.argmax(1))


def test_calibration_records_each_layers_own_input_range():
    model = lenet()
    images = np.random.default_rng(0).random((16, 1, 8, 8), dtype=np.float32) * 2
    q = quantize_model(model, images)
    scale, zero_point = q[0].input_qparams
    assert float(scale) == pytest.approx(float(images.max()) / 255, rel=1e-6)  # min 0, affine
    assert int(zero_point) == -128
    assert float(q[3].input_qparams[0]) != float(scale)  # the second conv sees ReLU-pooled features


def mlp():
    manual_seed(0)
    return Sequential(Flatten(), Linear(64, 32), ReLU(), Linear(32, 10), ReLU())


def test_a_relu_before_a_static_int8_layer_is_folded_into_its_input_clip_bit_for_bit():
    """Calibrated on the ReLU's outputs, the next layer's zero point is -128, its clip sends negatives to 0."""
    images = np.random.default_rng(0).random((64, 1, 8, 8), dtype=np.float32) * 2 - 1
    q = quantize_model(mlp(), images[:32])
    assert [type(m).__name__ for m in q] == ["Flatten", "QuantizedLinear", "FoldedReLU", "QuantizedLinear", "ReLU"]
    assert int(q[3].input_qparams[1]) == -128
    unfolded = Sequential(*[ReLU() if isinstance(m, FoldedReLU) else m for m in q])
    with no_grad():
        hidden = q[1](q[0](Tensor(images))).data
        assert (hidden < 0).mean() > 0.3                     # the fold has negatives to clip
        assert np.array_equal(q(Tensor(images)).data, unfolded(Tensor(images)).data)
    assert "FoldedReLU(the next layer's input clip applies it)" in repr(q)


def test_a_relu_stays_where_the_next_layer_would_not_clip_it():
    dynamic = quantize_model(mlp())                          # each batch's own range: no clip known in advance
    assert [type(m).__name__ for m in dynamic] == ["Flatten", "QuantizedLinear", "ReLU", "QuantizedLinear", "ReLU"]
    weight = np.random.default_rng(1).standard_normal((10, 32)).astype(np.float32)
    shifted = Sequential(ReLU(), QuantizedLinear(weight, None, input_qparams=(0.01, -100)))
    _fold_relus(shifted)                                     # zero point -100: codes down to -28 still pass
    assert type(shifted[0]) is ReLU


def test_quantize_model_float16_and_per_tensor_weights():
    model = lenet()
    half = quantize_model(model, dtype="float16")
    assert model_nbytes(half) * 2 == model_nbytes(model)
    per_tensor = quantize_model(model, weight_qscheme=per_tensor_symmetric)
    assert all(len(set(m.weight_scale.data.tolist())) == 1 for m in per_tensor if hasattr(m, "int_weight"))


def test_a_scale_whose_float32_reciprocal_overflows_still_divides():
    """1 / 3e-42 is beyond float32: the codes come from a true division, never from 0 * inf = nan."""
    x = np.array([0.0, 1e-40, -2e-40, 3e-40], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        codes = quantize_int8(x, np.float32(3e-42), 0).int_repr()
    assert codes.tolist() == np.clip(np.rint(x / np.float32(3e-42)), -128, 127).astype(int).tolist()


def test_a_layers_input_scale_whose_float32_reciprocal_overflows_still_divides():
    """The layer path (one input scale, a Python float) takes the same care as quantize_int8."""
    layer = QuantizedLinear(np.eye(4, dtype=np.float32), input_qparams=(3e-42, 0))
    x = np.array([[0.0, 1e-40, -2e-40, 3e-40]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        codes, scale = layer._input_codes(x)
    assert codes.tolist() == np.clip(np.rint(x / np.float32(3e-42)), -128, 127).tolist()
    normal, _ = QuantizedLinear(np.eye(4, dtype=np.float32), input_qparams=(0.01, 3))._input_codes(x * 1e38)
    expected = quantize_int8(x * 1e38, 0.01, 3).int_repr().astype(np.float32) - 3   # codes minus the zero point
    assert normal.tolist() == expected.tolist()
