"""Module 15, quantization: store weights in 8 bits and compute with integers.

A float x is represented by an int8 code q and a float ``scale`` (and an integer
``zero_point``) as ``x ~ (q - zero_point) * scale``. Where the parameters come from is a
**quantization scheme** (``qscheme``, PyTorch's names):

* ``per_tensor_symmetric``: ``zero_point = 0``, ``scale = max|x| / 127``, codes in [-127, 127].
  Zero is exact and the matmul needs no correction; good for weights, which centre on zero.
* ``per_tensor_affine`` (asymmetric): ``scale = (max - min) / 255`` over a range that includes
  0, and ``zero_point`` chosen so ``min`` maps to -128. Uses all 256 codes on one-sided data
  such as the outputs of a ReLU.
* ``per_channel_symmetric`` / ``per_channel_affine``: the same with one scale (and zero point)
  per channel, e.g. per output row of a weight (``ch_axis=0``), which keeps a row of small
  weights from being crushed by one large row.

An **observer** (:class:`MinMaxObserver`, as ``torch.ao.quantization``) watches tensors go by,
records their range, and ``calculate_qparams()`` turns that range into ``(scale,
zero_point)`` for its scheme; :func:`quantize_int8` applies them. Rounding to the nearest code
makes the error of every value inside the observed range at most ``scale / 2``.

**Calibration** picks the activation ranges from real data: :func:`quantize_model` runs a
few batches through the float model with an observer on the input of every Linear/Conv2d,
and freezes those parameters (static quantization). A ReLU right before such a layer is
then redundant (its outputs are never negative, so the layer's zero point is -128 and its clip
maps every negative input to 0.0 anyway) and becomes a pass-through :class:`FoldedReLU`.

``QuantizedLinear`` and ``QuantizedConv2d`` store their weights as int8 arrays for real (a
quarter of float32's bytes, see ``nbytes``) and compute with integers: the input is
quantized and shifted by its zero point, multiplied with the int8 weight codes, and only the
integer result is scaled back to float. NumPy has no int8 matrix product, but it does not
need one: a float32 holds every integer up to 2**24 exactly, and the products of int8
weights (``|w| <= 128``) with shifted input codes (``|q - z| <= 255``) add up to at most
255 * 128 * 514 < 2**24 over 514 terms. So float32 BLAS computes the integer sum
*exactly* for up to 514 terms, and longer sums are cut into blocks of 514 whose exact
results are added in float64 (:func:`int_matmul`). Integer arithmetic at BLAS speed.

``Float16Linear``/``Float16Conv2d`` are the second option: weights stored as float16 (half
the bytes), computed in float32.

Quantized layers are for inference: their outputs carry no gradient.
"""

from __future__ import annotations

import copy

import numpy as np

from tinytorch.core.activations import ReLU
from tinytorch.core.autograd import no_grad
from tinytorch.core.layers import Linear, Module, Sequential
from tinytorch.core.spatial import Conv2d, conv2d
from tinytorch.core.tensor import Tensor
from tinytorch.perf.profiling import trace_calls

__all__ = ["per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric",
           "MinMaxObserver", "QuantizedTensor", "quantize_int8", "int_matmul", "QuantizedLinear",
           "QuantizedConv2d", "Float16Linear", "Float16Conv2d", "FoldedReLU", "quantize_model", "model_nbytes"]

INT8_MIN, INT8_MAX = -128, 127

per_tensor_affine = "per_tensor_affine"
per_tensor_symmetric = "per_tensor_symmetric"
per_channel_affine = "per_channel_affine"
per_channel_symmetric = "per_channel_symmetric"
QSCHEMES = (per_tensor_affine, per_tensor_symmetric, per_channel_affine, per_channel_symmetric)
WEIGHT_QSCHEMES = (per_tensor_symmetric, per_channel_symmetric)

EXACT_FLOAT32 = 2 ** 24
"""Every integer of magnitude up to 2**24 is a float32: sums of products that stay below it are exact."""

EXACT_TERMS = EXACT_FLOAT32 // ((INT8_MAX - INT8_MIN) * -INT8_MIN)
"""514: products of a shifted input code (``|q - z| <= 255``) and an int8 weight (``|w| <= 128``) that
float32 adds up exactly, whatever the order."""


def _raw(x) -> np.ndarray:
    """The NumPy array behind a Tensor, array or array-like."""
    return np.asarray(x.data if isinstance(x, Tensor) else x)


def _float_values(call: str, name: str, x) -> np.ndarray:
    """``x`` as a float array that can be quantized: not empty, every value finite."""
    data = _raw(x)
    if data.dtype.kind != "f":
        raise TypeError(f"{call}: {name} must be a floating point array or Tensor, got dtype {data.dtype}")
    if data.size == 0:
        raise ValueError(f"{call}: {name} is empty (shape {data.shape}); there is no range to quantize")
    if not np.isfinite(data).all():
        bad = "NaN" if np.isnan(data).any() else "inf"
        raise ValueError(f"{call}: {name} contains {bad}; int8 codes can only stand for finite values")
    return data


def _check_axis(call: str, axis, ndim: int) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{call}: the channel axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{call}: channel axis {axis} is out of range for a {ndim}-D array")
    return int(axis) % ndim


# ----------------------------------------------------------------------------- observer

class MinMaxObserver:
    """Records the running min and max of the tensors it sees; ``calculate_qparams()`` turns
    them into int8 quantization parameters for its ``qscheme``.

    As ``torch.ao.quantization.MinMaxObserver`` (per tensor) and ``PerChannelMinMaxObserver``
    (the per-channel schemes, over ``ch_axis``), with int8 codes. The range always includes 0,
    so 0.0 is exactly representable (zero padding, ReLU zeros).

    Args:
        qscheme: ``per_tensor_affine`` (default), ``per_tensor_symmetric``, ``per_channel_affine``
            or ``per_channel_symmetric``.
        ch_axis: the channel axis of the per-channel schemes (default 0: a weight's output rows).

    Attributes:
        min_val, max_val: the observed range (arrays of shape () or (C,)), None before any data.

    Examples:
        >>> import numpy as np
        >>> from tinytorch.perf.quantization import MinMaxObserver, per_channel_symmetric, per_tensor_symmetric
        >>> observer = MinMaxObserver(per_tensor_symmetric)
        >>> _ = observer(np.array([-2.0, 1.0], dtype=np.float32))
        >>> scale, zero_point = observer.calculate_qparams()
        >>> round(float(scale) * 127, 6), int(zero_point)
        (2.0, 0)
        >>> observer = MinMaxObserver(per_channel_symmetric)
        >>> _ = observer(np.array([[1.0, -0.5], [0.01, 0.02]], dtype=np.float32))
        >>> observer.calculate_qparams()[0] * 127          # one scale per row
        array([1.  , 0.02], dtype=float32)
    """

    def __init__(self, qscheme: str = per_tensor_affine, ch_axis: int = 0):
        if qscheme not in QSCHEMES:
            raise ValueError(f"MinMaxObserver: qscheme must be one of {', '.join(QSCHEMES)}, got {qscheme!r}")
        if isinstance(ch_axis, bool) or not isinstance(ch_axis, (int, np.integer)):
            raise TypeError(f"MinMaxObserver: ch_axis must be an int, got {ch_axis!r}")
        self.qscheme, self.ch_axis = qscheme, int(ch_axis)
        self.min_val = self.max_val = None

    @property
    def per_channel(self) -> bool:
        """True for the per-channel schemes."""
        return self.qscheme.startswith("per_channel")

    @property
    def symmetric(self) -> bool:
        """True for the symmetric schemes (zero point 0, codes in [-127, 127])."""
        return self.qscheme.endswith("symmetric")

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        """Record the range of ``x`` (a float array or Tensor) and return ``x`` unchanged."""
        data = _float_values("MinMaxObserver", "input", x)
        axes = None
        if self.per_channel:
            axis = _check_axis("MinMaxObserver", self.ch_axis, data.ndim)
            axes = tuple(a for a in range(data.ndim) if a != axis)
            if self.min_val is not None and self.min_val.shape != (data.shape[axis],):
                raise ValueError(f"MinMaxObserver: input has {data.shape[axis]} channels along axis {axis}, "
                                 f"the data observed before had {self.min_val.shape[0]}")
        low, high = data.min(axis=axes), data.max(axis=axes)
        self.min_val = low if self.min_val is None else np.minimum(self.min_val, low)
        self.max_val = high if self.max_val is None else np.maximum(self.max_val, high)
        return x

    def calculate_qparams(self) -> tuple[np.ndarray, np.ndarray]:
        """``(scale, zero_point)`` covering the observed range: float32 and int32 arrays, shape ()
        per tensor or (C,) per channel.

        Symmetric: ``scale = max|x| / 127``, zero point 0. Affine: ``scale = (max - min) / 255``
        and ``min`` maps to code -128. An all-zero range gets scale 1 (any scale represents 0).
        """
        if self.min_val is None:
            raise RuntimeError("MinMaxObserver.calculate_qparams: no data observed yet; call the observer "
                               "on a tensor first")
        low = np.minimum(np.asarray(self.min_val, dtype=np.float64), 0.0)   # the range always contains 0,
        high = np.maximum(np.asarray(self.max_val, dtype=np.float64), 0.0)  # so 0 is exactly representable
        if self.symmetric:
            scale = np.maximum(-low, high) / INT8_MAX
            scale = np.where(scale > 0, scale, 1.0)
            zero_point = np.zeros(scale.shape, dtype=np.int32)
        else:
            scale = (high - low) / (INT8_MAX - INT8_MIN)
            scale = np.where(scale > 0, scale, 1.0)
            zero_point = np.clip(np.round(INT8_MIN - low / scale), INT8_MIN, INT8_MAX).astype(np.int32)
        return scale.astype(np.float32), zero_point

    def __repr__(self) -> str:
        axis = f", ch_axis={self.ch_axis}" if self.per_channel else ""
        return f"MinMaxObserver(qscheme={self.qscheme}{axis}, min_val={self.min_val}, max_val={self.max_val})"


def _observed(x, qscheme: str, ch_axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The parameters an observer of ``qscheme`` calculates from ``x`` alone."""
    observer = MinMaxObserver(qscheme, ch_axis)
    observer(x)
    return observer.calculate_qparams()


# ----------------------------------------------------------------------------- int8 tensors

class QuantizedTensor:
    """int8 codes plus the parameters that map them back to floats: ``x ~ (q - zero_point) * scale``.

    Made by :func:`quantize_int8`. ``axis`` is None for one scale per tensor, else the channel
    axis of the per-channel ``scale`` and ``zero_point``.

    Examples:
        >>> import numpy as np
        >>> from tinytorch.perf.quantization import MinMaxObserver, per_tensor_symmetric, quantize_int8
        >>> x = np.array([0.5, -1.0, 0.25], dtype=np.float32)
        >>> observer = MinMaxObserver(per_tensor_symmetric)
        >>> _ = observer(x)
        >>> q = quantize_int8(x, *observer.calculate_qparams())
        >>> q.int_repr().dtype, q.int_repr().tolist()
        (dtype('int8'), [64, -127, 32])
        >>> q.nbytes            # 3 codes + a float32 scale + an int32 zero point
        11
    """

    def __init__(self, codes: np.ndarray, scale, zero_point, axis: int | None = None):
        codes = np.asarray(codes)
        if codes.dtype != np.int8:
            raise TypeError(f"QuantizedTensor: codes must be int8, got dtype {codes.dtype}")
        self._codes = codes
        self.scale = np.asarray(scale, dtype=np.float32)
        self.zero_point = np.asarray(zero_point, dtype=np.int32)
        self.axis = axis

    def int_repr(self) -> np.ndarray:
        """The int8 codes as stored (PyTorch's name)."""
        return self._codes

    @property
    def shape(self) -> tuple:
        """Shape of the codes (and of the float tensor they stand for)."""
        return self._codes.shape

    @property
    def nbytes(self) -> int:
        """Bytes actually stored: the codes plus scale and zero point."""
        return int(self._codes.nbytes + self.scale.nbytes + self.zero_point.nbytes)

    def dequantize(self) -> np.ndarray:
        """The float32 values the codes stand for: ``(q - zero_point) * scale``."""
        scale, zero_point = _along(self.axis, self._codes.ndim, self.scale, self.zero_point)
        return ((self._codes.astype(np.int32) - zero_point) * scale).astype(np.float32)

    def __repr__(self) -> str:
        where = "per tensor" if self.axis is None else f"per channel (axis {self.axis})"
        return f"QuantizedTensor(shape={self.shape}, int8, {where})"


def _along(axis: int | None, ndim: int, *arrays):
    """Per-channel arrays reshaped to broadcast along ``axis`` of an ``ndim``-D array (as they are per tensor)."""
    if axis is None:
        return arrays
    shape = [1] * ndim
    shape[axis] = -1
    return tuple(a.reshape(shape) for a in arrays)


def _check_qparams(call: str, data: np.ndarray, scale, zero_point, axis):
    """Validated (scale, zero_point, axis), shaped to broadcast against ``data``."""
    scale, zero_point = np.asarray(scale), np.asarray(zero_point)
    if scale.dtype.kind not in "fiu" or not np.all(np.isfinite(scale)) or not np.all(scale > 0):
        raise ValueError(f"{call}: scale must be finite and > 0, got {scale!r}")
    if zero_point.dtype.kind not in "iu" or np.any(zero_point < INT8_MIN) or np.any(zero_point > INT8_MAX):
        raise ValueError(f"{call}: zero_point must be integers in [{INT8_MIN}, {INT8_MAX}], got {zero_point!r}")
    if axis is None:
        if scale.size != 1 or zero_point.size != 1:
            raise ValueError(f"{call}: per-tensor quantization (axis=None) takes one scale and one zero_point, "
                             f"got shapes {scale.shape} and {zero_point.shape}; pass axis= for per channel")
        return scale.reshape(()), zero_point.reshape(()), None
    axis = _check_axis(call, axis, data.ndim)
    channels = data.shape[axis]
    if scale.shape != (channels,) or zero_point.shape != (channels,):
        raise ValueError(f"{call}: per-channel quantization along axis {axis} needs scale and zero_point of "
                         f"shape ({channels},), got {scale.shape} and {zero_point.shape}")
    return scale, zero_point, axis


_SMALLEST_NORMAL = np.finfo(np.float32).tiny   # its float32 reciprocal, ~8.5e37, is still finite


def _divided(x: np.ndarray, scale) -> np.ndarray:
    """``x / scale`` as PyTorch computes it: ``x * (1 / scale)``, the reciprocal in float32 (see
    ``quantize_int8``); a true division for subnormal scales (below float32's smallest normal,
    ~1.2e-38), whose reciprocal can overflow."""
    if isinstance(scale, float):                  # one scale (a layer's input): no array to build and test
        scale = np.float32(scale)
        normal = scale >= _SMALLEST_NORMAL
    else:
        scale = np.asarray(scale, dtype=np.float32)
        normal = (scale >= _SMALLEST_NORMAL).all()
    return x * (np.float32(1.0) / scale) if normal else x / scale


def quantize_int8(x, scale, zero_point, axis: int | None = None) -> QuantizedTensor:
    """Quantize a float array or Tensor to int8 codes: ``q = clip(round(x / scale) + zero_point, -128, 127)``.

    As ``torch.quantize_per_tensor`` (``axis=None``, one scale) and ``torch.quantize_per_channel``
    (one scale and zero point per channel along ``axis``), with the parameters from an
    observer's ``calculate_qparams()``. Values outside the observed range saturate. As in
    PyTorch (ATen's ``quantize_val``), ``x / scale`` is computed as ``x * (1 / scale)`` with
    the reciprocal in float32, which is cheaper per element than a division: with a zero point
    of 0 (the symmetric schemes) the codes are torch's bit for bit, where a true division
    rounds differently on values within a few float32 steps of a half step. (Torch's
    vectorised kernels add a nonzero zero point before rounding, which can move such a value
    by one code.)

    Args:
        x: float array or Tensor, finite and not empty.
        scale: float > 0, or (C,) per channel.
        zero_point: integer in [-128, 127], or (C,) per channel.
        axis: None per tensor, else the channel axis.

    Examples:
        >>> import numpy as np
        >>> from tinytorch.perf.quantization import MinMaxObserver, per_tensor_affine, quantize_int8
        >>> x = np.array([0.0, 0.3, 1.0], dtype=np.float32)
        >>> observer = MinMaxObserver(per_tensor_affine)
        >>> _ = observer(x)
        >>> q = quantize_int8(x, *observer.calculate_qparams())
        >>> q.int_repr().tolist(), int(q.zero_point)
        ([-128, -52, 127], -128)
        >>> bool(np.abs(q.dequantize() - x).max() <= float(q.scale) / 2)
        True
    """
    data = _float_values("quantize_int8", "x", x)
    scale, zero_point, axis = _check_qparams("quantize_int8", data, scale, zero_point, axis)
    scale, zero_point = scale.astype(np.float32), zero_point.astype(np.int32)
    shaped_scale, shaped_zero = _along(axis, data.ndim, scale, zero_point)
    codes = np.clip(np.rint(_divided(data, shaped_scale)) + shaped_zero, INT8_MIN, INT8_MAX)
    return QuantizedTensor(codes.astype(np.int8), scale, zero_point, axis)


# ----------------------------------------------------------------------------- exact integer products

def int_matmul(a, b) -> np.ndarray:
    """Exact integer ``a @ b`` by float32 BLAS: a (..., K) shifted input codes (``|a| <= 255``), b (K, M) int8 codes.

    Every partial sum of at most :data:`EXACT_TERMS` (514) such products is an integer below
    2**24, which float32 holds exactly, so one float32 matmul is exact for K <= 514. Longer
    sums are cut into blocks of 514 terms along K, each exact, added in float64 (exact up to
    2**53). Returns float32 (one block) or float64 arrays of exact integers.

    Examples:
        >>> import numpy as np
        >>> from tinytorch.perf.quantization import int_matmul
        >>> a = np.full((1, 2000), 255.0, dtype=np.float32)       # four blocks
        >>> b = np.full((2000, 1), -128.0, dtype=np.float32)
        >>> int(int_matmul(a, b)[0, 0]) == 2000 * 255 * -128
        True
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim < 1 or b.ndim != 2 or a.shape[-1] != b.shape[0]:
        raise ValueError(f"int_matmul: expected a (..., K) and b (K, M), got shapes {a.shape} and {b.shape}")
    if a.dtype.kind not in "fiu" or b.dtype.kind not in "fiu":
        raise TypeError(f"int_matmul: expected integer codes (as integers or floats), got {a.dtype} and {b.dtype}")
    for name, array, bound in (("a", a, INT8_MAX - INT8_MIN), ("b", b, -INT8_MIN)):
        if array.size and (np.abs(array).max() > bound or not np.array_equal(array, np.rint(array))):
            raise ValueError(f"int_matmul: {name} must hold integers of magnitude at most {bound} "
                             f"(the bound that keeps float32 sums exact)")
    return _exact_matmul(a.astype(np.float32, copy=False), b.astype(np.float32, copy=False))


def _exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """:func:`int_matmul` on float32 arrays of valid shapes (the layers' fast path, no checks)."""
    k = a.shape[-1]
    if k <= EXACT_TERMS:
        return a @ b
    total = a[..., :EXACT_TERMS] @ b[:EXACT_TERMS]
    total = total.astype(np.float64)
    for start in range(EXACT_TERMS, k, EXACT_TERMS):
        total += a[..., start:start + EXACT_TERMS] @ b[start:start + EXACT_TERMS]
    return total


def _int_conv2d(codes: np.ndarray, weight: np.ndarray, stride, padding) -> np.ndarray:
    """Exact integer convolution of shifted input codes with int8 kernels (float arrays of integers).

    One float32 convolution when each output sums at most 514 products (C_in * kh * kw); else
    the input channels are cut into blocks that do, added in float64.
    """
    taps = weight.shape[2] * weight.shape[3]
    per_block = EXACT_TERMS // taps

    def conv(x, w):
        return conv2d(Tensor(x), Tensor(w), None, stride, padding).data

    if weight.shape[1] * taps <= EXACT_TERMS:
        return conv(codes.astype(np.float32), weight.astype(np.float32))
    if per_block == 0:                                   # a single kernel beyond 514 taps: float64 throughout
        return conv(codes.astype(np.float64), weight.astype(np.float64))
    total = 0.0
    for first in range(0, weight.shape[1], per_block):
        block = slice(first, first + per_block)
        total = total + conv(codes[:, block].astype(np.float32), weight[:, block].astype(np.float32)).astype(np.float64)
    return total


# ----------------------------------------------------------------------------- layers

def _check_weight_qscheme(call: str, qscheme) -> None:
    if qscheme not in WEIGHT_QSCHEMES:
        raise ValueError(f"{call}: weight_qscheme must be {' or '.join(WEIGHT_QSCHEMES)} (the integer product "
                         f"needs weight zero points of 0), got {qscheme!r}")


def _check_input_qparams(call: str, input_qparams):
    """``(scale, zero_point)`` of a per-tensor affine input, validated; None stays None (dynamic)."""
    if input_qparams is None:
        return None
    try:
        scale, zero_point = input_qparams
    except (TypeError, ValueError):
        raise TypeError(f"{call}: input_qparams must be a (scale, zero_point) pair as "
                        f"MinMaxObserver.calculate_qparams() returns, or None, got {input_qparams!r}") from None
    probe = np.zeros(1, np.float32)
    scale, zero_point, _ = _check_qparams(call, probe, scale, zero_point, None)
    return scale.astype(np.float32), zero_point.astype(np.int32)


class _Int8Layer(Module):
    """Shared storage of an int8 layer: int8 weights with their scales, float32 bias, input parameters."""

    def _store(self, weight: np.ndarray, bias, input_qparams, weight_qscheme: str):
        call = type(self).__name__
        _check_weight_qscheme(call, weight_qscheme)
        input_qparams = _check_input_qparams(call, input_qparams)
        weight = _float_values(call, "weight", weight)
        scale, zero_point = _observed(weight, weight_qscheme, ch_axis=0)
        wq = quantize_int8(weight, scale, zero_point, axis=0 if weight_qscheme == per_channel_symmetric else None)
        if bias is not None:
            bias = _float_values(call, "bias", bias)
            if bias.shape != (weight.shape[0],):
                raise ValueError(f"{call}: bias must have shape ({weight.shape[0]},), got {bias.shape}")
        self.register_buffer("weight", Tensor(wq.int_repr()))
        self.register_buffer("weight_scale", Tensor(np.broadcast_to(scale, (weight.shape[0],)).astype(np.float32)))
        self.register_buffer("bias", None if bias is None else Tensor(bias.astype(np.float32)))
        self.register_buffer("input_scale", None if input_qparams is None else Tensor(input_qparams[0]))
        self.register_buffer("input_zero_point", None if input_qparams is None else Tensor(input_qparams[1]))

    @property
    def input_qparams(self):
        """The calibrated input ``(scale, zero_point)`` (from the stored buffers), None for dynamic quantization."""
        if self.input_scale is None:
            return None
        return self.input_scale.data, self.input_zero_point.data

    def int_weight(self) -> np.ndarray:
        """The int8 weight codes as stored (sparse subclasses rebuild them from their storage)."""
        return self.weight.data

    def _input_codes(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Input codes minus the zero point, as float32 integers (0 means 0.0), and the input scale.

        ``clip(round(x * (1 / s)), -128 - z, 127 - z)`` is ``quantize_int8(x) - z`` without the
        round trip through int8: the same integers, ready for the float32 products of ``int_matmul``.
        Static when calibrated (NaN inputs then give NaN outputs, as a float layer would), else
        measured on this batch (dynamic; a batch with NaN or inf has no range: an error).
        """
        x = x.astype(np.float32, copy=False)
        qparams = self.input_qparams
        if qparams is not None:
            scale, zero_point = qparams
        else:
            try:
                scale, zero_point = _observed(x, per_tensor_affine)
            except ValueError as err:
                raise ValueError(f"{type(self).__name__}: dynamic quantization of the input: {err}") from None
        scale, zero_point = float(scale), int(zero_point)   # Python scalars: float32 arithmetic stays float32
        codes = _divided(x, scale)
        np.rint(codes, out=codes)
        codes.clip(INT8_MIN - zero_point, INT8_MAX - zero_point, out=codes)   # the method: half np.clip's call cost
        return codes, scale

    @property
    def nbytes(self) -> int:
        """Bytes of every array the layer stores (weights, scales, bias, input parameters)."""
        return int(sum(b.data.nbytes for _, b in self.named_buffers()))


class QuantizedLinear(_Int8Layer):
    """Int8 Linear: y = ((q(x) - z_x) W_q^T) * s_x * s_w + b, the product exact in integers.

    Weights are int8, symmetric, one scale per output row (``per_channel_symmetric``) or one
    per tensor (``per_tensor_symmetric``). The input is quantized affinely with the calibrated
    ``input_qparams`` (static) or, without them, with parameters measured on each batch
    (dynamic). The integer product runs in float32 BLAS, exactly (:func:`int_matmul`).

    Args:
        weight: float weights (out_features, in_features) to quantize.
        bias: float (out_features,) or None; kept in float32.
        input_qparams: ``(scale, zero_point)`` of the input (per tensor), or None for dynamic.
        weight_qscheme: ``per_channel_symmetric`` (default) or ``per_tensor_symmetric``.

    Shape:
        - Input: ``(*, in_features)``; Output: ``(*, out_features)`` float32.

    Examples:
        >>> import numpy as np
        >>> from tinytorch.core.layers import Linear
        >>> from tinytorch.core.tensor import Tensor
        >>> from tinytorch.perf.quantization import QuantizedLinear
        >>> lin = Linear(64, 10)
        >>> q = QuantizedLinear.from_float(lin)
        >>> q.weight.dtype, q.weight.data.nbytes, lin.weight.data.nbytes
        (dtype('int8'), 640, 2560)
        >>> x = Tensor(np.random.default_rng(0).random((4, 64), dtype=np.float32))
        >>> q(x).shape, bool(np.abs(q(x).data - lin(x).data).max() < 0.02)
        ((4, 10), True)
    """

    def __init__(self, weight, bias=None, input_qparams=None, weight_qscheme: str = per_channel_symmetric):
        super().__init__()
        weight = _raw(weight)
        if weight.ndim != 2:
            raise ValueError(f"QuantizedLinear: weight must be 2-D (out, in), got shape {weight.shape}")
        self.out_features, self.in_features = weight.shape
        self._store(weight, bias, input_qparams, weight_qscheme)

    @classmethod
    def from_float(cls, linear, input_qparams=None, weight_qscheme: str = per_channel_symmetric):
        """Quantize a trained ``Linear`` (its weights are copied into int8 codes)."""
        if not isinstance(linear, Linear):
            raise TypeError(f"QuantizedLinear.from_float: expected a Linear, got {type(linear).__name__}")
        return cls(linear.weight.data, None if linear.bias is None else linear.bias.data, input_qparams,
                   weight_qscheme)

    def forward(self, x):
        data = _raw(x)
        if data.ndim == 0 or data.shape[-1] != self.in_features:
            raise ValueError(f"QuantizedLinear: expected input (*, {self.in_features}), got shape {data.shape}")
        codes, x_scale = self._input_codes(data)
        weight = self.int_weight().astype(np.float32).T      # the int8 codes, exactly, for BLAS
        out = _exact_matmul(codes.reshape(-1, self.in_features), weight).astype(np.float32, copy=False)
        out *= x_scale * self.weight_scale.data                 # back to float only now
        bias = self.bias
        if bias is not None:
            out += bias.data
        return Tensor(out.reshape(data.shape[:-1] + (self.out_features,)))

    def extra_repr(self) -> str:
        mode = "static" if self.input_qparams is not None else "dynamic"
        return f"in_features={self.in_features}, out_features={self.out_features}, int8, {mode} input"


class QuantizedConv2d(_Int8Layer):
    """Int8 Conv2d: the convolution of shifted int8 input codes with int8 kernels, exact in integers.

    Same scheme as :class:`QuantizedLinear`: weights per output channel, the input per tensor
    (its zero point subtracted before the convolution, so zero padding still means 0.0), the
    convolution of ``tinytorch.core.spatial.conv2d`` run on the integer codes held in float32
    (exact while each output sums at most 514 products; wider inputs go in channel blocks).

    Args:
        weight: float kernels (C_out, C_in, kh, kw).
        bias: float (C_out,) or None.
        stride, padding: as Conv2d.
        input_qparams: ``(scale, zero_point)`` of the input, or None for dynamic.
        weight_qscheme: ``per_channel_symmetric`` (default) or ``per_tensor_symmetric``.

    Shape:
        - Input: ``(N, C_in, H, W)``; Output: ``(N, C_out, H_out, W_out)`` float32.

    Examples:
        >>> import numpy as np
        >>> from tinytorch.core.spatial import Conv2d
        >>> from tinytorch.core.tensor import Tensor
        >>> from tinytorch.perf.quantization import QuantizedConv2d
        >>> conv = Conv2d(1, 6, 3, padding=1)
        >>> q = QuantizedConv2d.from_float(conv)
        >>> q(Tensor(np.zeros((2, 1, 8, 8), dtype=np.float32))).shape
        (2, 6, 8, 8)
    """

    def __init__(self, weight, bias=None, stride=1, padding=0, input_qparams=None,
                 weight_qscheme: str = per_channel_symmetric):
        super().__init__()
        weight = _raw(weight)
        if weight.ndim != 4:
            raise ValueError(f"QuantizedConv2d: weight must be 4-D (out, in, kh, kw), got shape {weight.shape}")
        self.out_channels, self.in_channels = weight.shape[:2]
        self.kernel_size = tuple(weight.shape[2:])
        self.stride, self.padding = stride, padding
        self._store(weight, bias, input_qparams, weight_qscheme)

    @classmethod
    def from_float(cls, conv, input_qparams=None, weight_qscheme: str = per_channel_symmetric):
        """Quantize a trained ``Conv2d``."""
        if not isinstance(conv, Conv2d):
            raise TypeError(f"QuantizedConv2d.from_float: expected a Conv2d, got {type(conv).__name__}")
        return cls(conv.weight.data, None if conv.bias is None else conv.bias.data, conv.stride, conv.padding,
                   input_qparams, weight_qscheme)

    def forward(self, x):
        data = _raw(x)
        if data.ndim != 4 or data.shape[1] != self.in_channels:
            raise ValueError(f"QuantizedConv2d: expected input (N, {self.in_channels}, H, W), got shape {data.shape}")
        codes, x_scale = self._input_codes(data)
        out = _int_conv2d(codes, self.int_weight(), self.stride, self.padding).astype(np.float32, copy=False)
        out *= (x_scale * self.weight_scale.data).reshape(1, -1, 1, 1)
        if self.bias is not None:
            out += self.bias.data.reshape(1, -1, 1, 1)
        return Tensor(out)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, int8")


class Float16Linear(Module):
    """Linear with float16 storage: half the bytes of float32, computed in float32.

    Examples:
        >>> from tinytorch.core.layers import Linear
        >>> from tinytorch.perf.quantization import Float16Linear
        >>> half = Float16Linear.from_float(Linear(64, 10))
        >>> half.weight.dtype, half.weight.data.nbytes
        (dtype('float16'), 1280)
    """

    def __init__(self, weight, bias=None):
        super().__init__()
        weight = _float_values("Float16Linear", "weight", weight)
        if weight.ndim != 2:
            raise ValueError(f"Float16Linear: weight must be 2-D (out, in), got shape {weight.shape}")
        self.out_features, self.in_features = weight.shape
        self.register_buffer("weight", Tensor(weight.astype(np.float16)))
        self.register_buffer("bias", None if bias is None else Tensor(_raw(bias).astype(np.float16)))

    @classmethod
    def from_float(cls, linear):
        """Copy a ``Linear``'s weights into float16."""
        if not isinstance(linear, Linear):
            raise TypeError(f"Float16Linear.from_float: expected a Linear, got {type(linear).__name__}")
        return cls(linear.weight.data, None if linear.bias is None else linear.bias.data)

    def forward(self, x):
        data = _raw(x)
        if data.ndim == 0 or data.shape[-1] != self.in_features:
            raise ValueError(f"Float16Linear: expected input (*, {self.in_features}), got shape {data.shape}")
        out = data.astype(np.float32, copy=False) @ self.weight.data.astype(np.float32).T
        if self.bias is not None:
            out = out + self.bias.data.astype(np.float32)
        return Tensor(out)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, float16"


class Float16Conv2d(Module):
    """Conv2d with float16 storage, computed in float32.

    Examples:
        >>> from tinytorch.core.spatial import Conv2d
        >>> from tinytorch.perf.quantization import Float16Conv2d
        >>> Float16Conv2d.from_float(Conv2d(1, 6, 3)).weight.dtype
        dtype('float16')
    """

    def __init__(self, weight, bias=None, stride=1, padding=0):
        super().__init__()
        weight = _float_values("Float16Conv2d", "weight", weight)
        if weight.ndim != 4:
            raise ValueError(f"Float16Conv2d: weight must be 4-D (out, in, kh, kw), got shape {weight.shape}")
        self.out_channels, self.in_channels = weight.shape[:2]
        self.kernel_size = tuple(weight.shape[2:])
        self.stride, self.padding = stride, padding
        self.register_buffer("weight", Tensor(weight.astype(np.float16)))
        self.register_buffer("bias", None if bias is None else Tensor(_raw(bias).astype(np.float16)))

    @classmethod
    def from_float(cls, conv):
        """Copy a ``Conv2d``'s weights into float16."""
        if not isinstance(conv, Conv2d):
            raise TypeError(f"Float16Conv2d.from_float: expected a Conv2d, got {type(conv).__name__}")
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


class FoldedReLU(Module):
    """A ReLU that :func:`quantize_model` found redundant: it passes its input through unchanged.

    The int8 layer right after it quantizes its input with zero point -128, so its clip already
    sends every negative input to the code of 0.0, as the ReLU would (see :func:`_fold_relus`).
    """

    def forward(self, x):
        return x

    def extra_repr(self) -> str:
        return "the next layer's input clip applies it"


def _clips_at_zero(layer) -> bool:
    """Does this int8 layer's static input quantization map every negative value to the code of 0.0?"""
    return isinstance(layer, _Int8Layer) and layer.input_qparams is not None and int(layer.input_qparams[1]) == INT8_MIN


def _fold_relus(model) -> None:
    """Replace each ReLU that feeds, inside a Sequential, an int8 layer clipping at zero by a FoldedReLU.

    With zero point -128 the layer's shifted codes are ``clip(round(x / s), 0, 255)``; rounding keeps
    the order and maps 0 to 0, so ``x`` and ``relu(x)`` get the same codes, bit for bit, and the
    ReLU's own pass over the activations can go (PyTorch's ``fuse_modules`` folds a ReLU into the
    quantized layer before it, for the same saving). Calibrating on the ReLU's outputs, which are
    never negative, gives that zero point.
    """
    for parent in list(model.modules()):
        if not isinstance(parent, Sequential):
            continue
        children = list(parent.named_children())
        for (name, first), (_, second) in zip(children, children[1:]):
            if type(first) is ReLU and _clips_at_zero(second):
                parent.add_module(name, FoldedReLU())


def _batches(call: str, calibration) -> list:
    """The calibration data as a list of batches (one array or Tensor is one batch)."""
    batches = [calibration] if isinstance(calibration, (np.ndarray, Tensor)) else list(calibration)
    if not batches:
        raise ValueError(f"{call}: calibration is empty; give at least one input batch")
    return batches


def quantize_model(model, calibration=None, dtype: str = "int8", weight_qscheme: str = per_channel_symmetric):
    """A quantized copy of ``model``: every Linear and Conv2d replaced, the original untouched.

    Args:
        model: a trained float model (a Module tree).
        calibration: for int8, an input batch or a list of batches run through the float model
            with a ``MinMaxObserver(per_tensor_affine)`` on each layer's input (static
            quantization); None quantizes inputs per batch at run time (dynamic). A ReLU right
            before a statically quantized layer becomes a :class:`FoldedReLU`: that layer's input
            clip already does its work.
        dtype: ``"int8"`` or ``"float16"``.
        weight_qscheme: int8 weights ``per_channel_symmetric`` (default) or ``per_tensor_symmetric``.

    Examples:
        >>> import numpy as np
        >>> from tinytorch.core.layers import Linear
        >>> from tinytorch.perf.quantization import model_nbytes, quantize_model
        >>> from tinytorch.core.layers import Sequential
        >>> from tinytorch.core.activations import ReLU
        >>> float_model = Sequential(Linear(64, 32), ReLU(), Linear(32, 10))
        >>> int8_model = quantize_model(float_model, np.zeros((8, 64), dtype=np.float32))
        >>> [type(m).__name__ for m in int8_model]
        ['QuantizedLinear', 'FoldedReLU', 'QuantizedLinear']
        >>> model_nbytes(float_model), model_nbytes(int8_model)  # int8 weights + float32 scales and biases
        (9640, 2720)
    """
    if not isinstance(model, Module):
        raise TypeError(f"quantize_model: model must be a Module, got {type(model).__name__}")
    if dtype not in ("int8", "float16"):
        raise ValueError(f"quantize_model: dtype must be 'int8' or 'float16', got {dtype!r}")
    if dtype == "float16" and calibration is not None:
        raise ValueError("quantize_model: float16 needs no calibration data; pass calibration=None")
    _check_weight_qscheme("quantize_model", weight_qscheme)
    copied = copy.deepcopy(model)
    if dtype == "float16":
        _replace_layers(copied, lambda m: (Float16Linear if isinstance(m, Linear) else Float16Conv2d).from_float(m))
        return copied
    observers = _input_observers(copied, calibration) if calibration is not None else {}

    def convert(layer):
        observer = observers.get(id(layer))
        input_qparams = None if observer is None else observer.calculate_qparams()
        kind = QuantizedLinear if isinstance(layer, Linear) else QuantizedConv2d
        return kind.from_float(layer, input_qparams, weight_qscheme)

    _replace_layers(copied, convert)
    _fold_relus(copied)
    return copied


def _input_observers(model, calibration) -> dict[int, MinMaxObserver]:
    """A per-tensor affine observer of the input of every Linear/Conv2d, fed the calibration batches."""
    batches = _batches("quantize_model", calibration)
    observers: dict[int, MinMaxObserver] = {}
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
            observer = observers.setdefault(id(call.module), MinMaxObserver(per_tensor_affine))
            try:
                observer(call.inputs[0])
            except ValueError as err:
                raise ValueError(f"quantize_model: calibration: {err}") from None
    return observers


def model_nbytes(model) -> int:
    """Bytes of every parameter and buffer a model stores (what saving it would write).

    Examples:
        >>> from tinytorch.core.layers import Linear
        >>> from tinytorch.perf.quantization import model_nbytes
        >>> model_nbytes(Linear(64, 32))     # (64*32 + 32) float32 numbers
        8320
    """
    if not isinstance(model, Module):
        raise TypeError(f"model_nbytes: model must be a Module, got {type(model).__name__}")
    total = sum(p.data.nbytes for p in model.parameters())
    return int(total + sum(_raw(b).nbytes for _, b in model.named_buffers()))
