"""Module 15, quantization: store weights in 8 bits and compute with integers.

A float x is represented by an int8 code q and a float ``scale`` (and an integer
``zero_point``) as ``x ~ (q - zero_point) * scale``:

* **symmetric**: ``zero_point = 0``, ``scale = max|x| / 127``, codes in [-127, 127]. Zero is
  exact and the matmul needs no correction; good for weights, which centre on zero.
* **affine** (asymmetric): ``scale = (max - min) / 255`` over a range that includes 0, and
  ``zero_point`` chosen so ``min`` maps to -128. Uses all 256 codes on one-sided data such
  as the outputs of a ReLU.

Either can be **per tensor** (one scale) or **per channel** (one scale per output row of a
weight, ``axis=0``), which keeps a row of small weights from being crushed by one large row.
Rounding to the nearest code makes the error of every value inside the calibrated range at
most ``scale / 2``.

**Calibration** picks the activation ranges from real data: :func:`quantize_model` runs a
few batches through the float model, records the range of every Linear/Conv2d input, and
freezes those scales (static quantization).

``QuantizedLinear`` and ``QuantizedConv2d`` store their weights as int8 arrays for real (a
quarter of float32's bytes, see ``nbytes``) and compute with integers: the input is
quantized, shifted by its zero point, multiplied with the int8 weights in an **int32** matmul
(int32 accumulation: no overflow below about 66,000 terms), and only the result is scaled
back to float32. NumPy has no int8 BLAS, so that integer matmul runs in NumPy's plain loops:
expect int8 inference to be *slower* than float32 here, although smaller. Hardware with int8
instructions (and libraries such as fbgemm or oneDNN) is where int8 is also faster.

``Float16Linear``/``Float16Conv2d`` are the second option: weights stored as float16 (half
the bytes), computed in float32.

Quantized layers are for inference: their outputs carry no gradient.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from tinytorch.core.autograd import no_grad
from tinytorch.core.layers import Linear, Module
from tinytorch.core.spatial import Conv2d, conv2d
from tinytorch.core.tensor import Tensor
from tinytorch.perf.profiling import trace_calls

__all__ = ["QuantParams", "QuantizedTensor", "calibrate", "quantize_int8", "dequantize_int8",
           "QuantizedLinear", "QuantizedConv2d", "Float16Linear", "Float16Conv2d",
           "quantize_model", "model_nbytes"]

INT8_MIN, INT8_MAX = -128, 127


def _raw(x) -> np.ndarray:
    """The NumPy array behind a Tensor, array or array-like."""
    return np.asarray(x.data if isinstance(x, Tensor) else x)


# ----------------------------------------------------------------------------- parameters

@dataclass(frozen=True)
class QuantParams:
    """How floats map to int8 codes: ``x ~ (q - zero_point) * scale``.

    Attributes:
        scale: float32 array, shape () per tensor or (C,) per channel.
        zero_point: int32 array of the same shape (all 0 when symmetric).
        axis: the channel axis for per-channel parameters, None per tensor.
        symmetric: True when zero_point is 0 and codes stay in [-127, 127].
    """

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None
    symmetric: bool

    def shaped(self, ndim: int) -> tuple[np.ndarray, np.ndarray]:
        """Scale and zero point reshaped to broadcast against an array of ``ndim`` dimensions."""
        if self.axis is None:
            return self.scale, self.zero_point
        shape = [1] * ndim
        shape[self.axis] = -1
        return self.scale.reshape(shape), self.zero_point.reshape(shape)

    @property
    def nbytes(self) -> int:
        """Bytes of the scale and zero point arrays."""
        return int(self.scale.nbytes + self.zero_point.nbytes)


def _reduce_axes(ndim: int, axis: int | None):
    if axis is None:
        return None
    if not -ndim <= axis < ndim:
        raise ValueError(f"calibrate: axis {axis} is out of range for a {ndim}-D array")
    return tuple(a for a in range(ndim) if a != axis % ndim)


def params_from_range(low, high, symmetric: bool = True, axis: int | None = None) -> QuantParams:
    """Quantization parameters that cover the observed range [low, high] (arrays per channel).

    Examples:
        >>> p = params_from_range(-2.0, 1.0, symmetric=True)
        >>> float(p.scale), int(p.zero_point)        # 2 / 127
        (0.015748031437397003, 0)
        >>> p = params_from_range(0.0, 2.55, symmetric=False)
        >>> round(float(p.scale), 6), int(p.zero_point)
        (0.01, -128)
    """
    low = np.minimum(np.asarray(low, dtype=np.float64), 0.0)   # the range always contains 0,
    high = np.maximum(np.asarray(high, dtype=np.float64), 0.0)  # so 0 is exactly representable
    if symmetric:
        scale = np.maximum(np.abs(low), np.abs(high)) / INT8_MAX
        scale = np.where(scale > 0, scale, 1.0)
        zero_point = np.zeros(scale.shape, dtype=np.int32)
    else:
        scale = (high - low) / (INT8_MAX - INT8_MIN)
        scale = np.where(scale > 0, scale, 1.0)
        zero_point = np.clip(np.round(INT8_MIN - low / scale), INT8_MIN, INT8_MAX).astype(np.int32)
    return QuantParams(scale.astype(np.float32), zero_point, axis, symmetric)


def calibrate(samples, symmetric: bool = True, axis: int | None = None) -> QuantParams:
    """Choose quantization parameters from data: one array, or an iterable of batches.

    Per tensor (``axis=None``) the range is the global min/max; per channel it is the min/max
    over every axis except ``axis``, giving one scale per channel.

    Examples:
        >>> w = np.array([[1.0, -0.5], [0.01, 0.02]], dtype=np.float32)
        >>> calibrate(w, axis=0).scale * 127          # one scale per row
        array([1.  , 0.02], dtype=float32)
    """
    batches = [samples] if isinstance(samples, (np.ndarray, Tensor)) else list(samples)
    if not batches:
        raise ValueError("calibrate: no calibration data")
    low = high = None
    for batch in batches:
        data = _raw(batch)
        axes = _reduce_axes(data.ndim, axis)
        b_low, b_high = data.min(axis=axes), data.max(axis=axes)
        low = b_low if low is None else np.minimum(low, b_low)
        high = b_high if high is None else np.maximum(high, b_high)
    return params_from_range(low, high, symmetric, axis)


# ----------------------------------------------------------------------------- int8 tensors

class QuantizedTensor:
    """int8 codes plus the parameters that map them back to floats.

    Attributes:
        values: the int8 array of codes.
        params: its :class:`QuantParams`.

    Examples:
        >>> q = quantize_int8(np.array([0.5, -1.0, 0.25], dtype=np.float32))
        >>> q.values.dtype, q.values.tolist()
        (dtype('int8'), [64, -127, 32])
        >>> q.nbytes            # 3 codes + a float32 scale + an int32 zero point
        11
    """

    def __init__(self, values: np.ndarray, params: QuantParams):
        if values.dtype != np.int8:
            raise TypeError(f"QuantizedTensor: values must be int8, got {values.dtype}")
        self.values, self.params = values, params

    @property
    def shape(self) -> tuple:
        """Shape of the codes (and of the float tensor they stand for)."""
        return self.values.shape

    @property
    def nbytes(self) -> int:
        """Bytes actually stored: the codes plus scale and zero point."""
        return int(self.values.nbytes) + self.params.nbytes

    def dequantize(self) -> np.ndarray:
        """The float32 values the codes stand for: ``(q - zero_point) * scale``."""
        return dequantize_int8(self)

    def __repr__(self) -> str:
        kind = "symmetric" if self.params.symmetric else "affine"
        where = "per tensor" if self.params.axis is None else f"per channel (axis {self.params.axis})"
        return f"QuantizedTensor(shape={self.shape}, int8, {kind}, {where})"


def quantize_int8(x, symmetric: bool = True, axis: int | None = None,
                  params: QuantParams | None = None) -> QuantizedTensor:
    """Quantize a float array or Tensor to int8 codes (calibrated on ``x`` itself unless ``params``).

    Values outside the calibrated range saturate at the end codes.

    Examples:
        >>> x = np.array([0.0, 0.3, 1.0], dtype=np.float32)
        >>> q = quantize_int8(x, symmetric=False)
        >>> q.values.tolist(), int(q.params.zero_point)
        ([-128, -52, 127], -128)
        >>> bool(np.abs(dequantize_int8(q) - x).max() <= float(q.params.scale) / 2)
        True
    """
    data = _raw(x)
    if data.dtype.kind != "f":
        raise TypeError(f"quantize_int8: expected a floating point array, got {data.dtype}")
    params = calibrate(data, symmetric, axis) if params is None else params
    scale, zero_point = params.shaped(data.ndim)
    low = -INT8_MAX if params.symmetric else INT8_MIN
    codes = np.clip(np.round(data / scale) + zero_point, low, INT8_MAX)
    return QuantizedTensor(codes.astype(np.int8), params)


def dequantize_int8(q: QuantizedTensor) -> np.ndarray:
    """Back to float32: ``(q - zero_point) * scale``."""
    scale, zero_point = q.params.shaped(q.values.ndim)
    return ((q.values.astype(np.int32) - zero_point) * scale).astype(np.float32)


def _centred_codes(x: np.ndarray, params: QuantParams) -> np.ndarray:
    """Quantize an activation and subtract its zero point: int32 codes where 0 means 0.0."""
    q = quantize_int8(x.astype(np.float32, copy=False), params=params)
    return q.values.astype(np.int32) - params.zero_point


# ----------------------------------------------------------------------------- layers

class _Int8Layer(Module):
    """Shared storage of an int8 layer: per-output-channel int8 weights, float32 bias, input parameters."""

    def _store(self, weight: np.ndarray, bias, input_params: QuantParams | None, per_channel: bool):
        wq = quantize_int8(weight, symmetric=True, axis=0 if per_channel else None)
        scale = np.broadcast_to(wq.params.scale, (weight.shape[0],)).astype(np.float32)
        self.register_buffer("weight", Tensor(wq.values.astype(np.int8)))
        self.register_buffer("weight_scale", Tensor(scale))
        self.register_buffer("bias", None if bias is None else Tensor(_raw(bias).astype(np.float32)))
        self.register_buffer("input_scale", None if input_params is None else Tensor(input_params.scale))
        self.register_buffer("input_zero_point",
                             None if input_params is None else Tensor(input_params.zero_point))

    @property
    def input_params(self) -> QuantParams | None:
        """The calibrated input parameters (from the stored buffers), None for dynamic quantization."""
        if self.input_scale is None:
            return None
        return QuantParams(self.input_scale.data, self.input_zero_point.data, None, False)

    def int_weight(self) -> np.ndarray:
        """The int8 weight codes as stored (sparse subclasses rebuild them from their storage)."""
        return self.weight.data

    def _input_codes(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centred int32 input codes and the input scale (static if calibrated, else from this batch)."""
        params = self.input_params or calibrate(x, symmetric=False)
        return _centred_codes(x, params), params.scale

    def dequantized_weight(self) -> np.ndarray:
        """The float32 weights the int8 codes stand for (to compare with the original layer)."""
        codes = self.int_weight().astype(np.float32)
        return codes * self.weight_scale.data.reshape((-1,) + (1,) * (codes.ndim - 1))

    @property
    def nbytes(self) -> int:
        """Bytes of every array the layer stores (weights, scales, bias, input parameters)."""
        return int(sum(b.data.nbytes for _, b in self.named_buffers()))


class QuantizedLinear(_Int8Layer):
    """Int8 Linear: y = ((q(x) - z_x) W_q^T) * s_x * s_w + b, the matmul in int32.

    Weights are int8, symmetric, one scale per output row (``per_channel=True``) or one per
    tensor. The input is quantized affinely with the calibrated ``input_params`` (static) or,
    without them, with parameters measured on each batch (dynamic).

    Args:
        weight: float weights (out_features, in_features) to quantize.
        bias: float (out_features,) or None; kept in float32.
        input_params: QuantParams of the input (per tensor), or None for dynamic.
        per_channel: one weight scale per output row (default True).

    Shape:
        - Input: ``(*, in_features)``; Output: ``(*, out_features)`` float32.

    Examples:
        >>> lin = Linear(64, 10)
        >>> q = QuantizedLinear.from_float(lin)
        >>> q.weight.dtype, q.weight.data.nbytes, lin.weight.data.nbytes
        (dtype('int8'), 640, 2560)
        >>> x = Tensor(np.random.default_rng(0).random((4, 64), dtype=np.float32))
        >>> bool(np.abs(q(x).data - lin(x).data).max() < 0.02)
        True
    """

    def __init__(self, weight, bias=None, input_params: QuantParams | None = None, per_channel: bool = True):
        super().__init__()
        weight = _raw(weight)
        if weight.ndim != 2:
            raise ValueError(f"QuantizedLinear: weight must be 2-D (out, in), got shape {weight.shape}")
        self.out_features, self.in_features = weight.shape
        self._store(weight, bias, input_params, per_channel)

    @classmethod
    def from_float(cls, linear, input_params: QuantParams | None = None, per_channel: bool = True):
        """Quantize a trained ``Linear`` (its weights are copied into int8 codes)."""
        return cls(linear.weight.data, None if linear.bias is None else linear.bias.data, input_params, per_channel)

    def forward(self, x):
        data = _raw(x)
        if data.shape[-1] != self.in_features:
            raise ValueError(f"QuantizedLinear: expected input (*, {self.in_features}), got shape {data.shape}")
        codes, x_scale = self._input_codes(data)
        acc = np.matmul(codes.reshape(-1, self.in_features), self.int_weight().astype(np.int32).T)  # int32
        out = acc.astype(np.float32) * (x_scale * self.weight_scale.data)
        if self.bias is not None:
            out += self.bias.data
        return Tensor(out.reshape(data.shape[:-1] + (self.out_features,)))

    def extra_repr(self) -> str:
        mode = "static" if self.input_params is not None else "dynamic"
        return f"in_features={self.in_features}, out_features={self.out_features}, int8, {mode} input"


class QuantizedConv2d(_Int8Layer):
    """Int8 Conv2d: the convolution of centred int8 input codes with int8 kernels, in int32.

    Same scheme as :class:`QuantizedLinear`: weights per output channel, the input per tensor
    (its zero point subtracted before the convolution, so zero padding still means 0.0), the
    im2col matmul of ``tinytorch.core.spatial.conv2d`` run on int32 arrays.

    Args:
        weight: float kernels (C_out, C_in, kh, kw).
        bias: float (C_out,) or None.
        stride, padding: as Conv2d.
        input_params: QuantParams of the input, or None for dynamic.
        per_channel: one weight scale per output channel (default True).

    Shape:
        - Input: ``(N, C_in, H, W)``; Output: ``(N, C_out, H_out, W_out)`` float32.

    Examples:
        >>> conv = Conv2d(1, 6, 3, padding=1)
        >>> q = QuantizedConv2d.from_float(conv)
        >>> q(Tensor(np.zeros((2, 1, 8, 8), dtype=np.float32))).shape
        (2, 6, 8, 8)
    """

    def __init__(self, weight, bias=None, stride=1, padding=0, input_params: QuantParams | None = None,
                 per_channel: bool = True):
        super().__init__()
        weight = _raw(weight)
        if weight.ndim != 4:
            raise ValueError(f"QuantizedConv2d: weight must be 4-D (out, in, kh, kw), got shape {weight.shape}")
        self.out_channels, self.in_channels = weight.shape[:2]
        self.kernel_size = tuple(weight.shape[2:])
        self.stride, self.padding = stride, padding
        self._store(weight, bias, input_params, per_channel)

    @classmethod
    def from_float(cls, conv, input_params: QuantParams | None = None, per_channel: bool = True):
        """Quantize a trained ``Conv2d``."""
        return cls(conv.weight.data, None if conv.bias is None else conv.bias.data, conv.stride, conv.padding,
                   input_params, per_channel)

    def forward(self, x):
        data = _raw(x)
        codes, x_scale = self._input_codes(data)
        acc = conv2d(Tensor(codes), Tensor(self.int_weight().astype(np.int32)), None, self.stride, self.padding)
        out = acc.data.astype(np.float32) * (x_scale * self.weight_scale.data).reshape(1, -1, 1, 1)
        if self.bias is not None:
            out += self.bias.data.reshape(1, -1, 1, 1)
        return Tensor(out)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, int8")


class Float16Linear(Module):
    """Linear with float16 storage: half the bytes of float32, computed in float32.

    Examples:
        >>> half = Float16Linear.from_float(Linear(64, 10))
        >>> half.weight.dtype, half.weight.data.nbytes
        (dtype('float16'), 1280)
    """

    def __init__(self, weight, bias=None):
        super().__init__()
        weight = _raw(weight)
        self.out_features, self.in_features = weight.shape
        self.register_buffer("weight", Tensor(weight.astype(np.float16)))
        self.register_buffer("bias", None if bias is None else Tensor(_raw(bias).astype(np.float16)))

    @classmethod
    def from_float(cls, linear):
        """Copy a ``Linear``'s weights into float16."""
        return cls(linear.weight.data, None if linear.bias is None else linear.bias.data)

    def forward(self, x):
        out = _raw(x).astype(np.float32, copy=False) @ self.weight.data.astype(np.float32).T
        if self.bias is not None:
            out = out + self.bias.data.astype(np.float32)
        return Tensor(out)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, float16"


class Float16Conv2d(Module):
    """Conv2d with float16 storage, computed in float32.

    Examples:
        >>> Float16Conv2d.from_float(Conv2d(1, 6, 3)).weight.dtype
        dtype('float16')
    """

    def __init__(self, weight, bias=None, stride=1, padding=0):
        super().__init__()
        weight = _raw(weight)
        self.out_channels, self.in_channels = weight.shape[:2]
        self.kernel_size = tuple(weight.shape[2:])
        self.stride, self.padding = stride, padding
        self.register_buffer("weight", Tensor(weight.astype(np.float16)))
        self.register_buffer("bias", None if bias is None else Tensor(_raw(bias).astype(np.float16)))

    @classmethod
    def from_float(cls, conv):
        """Copy a ``Conv2d``'s weights into float16."""
        return cls(conv.weight.data, None if conv.bias is None else conv.bias.data, conv.stride, conv.padding)

    def forward(self, x):
        bias = None if self.bias is None else Tensor(self.bias.data.astype(np.float32))
        with no_grad():
            return conv2d(Tensor(_raw(x).astype(np.float32, copy=False)), Tensor(self.weight.data.astype(np.float32)),
                          bias, self.stride, self.padding)


# ----------------------------------------------------------------------------- whole models

def _replace_layers(model, convert) -> None:
    """Replace every Linear/Conv2d child (at any depth) by ``convert(child)`` in place."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, (Linear, Conv2d)):
                parent.add_module(name, convert(child))


def quantize_model(model, calibration=None, dtype: str = "int8", per_channel: bool = True):
    """A quantized copy of ``model``: every Linear and Conv2d replaced, the original untouched.

    Args:
        model: a trained float model (a Module tree).
        calibration: for int8, an input batch or a list of batches run through the float model
            to fix each layer's input range (static quantization); None quantizes inputs per
            batch at run time (dynamic).
        dtype: ``"int8"`` or ``"float16"``.
        per_channel: int8 weights with one scale per output channel (default True).

    Examples:
        >>> from tinytorch.core.layers import Sequential
        >>> from tinytorch.core.activations import ReLU
        >>> float_model = Sequential(Linear(64, 32), ReLU(), Linear(32, 10))
        >>> int8_model = quantize_model(float_model, np.zeros((8, 64), dtype=np.float32))
        >>> [type(m).__name__ for m in int8_model]
        ['QuantizedLinear', 'ReLU', 'QuantizedLinear']
        >>> model_nbytes(float_model), model_nbytes(int8_model)  # int8 weights + float32 scales and biases
        (9640, 2720)
    """
    if dtype not in ("int8", "float16"):
        raise ValueError(f"quantize_model: dtype must be 'int8' or 'float16', got {dtype!r}")
    copied = copy.deepcopy(model)
    if dtype == "float16":
        _replace_layers(copied, lambda m: (Float16Linear if isinstance(m, Linear) else Float16Conv2d).from_float(m))
        return copied
    ranges = _input_ranges(copied, calibration) if calibration is not None else {}

    def convert(layer):
        params = None
        if id(layer) in ranges:
            params = params_from_range(*ranges[id(layer)], symmetric=False)
        kind = QuantizedLinear if isinstance(layer, Linear) else QuantizedConv2d
        return kind.from_float(layer, params, per_channel)

    _replace_layers(copied, convert)
    return copied


def _input_ranges(model, calibration) -> dict[int, tuple[float, float]]:
    """Min and max of the input of every Linear/Conv2d over the calibration batches."""
    batches = [calibration] if isinstance(calibration, (np.ndarray, Tensor)) else list(calibration)
    ranges: dict[int, tuple[float, float]] = {}
    was_training = model.training
    model.eval()
    try:
        with no_grad(), trace_calls(model) as calls:
            for batch in batches:
                model(batch if isinstance(batch, Tensor) else Tensor(np.asarray(batch)))
    finally:
        model.train(was_training)
    for call in calls:
        if isinstance(call.module, (Linear, Conv2d)):
            data = _raw(call.inputs[0])
            low, high = ranges.get(id(call.module), (np.inf, -np.inf))
            ranges[id(call.module)] = (min(low, float(data.min())), max(high, float(data.max())))
    return ranges


def model_nbytes(model) -> int:
    """Bytes of every parameter and buffer a model stores (what saving it would write).

    Examples:
        >>> model_nbytes(Linear(64, 32))     # (64*32 + 32) float32 numbers
        8320
    """
    total = sum(p.data.nbytes for p in model.parameters())
    return int(total + sum(_raw(b).nbytes for _, b in model.named_buffers()))
