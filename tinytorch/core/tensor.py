"""Module 01: Tensor, an n-dimensional array that can remember how it was made.

A ``Tensor`` wraps a NumPy array (``.data``). Every operation goes through a primitive
``Function`` (``tinytorch.core.ops``) or is composed from them. Module 01 only computes;
once module 05 (autograd) is written, the same ops record the graph when gradients are
needed, so ``loss.backward()`` can fill ``.grad`` of every leaf that requires grad.
Nonlinearities (``relu``, ``softmax``, ...) are module 02's: ``tinytorch.core.activations``.
"""

import numbers

import numpy as np

__all__ = ["Tensor", "where", "cat", "stack"]

_DEFAULT_FLOAT = np.float32
_NUMBER_KINDS = "biufc"  # bool, signed and unsigned integers, floats, complex: what a tensor holds
_SHARED_CHARS = "?" + np.typecodes["AllInteger"] + "efgFDG"  # every number dtype but float64: kept as it is
_NOT_NUMBERS = {"U": "strings", "S": "bytes", "O": "Python objects", "M": "dates", "m": "time spans",
                "V": "structured records"}


def _as_array(data, dtype):
    """Convert ``data`` to an ndarray: float64/Python floats become float32 unless ``dtype`` is given."""
    try:
        array = np.asarray(data)
    except ValueError:  # NumPy: "inhomogeneous shape"
        ragged = _ragged(data)
        if ragged is None:
            raise
        raise ValueError(f"Tensor: cannot build a tensor from a ragged nested list: {ragged}") from None
    _check_numbers(array.dtype, f"the data ({type(data).__name__}) has dtype {array.dtype}")
    if dtype is not None:
        _check_numbers(np.dtype(dtype), f"dtype={np.dtype(dtype)} was given")
        return array.astype(dtype, copy=False)
    return array.astype(_DEFAULT_FLOAT) if array.dtype == np.float64 else array


def _check_numbers(dtype, reason):
    """Refuse a dtype that is not numbers (strings, bytes, objects): no op could use it."""
    if dtype.kind not in _NUMBER_KINDS:
        what = _NOT_NUMBERS.get(dtype.kind, f"dtype {dtype}")
        raise TypeError(f"Tensor: cannot build a tensor of {what}: {reason}; a tensor holds numbers or bools")


def _ragged(data):
    """Where a nested list stops being rectangular: the depth and the lengths found there (None if nowhere)."""
    level, depth = [data], 0
    while True:
        lengths = list(dict.fromkeys(_length(item) for item in level))
        if len(lengths) > 1:
            found = ", ".join("a number" if n is None else str(n) for n in lengths)
            return f"the lists at depth {depth} have different lengths ({found}); every row needs the same length"
        if lengths[0] is None:
            return None
        level, depth = [item for sequence in level for item in sequence], depth + 1


def _length(item):
    """The length of a list, tuple or array inside nested data; None for a number (or a 0-d array)."""
    if isinstance(item, (list, tuple)) or (isinstance(item, (np.ndarray, Tensor)) and item.ndim > 0):
        return len(item)
    return None


class Tensor:
    """An n-dimensional array with automatic differentiation.

    Args:
        data: array-like (nested lists, scalars, ``np.ndarray``, another Tensor). The array
            is shared, not copied, when it already has the target dtype.
        requires_grad: record operations on this tensor so ``backward()`` fills ``.grad``.
        dtype: NumPy dtype to force. If omitted: Python floats and float64 arrays become
            float32 (the framework default), integers stay integer, bools stay bool, and
            other float dtypes (float16) are kept. Pass ``dtype=np.float64`` for
            float64 (gradient checks); ops on float64 tensors stay float64.

    Attributes:
        data: the ``np.ndarray`` holding the values.
        grad: ``None`` until ``backward()`` reaches this leaf, then a plain ``np.ndarray``
            of the same shape and dtype as ``data`` (not a Tensor: optimizers update
            ``p.data`` from ``p.grad`` with plain NumPy). Gradients accumulate across
            backward calls; set ``p.grad = None`` (``Module.zero_grad()``) to reset.
        requires_grad: whether operations on this tensor are recorded.

    Example:
        >>> from tinytorch.core.tensor import Tensor
        >>> x = Tensor([[1.0, 2.0]], requires_grad=True)
        >>> (x * x).sum().backward()
        >>> x.grad
        array([[2., 4.]], dtype=float32)
    """

    __slots__ = ("data", "requires_grad", "grad", "_ctx", "__weakref__")
    __array_ufunc__ = None  # make `ndarray <op> Tensor` defer to Tensor's reflected operator

    def __init__(self, data, requires_grad=False, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        shared = dtype is None and type(data) is np.ndarray and data.dtype.char in _SHARED_CHARS
        self.data = data if shared else _as_array(data, dtype)
        if requires_grad and self.data.dtype.kind not in "fc":
            raise RuntimeError(
                f"Tensor: only floating point tensors can require gradients, got dtype {self.data.dtype}"
            )
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._ctx = None

    # ------------------------------------------------------------------ array facts
    @property
    def shape(self):
        """Tuple of dimension sizes."""
        return self.data.shape

    @property
    def dtype(self):
        """NumPy dtype of the data."""
        return self.data.dtype

    @property
    def ndim(self):
        """Number of dimensions."""
        return self.data.ndim

    def size(self, dim=None):
        """Shape tuple, or the size of one dimension (as ``torch.Tensor.size``)."""
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self):
        """Total number of elements."""
        return self.data.size

    def dim(self):
        """Number of dimensions (as ``torch.Tensor.dim``)."""
        return self.data.ndim

    def __len__(self):
        return len(self.data)

    @property
    def is_leaf(self):
        """True for tensors created by the user (not by a recorded op)."""
        return self._ctx is None

    @property
    def grad_fn(self):
        """Name of the Function that produced this tensor, or None for leaves."""
        return None if self._ctx is None else self._ctx.fn.__name__

    # ------------------------------------------------------------------ conversion
    def numpy(self):
        """The underlying ``np.ndarray`` (shared, not copied)."""
        return self.data

    def item(self):
        """The single value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted, got shape {self.shape}")
        return self.data.item()

    def tolist(self):
        """Nested Python lists of the values."""
        return self.data.tolist()

    def detach(self):
        """A new leaf tensor sharing the data, cut from the graph."""
        return Tensor(self.data, dtype=self.data.dtype)

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` in place and return self."""
        self.requires_grad = requires_grad
        return self

    def to(self, dtype):
        """Cast to ``dtype`` (differentiable)."""
        return self if np.dtype(dtype) == self.dtype else elementwise.Cast.apply(self, dtype=np.dtype(dtype))

    def float(self):
        """Cast to float32."""
        return self.to(np.float32)

    def double(self):
        """Cast to float64."""
        return self.to(np.float64)

    def long(self):
        """Cast to int64 (not differentiable)."""
        return Tensor(self.data.astype(np.int64))

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        return bool(self.data)

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", prefix="Tensor(", precision=4)
        extras = ""
        if self.data.dtype != _DEFAULT_FLOAT and self.data.dtype != np.int64 and self.data.dtype != np.bool_:
            extras += f", dtype={self.data.dtype}"
        if self._ctx is not None:
            extras += f", grad_fn=<{self.grad_fn}>"
        elif self.requires_grad:
            extras += ", requires_grad=True"
        return f"Tensor({body}{extras})"

    # ------------------------------------------------------------------ autograd
    def backward(self, grad=None, retain_graph=False, *, gradient=None):
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires grad.

        ``grad`` (alias ``gradient``, PyTorch's name) is d(loss)/d(self), required unless
        self has exactly one element. The graph's saved arrays are freed afterwards unless
        ``retain_graph=True``.
        """
        # module 05's engine; a clear NotImplementedError while autograd.py is not written
        run_backward(self, grad if gradient is None else gradient, retain_graph=retain_graph)

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other):
        return arithmetic.Add.apply(self, _operand(other))

    def __radd__(self, other):
        return arithmetic.Add.apply(_operand(other), self)

    def __sub__(self, other):
        return arithmetic.Sub.apply(self, _operand(other))

    def __rsub__(self, other):
        return arithmetic.Sub.apply(_operand(other), self)

    def __mul__(self, other):
        return arithmetic.Mul.apply(self, _operand(other))

    def __rmul__(self, other):
        return arithmetic.Mul.apply(_operand(other), self)

    def __truediv__(self, other):
        return arithmetic.Div.apply(self, _operand(other))

    def __rtruediv__(self, other):
        return arithmetic.Div.apply(_operand(other), self)

    def __pow__(self, exponent):
        return arithmetic.Pow.apply(self, _operand(exponent))

    def __rpow__(self, base):
        return arithmetic.Pow.apply(_operand(base), self)

    def __neg__(self):
        return self * -1

    def __matmul__(self, other):
        return arithmetic.MatMul.apply(self, _operand(other))

    def __rmatmul__(self, other):
        return arithmetic.MatMul.apply(_operand(other), self)

    def matmul(self, other):
        """Matrix product (same as ``@``)."""
        return self @ other

    # ------------------------------------------------------------------ comparisons (no grad)
    def __lt__(self, other):
        return Tensor(self.data < _raw(other))

    def __le__(self, other):
        return Tensor(self.data <= _raw(other))

    def __gt__(self, other):
        return Tensor(self.data > _raw(other))

    def __ge__(self, other):
        return Tensor(self.data >= _raw(other))

    def __eq__(self, other):
        return Tensor(self.data == _raw(other))

    def __ne__(self, other):
        return Tensor(self.data != _raw(other))

    __hash__ = object.__hash__  # tensors are hashed by identity (sets of parameters)

    # ------------------------------------------------------------------ elementwise
    def exp(self):
        """e ** x."""
        return elementwise.Exp.apply(self)

    def log(self):
        """Natural logarithm."""
        return elementwise.Log.apply(self)

    def sqrt(self):
        """Square root, as x ** 0.5."""
        return self ** 0.5

    def abs(self):
        """Absolute value, as x * sign(x): the gradient at 0 is 0 (as in PyTorch)."""
        return self * np.sign(self.data)

    def __abs__(self):
        return self.abs()

    def clip(self, min=None, max=None):
        """Clamp values into [min, max] (either bound may be None); the gradient flows where min <= x <= max."""
        inside = np.ones(self.data.shape, dtype=bool)
        if min is not None:
            inside &= self.data >= min
        if max is not None:
            inside &= self.data <= max
        return where(inside, self, np.clip(self.data, min, max))

    clamp = clip

    def maximum(self, other):
        """Elementwise maximum with another tensor or scalar; ties split the gradient equally (as PyTorch)."""
        other = _as_tensor(other)
        larger = where(self.data > other.data, self, other)
        ties = self.data == other.data
        return where(ties, (self + other) * 0.5, larger) if ties.any() else larger

    # ------------------------------------------------------------------ reductions
    def sum(self, axis=None, keepdims=False, dim=None, keepdim=None):
        """Sum over ``axis`` (alias ``dim``); all elements when None."""
        return reduction.Sum.apply(self, axis=_axis(axis, dim), keepdims=_keep(keepdims, keepdim))

    def mean(self, axis=None, keepdims=False, dim=None, keepdim=None):
        """Mean over ``axis`` (alias ``dim``); all elements when None."""
        return reduction.Mean.apply(self, axis=_axis(axis, dim), keepdims=_keep(keepdims, keepdim))

    def max(self, axis=None, keepdims=False, dim=None, keepdim=None):
        """Max values over ``axis`` (alias ``dim``); ties share the gradient (as torch.amax)."""
        return reduction.Max.apply(self, axis=_axis(axis, dim), keepdims=_keep(keepdims, keepdim))

    def min(self, axis=None, keepdims=False, dim=None, keepdim=None):
        """Min values over ``axis``, as -max(-x)."""
        return -(-self).max(axis=axis, keepdims=keepdims, dim=dim, keepdim=keepdim)

    def var(self, axis=None, keepdims=False, dim=None, keepdim=None, unbiased=False):
        """Variance over ``axis`` (biased by default, as LayerNorm uses), composed from primitives."""
        axis, keepdims = _axis(axis, dim), _keep(keepdims, keepdim)
        centered = self - self.mean(axis=axis, keepdims=True)
        squares = centered * centered
        if not unbiased:
            return squares.mean(axis=axis, keepdims=keepdims)
        axes = range(self.data.ndim) if axis is None else np.atleast_1d(axis)
        count = int(np.prod([self.data.shape[a] for a in axes]))
        return squares.sum(axis=axis, keepdims=keepdims) / (count - 1)

    def argmax(self, axis=None, keepdims=False, dim=None):
        """Indices of the maxima (int64, not differentiable)."""
        return Tensor(self.data.argmax(axis=_axis(axis, dim), keepdims=keepdims))

    def argmin(self, axis=None, keepdims=False, dim=None):
        """Indices of the minima (int64, not differentiable)."""
        return Tensor(self.data.argmin(axis=_axis(axis, dim), keepdims=keepdims))

    # ------------------------------------------------------------------ shape
    def reshape(self, *shape):
        """Same data, new shape (one dim may be -1); accepts ``reshape(2, 3)`` or ``reshape((2, 3))``."""
        shape = tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], numbers.Integral) else shape
        return movement.Reshape.apply(self, shape=shape)

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1):
        """Merge dims ``start_dim..end_dim`` into one."""
        shape = self.data.shape
        if not shape:
            return self.reshape(1)
        start, end = start_dim % len(shape), end_dim % len(shape)
        return self.reshape(shape[:start] + (-1,) + shape[end + 1:])

    def unsqueeze(self, dim):
        """Insert a dimension of size 1 at ``dim``."""
        shape = list(self.data.shape)
        shape.insert(dim if dim >= 0 else len(shape) + 1 + dim, 1)
        return self.reshape(tuple(shape))

    def squeeze(self, dim=None):
        """Drop dimensions of size 1 (only ``dim`` when given)."""
        return self.reshape(np.squeeze(self.data, axis=dim).shape)

    def transpose(self, dim0=-2, dim1=-1):
        """Swap two dimensions (default: the last two), as ``torch.transpose``."""
        dims = list(range(self.data.ndim))
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
        return movement.Permute.apply(self, dims=tuple(dims))

    def permute(self, *dims):
        """Reorder all dimensions: ``x.permute(0, 2, 1)``."""
        dims = tuple(dims[0]) if len(dims) == 1 and not isinstance(dims[0], numbers.Integral) else dims
        return movement.Permute.apply(self, dims=dims)

    @property
    def T(self):
        """All dimensions reversed (the matrix transpose for 2-D)."""
        return movement.Permute.apply(self, dims=tuple(reversed(range(self.data.ndim))))

    def __getitem__(self, index):
        return movement.GetItem.apply(self, _index(index))

    def masked_fill(self, mask, value):
        """A copy with ``value`` where ``mask`` is True (as ``torch.Tensor.masked_fill``); no gradient there."""
        return where(mask, Tensor(np.asarray(value, dtype=self.dtype)), self)

    def __setitem__(self, index, value):
        if self.requires_grad or self._ctx is not None:
            raise RuntimeError("__setitem__: in-place assignment into a tensor that requires grad is not supported")
        self.data[_index(index)] = _raw(value)


def where(condition, input, other):
    """Elementwise ``input`` where ``condition`` is True, else ``other`` (broadcasting, as ``torch.where``)."""
    cond = np.asarray(_raw(condition), dtype=bool)
    return elementwise.Where.apply(Tensor(cond), _as_tensor(input), _as_tensor(other))


def cat(tensors, dim=0):
    """Join tensors along an existing dimension (as ``torch.cat``)."""
    tensors = [_as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    return movement.Concatenate.apply(*tensors, axis=dim)


def stack(tensors, dim=0):
    """Join same-shaped tensors along a new dimension (as ``torch.stack``): cat of unsqueezed tensors."""
    tensors = [_as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: every tensor must have the same shape, got {sorted(shapes)}")
    return cat([t.unsqueeze(dim) for t in tensors], dim=dim)


def _as_tensor(x):
    """Tensors pass; arrays and numbers become constant Tensors."""
    return x if isinstance(x, Tensor) else Tensor(x)


def _operand(x):
    """Prepare the other operand of an op: Tensors and Python numbers pass, the rest become Tensors."""
    if isinstance(x, Tensor):
        return x
    kind = type(x)
    if kind is int or kind is float or kind is bool:
        return x  # "weak" Python scalar: keeps a float32 tensor float32
    if isinstance(x, np.generic) and x.ndim == 0 and not isinstance(x, np.bool_):
        return x.item()  # a NumPy float64 scalar must not upcast float32 either
    return Tensor(x)


def _raw(x):
    """The array (or Python number) inside an operand, for non-differentiable ops."""
    return x.data if isinstance(x, Tensor) else x


def _index(index):
    """Replace Tensors and lists inside an index by arrays."""
    if isinstance(index, tuple):
        return tuple(_index(part) for part in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _axis(axis, dim, default=None):
    """Resolve the ``axis``/``dim`` aliases (PyTorch spells it ``dim``)."""
    return dim if dim is not None else axis if axis is not None else default


def _keep(keepdims, keepdim):
    """Resolve the ``keepdims``/``keepdim`` aliases."""
    return keepdim if keepdim is not None else keepdims


# Imported last: the op modules need the Tensor class defined above.
from tinytorch.core.function import run_backward  # noqa: E402
from tinytorch.core.ops import arithmetic, elementwise, movement, reduction  # noqa: E402
