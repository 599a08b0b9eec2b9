"""Module 09, spatial: 2-D convolution and pooling on NCHW images.

Three fused primitives, each one ``Function`` with its forward and backward side by side:

* ``Conv2dFunction``: im2col and matrix products. Each kw-wide row of every kernel window is
  copied once into the columns of a matrix; kernel row i is then the same matrix i image
  rows further on (a slice, not a copy), so the output is kh matmuls added up. Backward is
  matmuls too: the weight gradient against the same slices; the input gradient, at stride 1,
  by col2im with the batch folded into the image rows (kh large matmuls and shifted
  additions), else as the same correlation run in reverse (the output gradient in a zero
  frame, the kernel flipped). See the class docstring for why this beats copying whole
  windows at full image sizes.
* ``MaxPool2dFunction``: max over each window, folding the kernel offsets in with
  ``np.maximum``; backward routes the gradient to the first maximum of each window
  (side-by-side windows record the winning offset in forward instead).
* ``AvgPool2dFunction``: mean over each window; backward spreads the gradient evenly.

No Python loop ever runs over pixels, channels or the batch; the loops run over kernel rows
or kernel offsets (at most 25 for a 5x5 kernel), each a whole-batch NumPy operation.

``conv2d_naive`` is the slow, explicit-loop teaching reference that defines what the fast
version must compute; the tests compare the two. The layers never use it.

Gradients (``Tensor.grad``) are plain ``np.ndarray`` of the parameter's shape and dtype.
"""

from __future__ import annotations


import numpy as np
from numpy.lib.stride_tricks import as_strided

from tinytorch.core.autograd import Function
from tinytorch.core.layers import Module, Parameter, init_fan_in_uniform

__all__ = [
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "conv2d_naive",
    "Conv2dFunction",
    "MaxPool2dFunction",
    "AvgPool2dFunction",
]


# ----------------------------------------------------------------------------- helpers

def _pair(value, name: str = "value") -> tuple[int, int]:
    """``3 -> (3, 3)``; ``(3, 2) -> (3, 2)``."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    pair = tuple(int(v) for v in value)
    if len(pair) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return pair


def _check_input(op: str, x_shape, padding, kernel) -> tuple[int, int]:
    """Validate an NCHW input against a kernel; return the padded size (Hp, Wp)."""
    if len(x_shape) != 4:
        raise ValueError(f"{op} expects 4-D input (N, C, H, W), got shape {tuple(x_shape)}")
    (ph, pw), (kh, kw) = padding, kernel
    hp, wp = x_shape[2] + 2 * ph, x_shape[3] + 2 * pw
    if kh > hp or kw > wp:
        raise ValueError(
            f"{op}: kernel size ({kh}, {kw}) is larger than the padded input ({hp}, {wp}) "
            f"(input shape {tuple(x_shape)}, padding ({ph}, {pw}))"
        )
    return hp, wp


def _check_hyper(op: str, kernel, stride, padding) -> None:
    if min(kernel) < 1 or min(stride) < 1 or min(padding) < 0:
        raise ValueError(
            f"{op}: kernel_size and stride must be >= 1 and padding >= 0, "
            f"got kernel_size={kernel}, stride={stride}, padding={padding}"
        )


def _out_size(size: int, kernel: int, stride: int) -> int:
    """Output length along one axis of an already padded input."""
    return (size - kernel) // stride + 1


def _pad(x: np.ndarray, padding: tuple[int, int], value: float = 0.0) -> np.ndarray:
    """Pad H and W on both sides with ``value`` (x itself when there is no padding)."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    n, c, h, w = x.shape
    xp = np.full((n, c, h + 2 * ph, w + 2 * pw), value, dtype=x.dtype)  # np.pad costs ~6x more
    xp[:, :, ph:ph + h, pw:pw + w] = x
    return xp


def _unpad(x: np.ndarray, padding: tuple[int, int]) -> np.ndarray:
    ph, pw = padding
    return x[:, :, ph:x.shape[2] - ph, pw:x.shape[3] - pw]


def _offset_slice(i: int, j: int, out_hw, stride) -> tuple:
    """Index of the input pixels that kernel offset (i, j) touches, for every output pixel."""
    (oh, ow), (sh, sw) = out_hw, stride
    return (slice(None), slice(None), slice(i, i + sh * (oh - 1) + 1, sh),
            slice(j, j + sw * (ow - 1) + 1, sw))


# ----------------------------------------------------------------------------- reference

def conv2d_naive(x, weight, bias=None, stride=1, padding=0) -> np.ndarray:
    """SLOW teaching reference: 2-D convolution with explicit loops, on plain numpy arrays.

    out[n, o, y, x] = bias[o] + sum_{c, i, j} weight[o, c, i, j] * xpad[n, c, y*sh + i, x*sw + j]

    It spells out the definition (strictly: cross-correlation, as in every deep-learning
    framework). Use it to check ``conv2d``; never to train.
    """
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    out = np.zeros((n, o, oh, ow), dtype=np.result_type(x, weight))
    for b in range(n):
        for f in range(o):
            for y in range(oh):
                for xx in range(ow):
                    window = xp[b, :, y * sh:y * sh + kh, xx * sw:xx * sw + kw]
                    out[b, f, y, xx] = np.sum(window * weight[f])
            if bias is not None:
                out[b, f] += bias[f]
    return out


# ----------------------------------------------------------------------------- convolution

MIN_ROW_CONTRACTION = 8
"""Unfold one kernel row at a time when a row holds at least this many inputs (C*kw);
thinner rows (one input channel, say) make too thin a matmul, so the whole kernel is unfolded."""


def _rows_per_unfold(channels, kernel, stride):
    """Kernel rows to unfold at once: 1 for stride-1 rows of C*kw >= 8 inputs, else all kh."""
    return 1 if stride[0] == 1 and channels * kernel[1] >= MIN_ROW_CONTRACTION else kernel[0]


def _unfold(xp, rows, kw, stride):
    """Partial im2col, one copy: ``rows`` rows of each kw-wide window, as matrix columns.

    cols[n, (c, i, j), (r, x)] = xp[n, c, r*sh + i, x*sw + j] for i < rows, j < kw, over every
    window row r and output column x. Returns cols (N, C*rows*kw, R*X) and X, the row length.
    """
    n, c, hp, wp = xp.shape
    (sh, sw), (sn, sc, sr, sq) = stride, xp.strides
    r, x = (hp - rows) // sh + 1, (wp - kw) // sw + 1          # the last window ends inside xp
    windows = as_strided(xp, (n, c, rows, kw, r, x), (sn, sc, sr, sq, sh * sr, sw * sq))
    return windows.reshape(n, c * rows * kw, r * x), x


def _correlate(xp, weight, stride, rows):
    """out[n, o, y*X + x] = sum_{c, i, j} weight[o, c, i, j] * xp[n, c, y*sh + i, x*sw + j].

    Unfolds ``rows`` kernel rows (``_unfold``): with rows = kh that is classic im2col and one
    matmul. With rows = 1 (stride 1 in height) each image is copied once per kernel column,
    and kernel row i reads the same matrix i window rows further on: a slice, not a copy, so
    the output is kh matmuls (O, C*kw) @ (C*kw, oh*ow) added up, kh times less copying.
    Returns out (N, O, oh*ow), the unfolded matrix and its row length X (= ow).
    """
    o, c, kh, kw = weight.shape
    groups = kh // rows
    cols, ow = _unfold(xp, rows, kw, stride)
    oh = (xp.shape[2] - kh) // stride[0] + 1
    size, step = oh * ow, rows * ow
    w_groups = weight.reshape(o, c, groups, rows, kw).transpose(2, 0, 1, 3, 4).reshape(groups, o, c * rows * kw)
    out = np.matmul(w_groups[0], cols[:, :, :size])
    for g in range(1, groups):
        out += np.matmul(w_groups[g], cols[:, :, g * step:g * step + size])
    return out, cols, ow


def _spread(count, stride, offset, size):
    """Output positions 0..count-1 placed at offset + k*stride along an axis of length ``size``:
    the range (first, stop) of those that land inside, and the slice they land on."""
    first = max(0, -(offset // stride))                     # ceil(-offset / stride)
    stop = max(first, min(count, (size - 1 - offset) // stride + 1))
    start = offset + first * stride
    return first, stop, slice(start, start + (stop - first - 1) * stride + 1 if stop > first else start, stride)


def _folded_input_grad(grad_output, weight, x_shape, padding):
    """dx of a stride-1 convolution by col2im, with the batch folded into the image rows.

    Laid out as (channel, image row y, image n, pixel x), one flat row per channel, the
    gradient of output pixel (y, n, x) reaches input pixel (y + i, n, x + j) at the fixed
    distance i*N*Wp + j, for every image at once. So per kernel row i one matmul
    (C*kw, O) @ (O, oh*N*Wp) gives what each kernel column sent, and kw shifted additions put
    it back on the pixels: kh large products instead of one small product per image, and no
    copy of the gradient per kernel column. Output columns past ow are zero; padding is cut.
    """
    n, c, h, w = x_shape
    (ph, pw), (o, _, kh, kw), (oh, ow) = padding, weight.shape, grad_output.shape[2:]
    hp, wp = h + 2 * ph, w + 2 * pw
    step = n * wp                                          # from one image row to the next
    g = np.zeros((o, oh, n, wp), dtype=grad_output.dtype)
    g[..., :ow] = grad_output.transpose(1, 2, 0, 3)
    g = g.reshape(o, oh * step)
    pixels = np.zeros((c, hp + 1, n, wp), dtype=grad_output.dtype)   # a spare row for the last shifts
    flat = pixels.reshape(c, -1)
    kernel_rows = weight.transpose(2, 1, 3, 0).reshape(kh, c * kw, o)
    for i in range(kh):
        sent = (kernel_rows[i] @ g).reshape(c, kw, oh * step)
        for j in range(kw):
            flat[:, i * step + j:i * step + j + oh * step] += sent[:, j]
    return np.ascontiguousarray(pixels[:, ph:ph + h, :, pw:pw + w].transpose(2, 0, 1, 3))


class Conv2dFunction(Function):
    """Fused conv2d: im2col of the kernel's rows and matmuls; backward by matmuls too.

    Forward (``_correlate``): copy every kw-wide window row of the padded input into the
    columns of a matrix (C*kw rows: channel and kernel column), then each kernel row i is
    the same matrix i image rows further on, a slice, so the output is kh matmuls added up.
    Classic im2col copies every whole window (C*kh*kw rows): at 32x32x3 with 5x5 kernels,
    17 MB per batch of 64, far past the caches; this copies 5 times less. Thin rows (C*kw < 8,
    e.g. one input channel) and vertical strides unfold whole windows instead: one matmul.

    Backward: the weight gradient is a matmul of the output gradient with the same saved
    slices, per kernel row, summed over the batch. The input gradient of a stride-1
    convolution with rows of C*kw >= 8 is col2im over the whole batch at once
    (``_folded_input_grad``): at 14x14 with 5x5 kernels 2.3x faster than the reverse pass
    below, which makes one small matmul per image with only C_in rows. Otherwise it is a
    forward pass in reverse: the output gradient, spread onto the stride-1 grid (zeros
    between strides) and framed by kh-1 zero rows and kw-1 zero columns, correlated with
    the kernel flipped in both directions and with its channel axes swapped.
    """

    @staticmethod
    def forward(ctx, x, weight, bias=None, stride=1, padding=0):
        stride, padding = _pair(stride, "stride"), _pair(padding, "padding")
        if weight.ndim != 4:
            raise ValueError(f"Conv2d expects a 4-D weight (out, in, kh, kw), got shape {weight.shape}")
        o, c, kh, kw = weight.shape
        _check_hyper("Conv2d", (kh, kw), stride, padding)
        _check_input("Conv2d", x.shape, padding, (kh, kw))
        if x.shape[1] != c:
            raise ValueError(
                f"Conv2d: expected {c} input channels, got {x.shape[1]} "
                f"(input shape {x.shape}, weight shape {weight.shape})"
            )
        xp = _pad(x.astype(np.result_type(x, weight), copy=False), padding)
        rows = _rows_per_unfold(c, (kh, kw), stride)
        out, cols, ow = _correlate(xp, weight, stride, rows)
        if bias is not None:
            out += bias.reshape(1, o, 1)
        ctx.save_for_backward(cols, weight)
        ctx.geometry = (x.shape, stride, padding, rows)
        return out.reshape(x.shape[0], o, -1, ow)

    @staticmethod
    def backward(ctx, grad_output):
        cols, weight = ctx.saved_tensors
        (n, c, h, w), (sh, sw), (ph, pw), rows = ctx.geometry
        needs_x, needs_w, needs_b = ctx.needs_input_grad
        o, _, kh, kw = weight.shape
        oh, ow = grad_output.shape[2:]
        grad_b = None
        if needs_b:   # per-image channel sums as one matrix-vector product (3x grad_output.sum(axis=(0, 2, 3)))
            per_image = grad_output.reshape(n * o, oh * ow) @ np.ones(oh * ow, dtype=grad_output.dtype)
            grad_b = per_image.reshape(n, o).sum(axis=0)
        g = grad_output.reshape(n, o, oh * ow)

        grad_w = None
        if needs_w:  # per group of kernel rows: sum over the batch of cols[n] (C*rows*kw, L) @ g[n]^T (L, O)
            # (the transposed product: 3-20% faster than g[n] @ cols[n]^T on the book's convolutions).
            # Group k reads the saved matrix k*step columns on: a strided view (N, groups, C*rows*kw, L),
            # multiplied image by image (6-11% faster than group by group: one image's columns stay in cache)
            groups, step, g_t = kh // rows, rows * ow, g.transpose(0, 2, 1)
            (sn, sr, sl), size = cols.strides, oh * ow
            shifted = as_strided(cols, (n, groups, cols.shape[1], size), (sn, step * sl, sr, sl), writeable=False)
            grad_w = np.matmul(shifted, g_t[:, None]).sum(axis=0)
            grad_w = grad_w.reshape(groups, c, rows, kw, o).transpose(4, 1, 0, 2, 3).reshape(weight.shape)
        if not needs_x:                                           # e.g. the first layer
            return None, grad_w, grad_b
        if (sh, sw) == (1, 1) and c * kw >= MIN_ROW_CONTRACTION:
            return _folded_input_grad(grad_output, weight, (n, c, h, w), (ph, pw)), grad_w, grad_b

        # dx[Y, X] = sum_{o, i, j} w[o, c, i, j] * g1[Y - i, X - j] for the input's (unpadded) pixels,
        # g1 = the gradient spread onto the stride-1 grid: a correlation of g1, framed by zeros,
        # with the kernel flipped. The frame holds just the rows and columns those pixels read.
        framed = np.zeros((n, o, h + kh - 1, w + kw - 1), dtype=cols.dtype)
        (y0, y1, ys), (x0, x1, xs) = _spread(oh, sh, kh - 1 - ph, h + kh - 1), _spread(ow, sw, kw - 1 - pw, w + kw - 1)
        framed[:, :, ys, xs] = grad_output[:, :, y0:y1, x0:x1]
        flipped = np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        grad_x, _, _ = _correlate(framed, flipped, (1, 1), _rows_per_unfold(o, (kh, kw), (1, 1)))
        return grad_x.reshape(n, c, h, w), grad_w, grad_b


def conv2d(input, weight, bias=None, stride=1, padding=0):
    """2-D convolution (cross-correlation) over an NCHW batch, as ``torch.nn.functional.conv2d``.

    Args:
        input: Tensor (N, C_in, H, W).
        weight: Tensor (C_out, C_in, kh, kw).
        bias: Tensor (C_out,) or None.
        stride, padding: int or (h, w) pair; zero padding.

    Shape:
        output (N, C_out, (H + 2*ph - kh) // sh + 1, (W + 2*pw - kw) // sw + 1)
    """
    return Conv2dFunction.apply(input, weight, bias, stride=stride, padding=padding)


class Conv2d(Module):
    """Applies ``out = conv2d(x, weight) + bias`` over an NCHW batch.

    Args:
        in_channels: channels of the input image.
        out_channels: number of filters.
        kernel_size: int or (kh, kw).
        stride: int or (sh, sw). Default 1.
        padding: int or (ph, pw), zero padding on both sides. Default 0.
        bias: add a learnable bias per output channel. Default True.

    Shape:
        input (N, C_in, H, W) -> output (N, C_out, H_out, W_out) with
        H_out = (H + 2*ph - kh) // sh + 1 and likewise for W.

    Attributes:
        weight: Parameter (C_out, C_in, kh, kw), initialised U(-1/sqrt(fan_in), 1/sqrt(fan_in))
            with fan_in = C_in*kh*kw (PyTorch's ``kaiming_uniform_`` with a=sqrt(5)).
        bias: Parameter (C_out,), same distribution, or None.

    Examples:
        >>> import numpy as np
        >>> from tinytorch.core.spatial import Conv2d
        >>> from tinytorch.core.tensor import Tensor
        >>> conv = Conv2d(1, 6, 3, padding=1)
        >>> conv(Tensor(np.zeros((32, 1, 8, 8)))).shape
        (32, 6, 8, 8)
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride")
        self.padding = _pair(padding, "padding")
        _check_hyper("Conv2d", self.kernel_size, self.stride, self.padding)
        kh, kw = self.kernel_size
        self.weight = Parameter(np.zeros((out_channels, in_channels, kh, kw), dtype=np.float32))
        self.bias = Parameter(np.zeros(out_channels, dtype=np.float32)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw weight and bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels * kh * kw (as Linear)."""
        kh, kw = self.kernel_size
        init_fan_in_uniform(self.weight, self.bias, fan_in=self.in_channels * kh * kw)

    def forward(self, x):
        return conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.bias is None:
            s += ", bias=False"
        return s


# ----------------------------------------------------------------------------- pooling

def _pool_geometry(op, x_shape, kernel_size, stride, padding):
    kernel = _pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else _pair(stride, "stride")
    padding = _pair(padding, "padding")
    _check_hyper(op, kernel, stride, padding)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{op}: padding should be at most half of kernel size, "
                         f"got padding={padding}, kernel_size={kernel}")
    hp, wp = _check_input(op, x_shape, padding, kernel)
    out_hw = (_out_size(hp, kernel[0], stride[0]), _out_size(wp, kernel[1], stride[1]))
    return kernel, stride, padding, out_hw


def _kernel_offsets(kernel):
    """Kernel offsets (k, i, j) in row-major order, k = i*kw + j."""
    kh, kw = kernel
    return [(i * kw + j, i, j) for i in range(kh) for j in range(kw)]


def _scatter(grad_xp, index, values, kernel, stride):
    """Send one kernel offset's gradients back to its pixels. Windows that overlap
    (stride < kernel) share pixels, so add; otherwise each pixel gets exactly one value and
    a plain assignment (about 3x faster than a strided add) is enough."""
    if stride[0] < kernel[0] or stride[1] < kernel[1]:
        grad_xp[index] += values
    else:
        grad_xp[index] = values


def _side_by_side(kernel, stride, padding) -> bool:
    """Windows that tile the image without overlap or padding (``MaxPool2d(2)``), at most 255 offsets."""
    return stride == kernel and padding == (0, 0) and kernel[0] * kernel[1] < 256


def _tiles(x, kernel, out_hw):
    """The pixels of side-by-side windows, offset first: (kh*kw, N, C, oh, ow), contiguous.

    tiles[i*kw + j, n, c, y, x] = x[n, c, y*kh + i, x*kw + j]: one strided copy per kernel
    offset, after which the max and the comparisons run over contiguous memory (NumPy is
    several times slower on the strided slices themselves).
    """
    tiles = np.empty((kernel[0] * kernel[1], *x.shape[:2], *out_hw), dtype=x.dtype)
    for k, i, j in _kernel_offsets(kernel):
        tiles[k] = x[_offset_slice(i, j, out_hw, kernel)]
    return tiles


def _first_max(tiles, out):
    """Per window, the first offset whose pixel equals the max (kh*kw where none does: a NaN window).

    Counts the offsets before the first match: ``below`` stays True while no offset has matched.
    """
    below = tiles[0] != out
    first = below.view(np.uint8).copy()
    for k in range(1, len(tiles)):
        below &= tiles[k] != out
        first += below.view(np.uint8)
    return first


class MaxPool2dFunction(Function):
    """Max over each window, found by sweeping the kh*kw kernel offsets: offset (i, j) sees
    pixel (y*sh + i, x*sw + j) of every window at once as one strided slice, and
    ``np.maximum`` folds them in. Padding is -inf, so it never wins.

    Backward sends each window's gradient to its first maximum in row-major order (as
    PyTorch does on ties, e.g. a window of ReLU zeros): sweeping the offsets again, a pixel
    equal to the window's max takes the window's gradient unless an earlier offset already
    has.

    Side-by-side windows (stride = kernel, no padding: ``MaxPool2d(2)``) take a faster path:
    forward copies each offset's pixels into one contiguous array (``_tiles``), takes the max
    over them and records which offset won each window (one byte per window); backward then
    writes each offset's share of the gradient with one multiplication, without touching
    the input again.
    """

    @staticmethod
    def forward(ctx, x, kernel_size, stride=None, padding=0):
        kernel, stride, padding, out_hw = _pool_geometry("MaxPool2d", x.shape, kernel_size,
                                                         stride, padding)
        ctx.geometry = (x.shape, kernel, stride, padding, out_hw)
        if _side_by_side(kernel, stride, padding):       # e.g. MaxPool2d(2): record the winners
            tiles = _tiles(x, kernel, out_hw)
            out = tiles.max(axis=0)
            ctx.save_for_backward(_first_max(tiles, out))
            return out
        xp = _pad(x, padding, -np.inf)
        offsets = _kernel_offsets(kernel)
        out = xp[_offset_slice(0, 0, out_hw, stride)].copy()
        for _, i, j in offsets[1:]:
            np.maximum(out, xp[_offset_slice(i, j, out_hw, stride)], out=out)
        ctx.save_for_backward(xp, out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        x_shape, kernel, stride, padding, out_hw = ctx.geometry
        # Masks by multiplication: branch-free, several times faster than np.where on the
        # irregular masks ReLU zeros make. Only inf/nan gradients need np.where (inf * 0 is nan).
        exact = not np.isfinite(grad_output).all()
        if _side_by_side(kernel, stride, padding):
            (first,) = ctx.saved_tensors
            covered = x_shape[2] == out_hw[0] * kernel[0] and x_shape[3] == out_hw[1] * kernel[1]
            grad_x = (np.empty if covered else np.zeros)(x_shape, dtype=grad_output.dtype)
            for k, i, j in _kernel_offsets(kernel):     # each pixel in one window: write in place
                index = _offset_slice(i, j, out_hw, stride)
                if exact:
                    grad_x[index] = np.where(first == k, grad_output, 0)
                else:
                    np.multiply(grad_output, first == k, out=grad_x[index])
            return grad_x
        xp, out = ctx.saved_tensors
        gxp = np.zeros(xp.shape, dtype=grad_output.dtype)
        free = np.ones(out.shape, dtype=bool)           # windows whose gradient no pixel has taken yet
        overlap = stride[0] < kernel[0] or stride[1] < kernel[1]
        offsets = _kernel_offsets(kernel)
        for k, i, j in offsets:
            index = _offset_slice(i, j, out_hw, stride)
            wins = np.equal(xp[index], out)
            wins &= free
            if k < len(offsets) - 1:
                free ^= wins                            # a win only happens where still free
            if exact:
                _scatter(gxp, index, np.where(wins, grad_output, 0), kernel, stride)
            elif overlap:
                gxp[index] += grad_output * wins
            else:                                       # each pixel in one window: write in place
                np.multiply(grad_output, wins, out=gxp[index])
        return _unpad(gxp, padding)


class AvgPool2dFunction(Function):
    """Mean over each window, padding counted as zeros (count_include_pad=True, as torch):
    the sum of kh*kw strided slices, one per kernel offset, divided by kh*kw."""

    @staticmethod
    def forward(ctx, x, kernel_size, stride=None, padding=0):
        kernel, stride, padding, out_hw = _pool_geometry("AvgPool2d", x.shape, kernel_size,
                                                         stride, padding)
        xp = _pad(x, padding)
        total = xp[_offset_slice(0, 0, out_hw, stride)].copy()
        for _, i, j in _kernel_offsets(kernel)[1:]:
            total += xp[_offset_slice(i, j, out_hw, stride)]
        ctx.geometry = (x.shape, kernel, stride, padding, out_hw)
        return total / np.asarray(kernel[0] * kernel[1], dtype=total.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        x_shape, kernel, stride, padding, out_hw = ctx.geometry
        n, c, h, w = x_shape
        gxp = np.zeros((n, c, h + 2 * padding[0], w + 2 * padding[1]), dtype=grad_output.dtype)
        share = grad_output / np.asarray(kernel[0] * kernel[1], dtype=grad_output.dtype)
        for _, i, j in _kernel_offsets(kernel):
            _scatter(gxp, _offset_slice(i, j, out_hw, stride), share, kernel, stride)
        return _unpad(gxp, padding)


def max_pool2d(input, kernel_size, stride=None, padding=0):
    """Max over each ``kernel_size`` window of an NCHW batch (stride defaults to kernel_size)."""
    return MaxPool2dFunction.apply(input, kernel_size=kernel_size, stride=stride, padding=padding)


def avg_pool2d(input, kernel_size, stride=None, padding=0):
    """Mean over each ``kernel_size`` window of an NCHW batch (stride defaults to kernel_size)."""
    return AvgPool2dFunction.apply(input, kernel_size=kernel_size, stride=stride, padding=padding)


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Max pooling: out[n, c, y, x] = max over the window at (y*sh, x*sw) of the (-inf padded) input.

    Args:
        kernel_size: int or (kh, kw).
        stride: int or (sh, sw). Default: kernel_size.
        padding: int or (ph, pw), at most half the kernel. Default 0.

    Shape:
        (N, C, H, W) -> (N, C, (H + 2*ph - kh) // sh + 1, (W + 2*pw - kw) // sw + 1)

    Examples:
        >>> import numpy as np
        >>> from tinytorch.core.spatial import MaxPool2d
        >>> from tinytorch.core.tensor import Tensor
        >>> MaxPool2d(2)(Tensor(np.zeros((1, 6, 8, 8)))).shape
        (1, 6, 4, 4)
    """

    def forward(self, x):
        return max_pool2d(x, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool2d):
    """Average pooling: mean over each window, zero padding counted in the mean
    (PyTorch's ``count_include_pad=True``).

    Args:
        kernel_size: int or (kh, kw).
        stride: int or (sh, sw). Default: kernel_size.
        padding: int or (ph, pw), at most half the kernel. Default 0.

    Shape:
        (N, C, H, W) -> (N, C, (H + 2*ph - kh) // sh + 1, (W + 2*pw - kw) // sw + 1)

    Examples:
        >>> import numpy as np
        >>> from tinytorch.core.spatial import AvgPool2d
        >>> from tinytorch.core.tensor import Tensor
        >>> AvgPool2d(2)(Tensor(np.zeros((1, 6, 8, 8)))).shape
        (1, 6, 4, 4)
    """

    def forward(self, x):
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding)
