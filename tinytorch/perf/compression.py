"""Module 16, compression: fewer, smaller, cheaper weights.

Five ways to shrink a trained model, each measurable in the bytes it really stores:

* **Magnitude pruning** (:func:`magnitude_prune`): zero the weights of smallest absolute value,
  per layer (each layer loses the same fraction) or globally (one threshold for the whole
  model, so layers that matter less lose more). The returned :class:`PruningMasks` keep the
  pruned weights at zero through further training (:meth:`PruningMasks.wrap` an optimizer).
* **Structured pruning** (:func:`structured_prune`): remove whole neurons (rows of a Linear)
  or channels (filters of a Conv2d) and the matching inputs of the next layer. The result is
  a physically smaller dense model: fewer bytes and fewer FLOPs, with no sparse format.
* **Sparse storage**: zeros in a dense array still cost 4 bytes each. :class:`CSRMatrix`
  (values, column indices, row pointers; best when few weights survive) and
  :class:`BitmaskArray` (one bit per position plus the surviving values; best near 50%) store
  only what survived. ``SparseLinear``, ``SparseQuantizedLinear`` and
  ``SparseQuantizedConv2d`` keep their weights that way.
* **Knowledge distillation** (:func:`distillation_loss`, Hinton, Vinyals and Dean, 2015): a
  small student learns from a large teacher's softened probabilities ``softmax(z / T)``;
  the soft term is multiplied by ``T**2`` so its gradients keep their size as T changes.
* **Low-rank factorization** (:func:`low_rank_linear`): a Linear's weight W (out, in) is
  replaced by its best rank-r approximation from the SVD, as two thinner Linears
  (in -> r -> out), ``r * (in + out)`` weights instead of ``in * out``.
"""

from __future__ import annotations

import copy

import numpy as np

from tinytorch.core.activations import log_softmax
from tinytorch.core.layers import Linear, Module, Parameter, Sequential
from tinytorch.core.losses import CrossEntropyLoss
from tinytorch.core.spatial import Conv2d
from tinytorch.core.tensor import Tensor
from tinytorch.perf.quantization import QuantizedConv2d, QuantizedLinear, _raw

__all__ = ["magnitude_prune", "PruningMasks", "MaskedOptimizer", "sparsity", "prunable_weights",
           "structured_prune", "CSRMatrix", "BitmaskArray", "SparseLinear", "SparseQuantizedLinear",
           "SparseQuantizedConv2d", "sparsify_model", "distillation_loss", "DistillationLoss",
           "low_rank_linear", "low_rank_model"]


# ----------------------------------------------------------------------------- magnitude pruning

def prunable_weights(model) -> list[tuple[str, Parameter]]:
    """The (name, weight) pairs pruning acts on: the weights of every Linear and Conv2d (not biases).

    Examples:
        >>> [name for name, _ in prunable_weights(Sequential(Linear(4, 3), Linear(3, 2)))]
        ['0.weight', '1.weight']
    """
    return [(f"{name}.weight" if name else "weight", module.weight) for name, module in model.named_modules()
            if isinstance(module, (Linear, Conv2d))]


def sparsity(model) -> float:
    """Fraction of the prunable weights (Linear and Conv2d weights) that are exactly zero."""
    weights = [_raw(w) for _, w in prunable_weights(model)]
    total = sum(w.size for w in weights)
    return float(sum(np.count_nonzero(w == 0) for w in weights) / total) if total else 0.0


def _smallest(magnitudes: np.ndarray, count: int) -> np.ndarray:
    """Boolean mask of the ``count`` smallest entries (ties broken by position, so the count is exact)."""
    drop = np.zeros(magnitudes.size, dtype=bool)
    if count > 0:
        drop[np.argsort(magnitudes.ravel(), kind="stable")[:count]] = True
    return drop.reshape(magnitudes.shape)


class PruningMasks:
    """Which weights survived pruning, one boolean keep-mask per weight; keeps the rest at zero.

    Attributes:
        masks: dict name -> (Parameter, keep mask of its shape).
    """

    def __init__(self, masks: dict[str, tuple[Parameter, np.ndarray]]):
        self.masks = masks

    def apply(self) -> None:
        """Zero every pruned weight in place (after an optimizer step moved it, for example)."""
        for param, keep in self.masks.values():
            param.data *= keep

    def mask_gradients(self) -> None:
        """Zero the gradient of every pruned weight, so optimizer state never builds up there."""
        for param, keep in self.masks.values():
            if param.grad is not None:
                param.grad = _raw(param.grad) * keep

    def sparsity(self) -> float:
        """Fraction of the masked weights that are pruned."""
        total = sum(keep.size for _, keep in self.masks.values())
        return float(sum(keep.size - np.count_nonzero(keep) for _, keep in self.masks.values()) / total)

    def wrap(self, optimizer) -> "MaskedOptimizer":
        """An optimizer that keeps the pruned weights at zero through training (fine-tuning)."""
        return MaskedOptimizer(optimizer, self)

    def __repr__(self) -> str:
        return f"PruningMasks({len(self.masks)} weights, sparsity {self.sparsity():.1%})"


class MaskedOptimizer:
    """Wraps an optimizer: gradients of pruned weights are zeroed before each step, weights after.

    Every other attribute (``lr``, ``params``, ``state``, ``zero_grad``) is the wrapped
    optimizer's, so a ``Trainer`` or a schedule uses it unchanged.
    """

    def __init__(self, optimizer, masks: PruningMasks):
        object.__setattr__(self, "optimizer", optimizer)
        object.__setattr__(self, "masks", masks)

    def step(self) -> None:
        """Mask gradients, take the wrapped optimizer's step, then re-zero the pruned weights."""
        self.masks.mask_gradients()
        self.optimizer.step()
        self.masks.apply()

    def __getattr__(self, name):
        return getattr(self.optimizer, name)

    def __setattr__(self, name, value):
        setattr(self.optimizer, name, value)


def magnitude_prune(model, amount: float, scope: str = "layer") -> PruningMasks:
    """Zero the ``amount`` fraction of smallest-magnitude Linear/Conv2d weights, in place.

    Args:
        model: the model to prune (modified in place; copy it first to keep the original).
        amount: fraction in [0, 1) of weights to zero; exactly ``round(amount * size)`` of them.
        scope: ``"layer"``: every weight tensor loses that fraction; ``"global"``: one
            threshold over all of them, so the fraction varies by layer.

    Returns:
        The :class:`PruningMasks`, to keep the zeros in place while fine-tuning.

    Examples:
        >>> model = Sequential(Linear(64, 32), Linear(32, 10))
        >>> masks = magnitude_prune(model, 0.5)
        >>> sparsity(model)
        0.5
    """
    if not 0.0 <= amount < 1.0:
        raise ValueError(f"magnitude_prune: amount must be in [0, 1), got {amount}")
    if scope not in ("layer", "global"):
        raise ValueError(f"magnitude_prune: scope must be 'layer' or 'global', got {scope!r}")
    weights = prunable_weights(model)
    if not weights:
        raise ValueError("magnitude_prune: the model has no Linear or Conv2d weights")
    if scope == "layer":
        drops = [_smallest(np.abs(w.data), int(round(amount * w.data.size))) for _, w in weights]
    else:
        flat = np.concatenate([np.abs(w.data).ravel() for _, w in weights])
        drop_all = _smallest(flat, int(round(amount * flat.size)))
        splits = np.cumsum([w.data.size for _, w in weights])[:-1]
        drops = [d.reshape(w.data.shape) for d, (_, w) in zip(np.split(drop_all, splits), weights)]
    masks = PruningMasks({name: (w, ~drop) for (name, w), drop in zip(weights, drops)})
    masks.apply()
    return masks


# ----------------------------------------------------------------------------- structured pruning

_PASSTHROUGH = ("ReLU", "Tanh", "Sigmoid", "GELU", "Dropout", "Flatten", "MaxPool2d", "AvgPool2d")


def _keep_units(weight: np.ndarray, amount: float) -> np.ndarray:
    """Sorted indices of the output units (rows/filters) with the largest L2 norms."""
    units = weight.shape[0]
    keep = max(1, units - int(round(amount * units)))
    norms = np.sqrt((weight.reshape(units, -1).astype(np.float64) ** 2).sum(axis=1))
    return np.sort(np.argsort(-norms, kind="stable")[:keep])


def _with_weights(layer, weight: np.ndarray, bias):
    """A copy of ``layer`` holding new (smaller) weights, sizes updated; no random draws."""
    new = copy.deepcopy(layer)
    new.weight = Parameter(np.ascontiguousarray(weight))
    if bias is not None:
        new.bias = Parameter(np.ascontiguousarray(bias))
    if isinstance(new, Linear):
        new.out_features, new.in_features = weight.shape
    else:
        new.out_channels, new.in_channels = weight.shape[:2]
    return new


def structured_prune(model: Sequential, amount: float) -> Sequential:
    """A smaller copy of a Sequential model: whole neurons and channels removed.

    In every Linear/Conv2d except the last, the ``amount`` fraction of output units with the
    smallest weight norm is removed, along with the inputs the next Linear/Conv2d read from
    them (through a Flatten, a removed channel takes its whole feature map with it). Layers
    in between must be parameter-free (activations, pooling, Flatten, Dropout).

    Examples:
        >>> from tinytorch.core.activations import ReLU
        >>> small = structured_prune(Sequential(Linear(64, 128), ReLU(), Linear(128, 10)), 0.5)
        >>> small[0].weight.shape, small[2].weight.shape
        ((64, 64), (10, 64))
    """
    if not 0.0 <= amount < 1.0:
        raise ValueError(f"structured_prune: amount must be in [0, 1), got {amount}")
    if not isinstance(model, Sequential):
        raise TypeError(f"structured_prune: expected a Sequential model, got {type(model).__name__}")
    layers = list(model)
    positions = [i for i, layer in enumerate(layers) if isinstance(layer, (Linear, Conv2d))]
    for i in range(len(layers)):
        between = positions[0] < i < positions[-1] and i not in positions
        if between and type(layers[i]).__name__ not in _PASSTHROUGH:
            raise ValueError(f"structured_prune: cannot see through layer {i} ({type(layers[i]).__name__}); "
                             f"only {', '.join(_PASSTHROUGH)} may sit between pruned layers")
    new_layers = [copy.deepcopy(layer) for layer in layers]
    for here, after in zip(positions[:-1], positions[1:]):
        layer, following = new_layers[here], new_layers[after]
        weight, bias = layer.weight.data, None if layer.bias is None else layer.bias.data
        keep = _keep_units(weight, amount)
        new_layers[here] = _with_weights(layer, weight[keep], None if bias is None else bias[keep])
        w_next = following.weight.data
        if isinstance(following, Linear) and isinstance(layer, Conv2d):   # through a Flatten
            per_channel = w_next.shape[1] // weight.shape[0]
            w_next = w_next.reshape(w_next.shape[0], weight.shape[0], per_channel)[:, keep].reshape(w_next.shape[0], -1)
        else:
            w_next = w_next[:, keep]
        next_bias = None if following.bias is None else following.bias.data
        new_layers[after] = _with_weights(following, w_next, next_bias)
    return Sequential(*new_layers)


# ----------------------------------------------------------------------------- sparse storage

def _index_dtype(limit: int):
    """The smallest unsigned integer type that holds indices below ``limit``."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if limit <= np.iinfo(dtype).max + 1:
            return dtype
    return np.uint64


class CSRMatrix:
    """Compressed sparse rows: the nonzero values, their column indices, and where each row starts.

    Bytes: ``nnz * (value bytes + index bytes) + (rows + 1) * 4``; the column index uses the
    smallest unsigned type that fits (uint8 for up to 256 columns).

    Examples:
        >>> dense = np.array([[0, 2, 0], [1, 0, 3]], dtype=np.float32)
        >>> csr = CSRMatrix.from_dense(dense)
        >>> csr.values.tolist(), csr.indices.tolist(), csr.indptr.tolist()
        ([2.0, 1.0, 3.0], [1, 0, 2], [0, 1, 3])
        >>> np.array_equal(csr.to_dense(), dense), csr.nbytes     # 3*4 + 3*1 + 3*4
        (True, 27)
    """

    def __init__(self, shape, values: np.ndarray, indices: np.ndarray, indptr: np.ndarray):
        self.shape, self.values, self.indices, self.indptr = tuple(shape), values, indices, indptr

    @classmethod
    def from_dense(cls, dense) -> "CSRMatrix":
        """Store the nonzeros of a 2-D array."""
        dense = _raw(dense)
        if dense.ndim != 2:
            raise ValueError(f"CSRMatrix: expected a 2-D array, got shape {dense.shape}")
        rows, cols = np.nonzero(dense)
        indptr = np.zeros(dense.shape[0] + 1, dtype=np.int32)
        np.cumsum(np.bincount(rows, minlength=dense.shape[0]), out=indptr[1:])
        return cls(dense.shape, dense[rows, cols], cols.astype(_index_dtype(dense.shape[1])), indptr)

    @property
    def nnz(self) -> int:
        """Number of stored (nonzero) values."""
        return int(self.values.size)

    @property
    def nbytes(self) -> int:
        """Bytes of the three arrays."""
        return int(self.values.nbytes + self.indices.nbytes + self.indptr.nbytes)

    def to_dense(self) -> np.ndarray:
        """The dense 2-D array back."""
        dense = np.zeros(self.shape, dtype=self.values.dtype)
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        dense[rows, self.indices] = self.values
        return dense

    def matmul(self, other: np.ndarray) -> np.ndarray:
        """``self @ other`` for a dense (cols, k) array, touching only the stored values.

        Every stored value scales one row of ``other``; the products of each row are summed
        with ``np.add.reduceat`` (one vectorized pass, no Python loop over rows).
        """
        other = np.asarray(other)
        out = np.zeros((self.shape[0],) + other.shape[1:], dtype=np.result_type(self.values, other))
        if self.nnz == 0:
            return out
        products = self.values.reshape((-1,) + (1,) * (other.ndim - 1)) * other[self.indices]
        starts = self.indptr[:-1]
        nonempty = np.diff(self.indptr) > 0
        out[nonempty] = np.add.reduceat(products, starts[nonempty], axis=0)
        return out


class BitmaskArray:
    """One bit per position (packed 8 to a byte) saying which entries are nonzero, plus those entries.

    Bytes: ``ceil(size / 8) + nnz * value bytes``: at 50% sparsity an int8 weight costs
    0.625 bytes instead of 1, a float32 weight 2.125 instead of 4.

    Examples:
        >>> packed = BitmaskArray.from_dense(np.array([[0, 5], [7, 0]], dtype=np.int8))
        >>> packed.bits.tolist(), packed.values.tolist(), packed.nbytes
        ([96], [5, 7], 3)
        >>> packed.to_dense().tolist()
        [[0, 5], [7, 0]]
    """

    def __init__(self, shape, bits: np.ndarray, values: np.ndarray):
        self.shape, self.bits, self.values = tuple(shape), bits, values

    @classmethod
    def from_dense(cls, dense) -> "BitmaskArray":
        """Store the nonzeros of an array of any shape."""
        dense = _raw(dense)
        mask = dense != 0
        return cls(dense.shape, np.packbits(mask, axis=None), dense[mask])

    @property
    def nbytes(self) -> int:
        """Bytes of the packed bits and the values."""
        return int(self.bits.nbytes + self.values.nbytes)

    def mask(self) -> np.ndarray:
        """The boolean mask of stored positions."""
        size = int(np.prod(self.shape, dtype=np.int64))
        return np.unpackbits(self.bits, count=size).reshape(self.shape).astype(bool)

    def to_dense(self) -> np.ndarray:
        """The dense array back."""
        dense = np.zeros(self.shape, dtype=self.values.dtype)
        dense[self.mask()] = self.values
        return dense


class SparseLinear(Module):
    """A Linear whose (pruned) float32 weight is stored sparse: CSR or bitmask.

    ``"csr"`` computes ``x W^T`` from the stored values only (no dense weight is built);
    ``"bitmask"`` rebuilds the dense weight and uses the BLAS matmul. Inference only.

    Args:
        weight: float (out_features, in_features), mostly zeros.
        bias: float (out_features,) or None.
        format: ``"csr"`` (default) or ``"bitmask"``.

    Shape:
        - Input: ``(*, in_features)``; Output: ``(*, out_features)``.

    Examples:
        >>> lin = Linear(64, 32)
        >>> _ = magnitude_prune(lin, 0.9)
        >>> sparse = SparseLinear.from_dense(lin)
        >>> sparse.nbytes < lin.weight.data.nbytes / 4
        True
    """

    def __init__(self, weight, bias=None, format: str = "csr"):
        super().__init__()
        weight = _raw(weight)
        if format not in ("csr", "bitmask"):
            raise ValueError(f"SparseLinear: format must be 'csr' or 'bitmask', got {format!r}")
        self.out_features, self.in_features = weight.shape
        self.format = format
        self.weight_shape = weight.shape
        stored = CSRMatrix.from_dense(weight) if format == "csr" else BitmaskArray.from_dense(weight)
        arrays = ({"weight_values": stored.values, "weight_indices": stored.indices, "weight_indptr": stored.indptr}
                  if format == "csr" else {"weight_mask": stored.bits, "weight_values": stored.values})
        for name, array in arrays.items():
            self.register_buffer(name, Tensor(array))
        self.register_buffer("bias", None if bias is None else Tensor(_raw(bias).astype(np.float32)))

    @classmethod
    def from_dense(cls, linear, format: str = "csr"):
        """Store a (pruned) ``Linear`` sparsely."""
        return cls(linear.weight.data, None if linear.bias is None else linear.bias.data, format)

    def stored(self):
        """The weight's sparse storage object (CSRMatrix or BitmaskArray)."""
        if self.format == "csr":
            return CSRMatrix(self.weight_shape, self.weight_values.data, self.weight_indices.data,
                             self.weight_indptr.data)
        return BitmaskArray(self.weight_shape, self.weight_mask.data, self.weight_values.data)

    @property
    def nbytes(self) -> int:
        """Bytes of every stored array."""
        return int(sum(b.data.nbytes for _, b in self.named_buffers()))

    def forward(self, x):
        data = _raw(x)
        rows = data.reshape(-1, self.in_features)
        if self.format == "csr":
            out = self.stored().matmul(rows.T).T          # (W @ x^T)^T from the nonzeros only
        else:
            out = rows @ self.stored().to_dense().T
        if self.bias is not None:
            out = out + self.bias.data
        return Tensor(np.ascontiguousarray(out).reshape(data.shape[:-1] + (self.out_features,)))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, {self.format}"


class _SparseInt8:
    """Mixin for int8 layers whose codes are stored as a bitmask plus the nonzero codes."""

    def _take_sparse(self, layer) -> None:
        for name in ("weight_scale", "bias", "input_scale", "input_zero_point"):
            self.register_buffer(name, getattr(layer, name))
        packed = BitmaskArray.from_dense(layer.int_weight())
        self.weight_shape = packed.shape
        self.register_buffer("weight_mask", Tensor(packed.bits))
        self.register_buffer("weight_values", Tensor(packed.values))

    def int_weight(self) -> np.ndarray:
        """The dense int8 codes, rebuilt from the bitmask and the nonzero codes."""
        return BitmaskArray(self.weight_shape, self.weight_mask.data, self.weight_values.data).to_dense()


class SparseQuantizedLinear(_SparseInt8, QuantizedLinear):
    """A pruned :class:`QuantizedLinear` stored as a bitmask plus its nonzero int8 codes.

    Computes exactly what the dense int8 layer computes (same int32 matmul).

    Examples:
        >>> dense = QuantizedLinear.from_float(Linear(64, 32))
        >>> sparse = SparseQuantizedLinear(dense)
        >>> bool(np.array_equal(sparse.int_weight(), dense.weight.data))
        True
    """

    def __init__(self, layer: QuantizedLinear):
        Module.__init__(self)
        self.in_features, self.out_features = layer.in_features, layer.out_features
        self._take_sparse(layer)


class SparseQuantizedConv2d(_SparseInt8, QuantizedConv2d):
    """A pruned :class:`QuantizedConv2d` stored as a bitmask plus its nonzero int8 codes."""

    def __init__(self, layer: QuantizedConv2d):
        Module.__init__(self)
        self.in_channels, self.out_channels = layer.in_channels, layer.out_channels
        self.kernel_size, self.stride, self.padding = layer.kernel_size, layer.stride, layer.padding
        self._take_sparse(layer)


def sparsify_model(model, format: str = "csr"):
    """A copy with every weight layer stored sparse: int8 layers as bitmask + codes, float Linears as ``format``.

    Float Conv2d layers are left dense.
    """
    copied = copy.deepcopy(model)
    for parent in list(copied.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, QuantizedLinear) and not isinstance(child, _SparseInt8):
                parent.add_module(name, SparseQuantizedLinear(child))
            elif isinstance(child, QuantizedConv2d) and not isinstance(child, _SparseInt8):
                parent.add_module(name, SparseQuantizedConv2d(child))
            elif isinstance(child, Linear):
                parent.add_module(name, SparseLinear.from_dense(child, format))
    return copied


# ----------------------------------------------------------------------------- distillation

def distillation_loss(student_logits, teacher_logits, targets, temperature: float = 4.0, alpha: float = 0.9):
    """Hinton et al. (2015): ``alpha * T^2 * KL(p_teacher^T || p_student^T) + (1 - alpha) * CE(student, y)``.

    ``p^T = softmax(logits / T)``; a temperature above 1 softens the teacher's probabilities
    so the student also learns how the teacher ranks the wrong classes ("dark knowledge").
    The soft term's gradient scales as ``1 / T^2``; multiplying by ``T^2`` keeps the balance
    between the two terms independent of T. The teacher is a constant (no gradient).

    Args:
        student_logits: Tensor (N, C), differentiable.
        teacher_logits: Tensor or array (N, C).
        targets: integer labels (N,).
        temperature: T > 0.
        alpha: weight of the soft (teacher) term in [0, 1].

    Examples:
        >>> z = Tensor(np.array([[2.0, 0.0, -1.0]]), requires_grad=True)
        >>> loss = distillation_loss(z, z.data, np.array([0]), temperature=2.0, alpha=1.0)
        >>> abs(loss.item()) < 1e-6      # the student equals the teacher: no soft loss
        True
    """
    if temperature <= 0 or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"distillation_loss: need temperature > 0 and alpha in [0, 1], "
                         f"got temperature={temperature}, alpha={alpha}")
    teacher = np.asarray(_raw(teacher_logits), dtype=np.float64) / temperature
    if teacher.shape != student_logits.shape:
        raise ValueError(f"distillation_loss: student logits {student_logits.shape} and teacher logits "
                         f"{teacher.shape} differ in shape")
    teacher = teacher - teacher.max(axis=-1, keepdims=True)
    log_p_teacher = teacher - np.log(np.exp(teacher).sum(axis=-1, keepdims=True))
    dtype = student_logits.dtype
    p_teacher = Tensor(np.exp(log_p_teacher), dtype=dtype)
    log_p_student = log_softmax(student_logits * (1.0 / temperature), dim=-1)
    soft = (p_teacher * (Tensor(log_p_teacher, dtype=dtype) - log_p_student)).sum(dim=-1).mean()
    soft = soft * (alpha * temperature ** 2)
    if alpha == 1.0:
        return soft
    hard = CrossEntropyLoss()(student_logits, targets)
    return soft + hard * (1.0 - alpha)


class DistillationLoss(Module):
    """Module form of :func:`distillation_loss`: ``loss_fn(student_logits, teacher_logits, targets)``.

    Args:
        temperature: softening temperature T (default 4).
        alpha: weight of the teacher term (default 0.9).
    """

    def __init__(self, temperature: float = 4.0, alpha: float = 0.9):
        super().__init__()
        self.temperature, self.alpha = temperature, alpha

    def forward(self, student_logits, teacher_logits, targets):
        return distillation_loss(student_logits, teacher_logits, targets, self.temperature, self.alpha)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, alpha={self.alpha}"


# ----------------------------------------------------------------------------- low rank

def low_rank_linear(linear: Linear, rank: int) -> Sequential:
    """Replace ``linear`` by two thinner Linears computing its best rank-``rank`` approximation.

    With the SVD ``W = U S V^T``, ``W_r = (U_r sqrt(S_r)) (sqrt(S_r) V_r^T)``: the first
    layer (in -> rank, no bias) holds ``sqrt(S_r) V_r^T``, the second (rank -> out) holds
    ``U_r sqrt(S_r)`` and the original bias. By the Eckart-Young theorem no rank-r matrix
    is closer to W in the Frobenius norm; the error is the root of the discarded
    squared singular values.

    Examples:
        >>> small = low_rank_linear(Linear(128, 64), rank=8)
        >>> small[0].weight.shape, small[1].weight.shape      # 8*128 + 64*8 + 64 numbers
        ((8, 128), (64, 8))
    """
    out_features, in_features = linear.weight.shape
    if not 1 <= rank <= min(in_features, out_features):
        raise ValueError(f"low_rank_linear: rank must be in [1, {min(in_features, out_features)}] "
                         f"for a {out_features}x{in_features} weight, got {rank}")
    u, s, vt = np.linalg.svd(linear.weight.data.astype(np.float64), full_matrices=False)
    root = np.sqrt(s[:rank])
    dtype = linear.weight.dtype
    first = _with_weights(linear, (root[:, None] * vt[:rank]).astype(dtype), None)
    first.bias = None
    second = _with_weights(linear, (u[:, :rank] * root).astype(dtype), linear.bias.data if linear.bias is not None else None)
    return Sequential(first, second)


def low_rank_model(model, rank_fraction: float):
    """A copy with each Linear factorized at ``rank = ceil(rank_fraction * min(in, out))`` when that saves weights."""
    copied = copy.deepcopy(model)
    for parent in list(copied.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, Linear):
                out_features, in_features = child.weight.shape
                rank = max(1, int(np.ceil(rank_fraction * min(in_features, out_features))))
                if rank * (in_features + out_features) < in_features * out_features:
                    parent.add_module(name, low_rank_linear(child, rank))
    return copied

