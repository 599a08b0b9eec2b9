"""Module 15 quantization: every bad argument raises one clear error naming the call and the
argument (never a NumPy message, never a silent result such as codes for NaN)."""

import numpy as np
import pytest

from tinytorch.core.layers import Linear, Sequential
from tinytorch.core.spatial import Conv2d
from tinytorch.core.tensor import Tensor
from tinytorch.perf.quantization import (
    Float16Conv2d,
    Float16Linear,
    MinMaxObserver,
    QuantizedConv2d,
    QuantizedLinear,
    QuantizedTensor,
    int_matmul,
    model_nbytes,
    per_channel_affine,
    per_tensor_affine,
    quantize_int8,
    quantize_model,
)

ONE, ZERO = np.float32(0.1), np.int32(0)


@pytest.mark.parametrize("x, error, message", [
    (np.array([], np.float32), ValueError, r"quantize_int8: x is empty"),
    (np.zeros((0, 3), np.float32), ValueError, r"quantize_int8: x is empty"),
    (np.array([1.0, np.nan], np.float32), ValueError, r"quantize_int8: x contains NaN"),
    (np.array([1.0, np.inf], np.float32), ValueError, r"quantize_int8: x contains inf"),
    (np.array([1.0, -np.inf]), ValueError, r"quantize_int8: x contains inf"),
    (np.arange(4), TypeError, r"quantize_int8: x must be a floating point"),
    (np.array(["a", "b"]), TypeError, r"quantize_int8: x must be a floating point"),
])
def test_quantize_int8_refuses_what_has_no_int8_codes(x, error, message):
    with pytest.raises(error, match=message):
        quantize_int8(x, ONE, ZERO)


@pytest.mark.parametrize("scale, zero_point, axis, message", [
    (0.0, 0, None, r"quantize_int8: scale must be finite and > 0"),
    (-1.0, 0, None, r"quantize_int8: scale must be finite and > 0"),
    (np.nan, 0, None, r"quantize_int8: scale must be finite and > 0"),
    ("big", 0, None, r"quantize_int8: scale must be finite and > 0"),
    (0.1, 200, None, r"quantize_int8: zero_point must be integers in \[-128, 127\]"),
    (0.1, 0.5, None, r"quantize_int8: zero_point must be integers"),
    (np.ones(2, np.float32), np.zeros(2, np.int32), None, r"quantize_int8: per-tensor quantization \(axis=None\)"),
    (np.ones(3, np.float32), np.zeros(3, np.int32), 0, r"quantize_int8: per-channel quantization along axis 0 "
                                                       r"needs scale and zero_point of shape \(2,\)"),
    (np.ones(2, np.float32), np.zeros(2, np.int32), 2, r"quantize_int8: channel axis 2 is out of range"),
    (np.ones(2, np.float32), np.zeros(2, np.int32), 1.5, r"quantize_int8: the channel axis must be an int"),
])
def test_quantize_int8_checks_its_parameters(scale, zero_point, axis, message):
    with pytest.raises((ValueError, TypeError), match=message):
        quantize_int8(np.ones((2, 3), np.float32), scale, zero_point, axis)


def test_observer_arguments_and_data():
    with pytest.raises(ValueError, match=r"MinMaxObserver: qscheme must be one of per_tensor_affine"):
        MinMaxObserver("per_tensor")
    with pytest.raises(TypeError, match=r"MinMaxObserver: ch_axis must be an int"):
        MinMaxObserver(per_channel_affine, ch_axis="rows")
    observer = MinMaxObserver()
    with pytest.raises(RuntimeError, match=r"MinMaxObserver.calculate_qparams: no data observed yet"):
        observer.calculate_qparams()
    for bad, message in ((np.array([], np.float32), "input is empty"), (np.array([np.nan]), "input contains NaN"),
                         (np.array([np.inf, 1.0]), "input contains inf"), (np.arange(3), "input must be a floating point")):
        with pytest.raises((ValueError, TypeError), match=f"MinMaxObserver: {message}"):
            observer(bad)
    assert observer.min_val is None                    # nothing bad was recorded
    per_channel = MinMaxObserver(per_channel_affine, ch_axis=1)
    with pytest.raises(ValueError, match=r"MinMaxObserver: channel axis 1 is out of range for a 1-D array"):
        per_channel(np.ones(3, np.float32))
    per_channel(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"MinMaxObserver: input has 4 channels along axis 1, the data observed "
                                         r"before had 3"):
        per_channel(np.ones((2, 4), np.float32))


def test_quantized_tensor_and_int_matmul_check_their_inputs():
    with pytest.raises(TypeError, match=r"QuantizedTensor: codes must be int8, got dtype float32"):
        QuantizedTensor(np.zeros(3, np.float32), 1.0, 0)
    with pytest.raises(ValueError, match=r"int_matmul: expected a \(..., K\) and b \(K, M\), got shapes \(2, 3\) and \(4, 1\)"):
        int_matmul(np.ones((2, 3)), np.ones((4, 1)))
    with pytest.raises(TypeError, match=r"int_matmul: expected integer codes"):
        int_matmul(np.array([["a"]]), np.ones((1, 1)))
    for a, b, name in ((np.full((1, 2), 256.0), np.ones((2, 1)), "a"), (np.ones((1, 2)), np.full((2, 1), -129), "b"),
                       (np.full((1, 2), 0.5), np.ones((2, 1)), "a")):
        with pytest.raises(ValueError, match=f"int_matmul: {name} must hold integers of magnitude at most"):
            int_matmul(a, b)


def test_int8_layers_check_weights_and_inputs():
    for bad, message in ((np.ones(4, np.float32), "weight must be 2-D"),
                         (np.array([[1.0, np.nan]], np.float32), "weight contains NaN"),
                         (np.ones((2, 2), np.int64), "weight must be a floating point")):
        with pytest.raises((ValueError, TypeError), match=f"QuantizedLinear: {message}"):
            QuantizedLinear(bad)
    with pytest.raises(ValueError, match=r"QuantizedLinear: bias must have shape \(2,\), got \(3,\)"):
        QuantizedLinear(np.ones((2, 4), np.float32), np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"QuantizedLinear: weight_qscheme must be per_tensor_symmetric or "
                                         r"per_channel_symmetric"):
        QuantizedLinear(np.ones((2, 4), np.float32), weight_qscheme=per_tensor_affine)
    with pytest.raises(TypeError, match=r"QuantizedLinear: input_qparams must be a \(scale, zero_point\) pair"):
        QuantizedLinear(np.ones((2, 4), np.float32), input_qparams=0.1)
    with pytest.raises(ValueError, match=r"QuantizedLinear: scale must be finite and > 0"):
        QuantizedLinear(np.ones((2, 4), np.float32), input_qparams=(0.0, 0))
    with pytest.raises(TypeError, match=r"QuantizedLinear.from_float: expected a Linear, got Conv2d"):
        QuantizedLinear.from_float(Conv2d(1, 2, 3))
    layer = QuantizedLinear(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"QuantizedLinear: expected input \(\*, 4\), got shape \(3, 5\)"):
        layer(Tensor(np.ones((3, 5), np.float32)))
    with pytest.raises(ValueError, match=r"QuantizedLinear: dynamic quantization of the input: "
                                         r"MinMaxObserver: input contains NaN"):
        layer(Tensor(np.array([[1.0, np.nan, 0.0, 0.0]], np.float32)))
    with pytest.raises(ValueError, match=r"QuantizedConv2d: weight must be 4-D"):
        QuantizedConv2d(np.ones((2, 4), np.float32))
    with pytest.raises(TypeError, match=r"QuantizedConv2d.from_float: expected a Conv2d, got Linear"):
        QuantizedConv2d.from_float(Linear(2, 2))
    conv = QuantizedConv2d(np.ones((2, 3, 3, 3), np.float32))
    with pytest.raises(ValueError, match=r"QuantizedConv2d: expected input \(N, 3, H, W\), got shape \(1, 2, 5, 5\)"):
        conv(Tensor(np.ones((1, 2, 5, 5), np.float32)))


def test_static_int8_layer_passes_nan_through_as_a_float_layer_does():
    layer = QuantizedLinear(np.ones((2, 3), np.float32), input_qparams=(np.float32(0.1), np.int32(0)))
    out = layer(Tensor(np.array([[np.nan, 1.0, 1.0]], np.float32))).data
    assert np.isnan(out).all()


def test_float16_layers_check_weights_and_inputs():
    with pytest.raises(ValueError, match=r"Float16Linear: weight must be 2-D"):
        Float16Linear(np.ones((2, 2, 2), np.float32))
    with pytest.raises(ValueError, match=r"Float16Linear: expected input \(\*, 2\), got shape \(1, 3\)"):
        Float16Linear(np.ones((4, 2), np.float32))(Tensor(np.ones((1, 3), np.float32)))
    with pytest.raises(ValueError, match=r"Float16Conv2d: weight must be 4-D"):
        Float16Conv2d(np.ones((2, 2), np.float32))
    with pytest.raises(TypeError, match=r"Float16Linear.from_float: expected a Linear"):
        Float16Linear.from_float(Conv2d(1, 1, 1))
    with pytest.raises(TypeError, match=r"Float16Conv2d.from_float: expected a Conv2d"):
        Float16Conv2d.from_float(Linear(1, 1))


def test_quantize_model_and_model_nbytes_arguments():
    model = Sequential(Linear(4, 3))
    with pytest.raises(TypeError, match=r"quantize_model: model must be a Module, got list"):
        quantize_model([Linear(2, 2)])
    with pytest.raises(ValueError, match=r"quantize_model: dtype must be 'int8' or 'float16', got 'int4'"):
        quantize_model(model, dtype="int4")
    with pytest.raises(ValueError, match=r"quantize_model: float16 needs no calibration data"):
        quantize_model(model, np.ones((2, 4), np.float32), dtype="float16")
    with pytest.raises(ValueError, match=r"quantize_model: calibration is empty"):
        quantize_model(model, [])
    with pytest.raises(ValueError, match=r"quantize_model: calibration: MinMaxObserver: input contains NaN"):
        quantize_model(model, np.array([[np.nan, 0, 0, 0]], np.float32))
    with pytest.raises(ValueError, match=r"quantize_model: weight_qscheme must be"):
        quantize_model(model, weight_qscheme="per_channel_affine")
    with pytest.raises(TypeError, match=r"model_nbytes: model must be a Module, got ndarray"):
        model_nbytes(np.ones(3))
