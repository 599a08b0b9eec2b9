"""Module 16, compression: fewer, smaller, cheaper weights.

Five ways to shrink a trained model, each measurable in the bytes it really stores:

* **Magnitude pruning**, as ``torch.nn.utils.prune``: :func:`l1_unstructured` zeroes the
  weights of smallest absolute value in one layer (each layer loses the same fraction);
  :func:`global_unstructured` ranks the weights of many layers together (one threshold, so
  layers that matter less lose more). The mask stays on the module as ``weight_mask``.
  One difference from PyTorch: torch keeps the original as ``weight_orig`` and recomputes
  ``weight = weight_orig * weight_mask`` before every forward (a forward pre-hook);
  tinytorch modules have no hooks, so pruning zeroes ``weight`` in place (no
  ``weight_orig``) and :class:`MaskedOptimizer` keeps the pruned weights at zero while
  fine-tuning. :func:`remove` drops the mask when the pruning is final.
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
import numbers

import numpy as np

from tinytorch.core.activations import log_softmax
from tinytorch.core.layers import Linear, Module, Parameter, Sequential
from tinytorch.core.losses import CrossEntropyLoss
from tinytorch.core.spatial import Conv2d
from tinytorch.core.tensor import Tensor
from tinytorch.perf.quantization import QuantizedConv2d, QuantizedLinear, _raw

__all__ = ["L1Unstructured", "l1_unstructured", "global_unstructured", "remove", "parameters_to_prune",
           "MaskedOptimizer", "sparsity", "structured_prune", "CSRMatrix", "BitmaskArray", "SparseLinear",
           "SparseQuantizedLinear", "SparseQuantizedConv2d", "sparsify_model", "distillation_loss",
           "DistillationLoss", "low_rank_linear", "low_rank_model"]


# ----------------------------------------------------------------------------- magnitude pruning

def _is_fraction(amount) -> bool:
    return isinstance(amount, numbers.Real) and not isinstance(amount, numbers.Integral)


def _check_amount(call: str, amount) -> None:
    """``amount`` as torch takes it: a fraction in [0, 1] or a count >= 0 of entries to prune."""
    if isinstance(amount, bool) or not isinstance(amount, numbers.Real):
        raise TypeError(f"{call}: amount must be a fraction (float in [0, 1]) or a count (int >= 0), got {amount!r}")
    if _is_fraction(amount) and not 0.0 <= amount <= 1.0:
        raise ValueError(f"{call}: amount must be a fraction in [0, 1], got {amount}")
    if not _is_fraction(amount) and amount < 0:
        raise ValueError(f"{call}: amount must be a count >= 0, got {amount}")


def _prune_count(call: str, amount, size: int) -> int:
    """How many of ``size`` entries ``amount`` prunes: ``round(amount * size)`` for a fraction, else the count."""
    count = int(round(amount * size)) if _is_fraction(amount) else int(amount)
    if count > size:
        raise ValueError(f"{call}: amount={amount} asks to prune {count} entries, but only {size} are left")
    return count


class L1Unstructured:
    """Prune the ``amount`` entries of smallest absolute value (``torch.nn.utils.prune.L1Unstructured``).

    Args:
        amount: a fraction in [0, 1] of the entries not pruned yet, or a count of them.

    Examples:
        >>> import numpy as np
        >>> from tinytorch.perf.compression import L1Unstructured
        >>> L1Unstructured(amount=2).compute_mask(np.array([3.0, -1.0, 0.5, 2.0]), np.ones(4, bool)).tolist()
        [True, False, False, True]
    """

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount):
        _check_amount("L1Unstructured", amount)
        self.amount = amount

    def compute_mask(self, t, default_mask) -> np.ndarray:
        """The boolean keep-mask: ``default_mask`` with the ``amount`` smallest ``|t|`` among its kept entries removed.

        Ties are broken by position, so exactly the asked number of entries is pruned.
        """
        t, keep = np.asarray(t), np.asarray(default_mask, dtype=bool)
        if keep.shape != t.shape:
            raise ValueError(f"L1Unstructured.compute_mask: default_mask has shape {keep.shape}, the tensor {t.shape}")
        kept = np.flatnonzero(keep)
        count = _prune_count("L1Unstructured", self.amount, kept.size)
        mask = keep.copy()
        if count:
            order = np.argsort(np.abs(t.ravel()[kept]), kind="stable")[:count]
            mask.ravel()[kept[order]] = False
        return mask


def _check_target(call: str, module, name: str) -> np.ndarray:
    """The array ``module.<name>`` that pruning acts on, validated."""
    if not isinstance(module, Module):
        raise TypeError(f"{call}: module must be a Module, got {type(module).__name__}")
    if not isinstance(name, str):
        raise TypeError(f"{call}: name must be the parameter's name (a str), got {name!r}")
    param = getattr(module, name, None)
    if not isinstance(param, Parameter):
        raise ValueError(f"{call}: {type(module).__name__} has no parameter named {name!r}")
    return param.data


def _apply_mask(module, name: str, mask: np.ndarray) -> None:
    """Zero the pruned entries of ``module.<name>`` and keep the mask as the buffer ``<name>_mask``."""
    getattr(module, name).data *= mask
    module.register_buffer(f"{name}_mask", Tensor(mask))


def _current_mask(module, name: str, shape) -> np.ndarray:
    """The keep-mask from an earlier pruning of ``module.<name>`` (all True when there was none)."""
    earlier = getattr(module, f"{name}_mask", None)
    return np.ones(shape, dtype=bool) if earlier is None else np.asarray(_raw(earlier), dtype=bool)


def l1_unstructured(module, name: str = "weight", amount=0.5):
    """Prune ``module.<name>`` in place: zero its ``amount`` smallest-magnitude entries; returns ``module``.

    As ``torch.nn.utils.prune.l1_unstructured``: the keep-mask is stored on the module as the
    buffer ``<name>_mask`` (bool), and pruning again prunes ``amount`` of the entries still
    kept. Unlike torch, ``module.<name>`` itself holds the zeros (no ``<name>_orig``); train on
    with :class:`MaskedOptimizer` to keep them.

    Args:
        module: a Linear, Conv2d or any Module with that parameter.
        name: the parameter to prune (default ``"weight"``; biases are usually left alone).
        amount: fraction in [0, 1] of the unpruned entries, or their number.

    Examples:
        >>> from tinytorch.core.layers import Linear
        >>> from tinytorch.perf.compression import l1_unstructured
        >>> layer = Linear(64, 32)
        >>> _ = l1_unstructured(layer, name="weight", amount=0.5)
        >>> float((layer.weight.data == 0).mean()), layer.weight_mask.dtype
        (0.5, dtype('bool'))
    """
    _check_amount("l1_unstructured", amount)
    values = _check_target("l1_unstructured", module, name)
    _apply_mask(module, name, L1Unstructured(amount).compute_mask(values, _current_mask(module, name, values.shape)))
    return module


def global_unstructured(parameters, pruning_method, amount):
    """Prune many parameters as one: rank all their entries together, then split the mask back.

    As ``torch.nn.utils.prune.global_unstructured``: one threshold for the whole model, so a
    layer whose weights are small loses more of them than a layer of large weights.

    Args:
        parameters: (module, name) pairs, e.g. ``parameters_to_prune(model)``.
        pruning_method: an unstructured method class such as :class:`L1Unstructured`.
        amount: fraction in [0, 1] of all their unpruned entries together, or their number.

    Examples:
        >>> from tinytorch.core.layers import Linear, Sequential
        >>> from tinytorch.perf.compression import L1Unstructured, global_unstructured, parameters_to_prune, sparsity
        >>> model = Sequential(Linear(64, 32), Linear(32, 10))
        >>> global_unstructured(parameters_to_prune(model), pruning_method=L1Unstructured, amount=0.5)
        >>> sparsity(model)
        0.5
    """
    _check_amount("global_unstructured", amount)
    if not (isinstance(pruning_method, type) and getattr(pruning_method, "PRUNING_TYPE", None) == "unstructured"):
        raise TypeError(f"global_unstructured: pruning_method must be an unstructured pruning class such as "
                        f"L1Unstructured, got {pruning_method!r}")
    try:
        pairs = [(module, name) for module, name in parameters]
    except (TypeError, ValueError):
        raise TypeError("global_unstructured: parameters must be (module, name) pairs, "
                        "e.g. parameters_to_prune(model)") from None
    if not pairs:
        raise ValueError("global_unstructured: parameters is empty; nothing to prune")
    values = [_check_target("global_unstructured", module, name) for module, name in pairs]
    keeps = [_current_mask(module, name, v.shape) for (module, name), v in zip(pairs, values)]
    mask = pruning_method(amount).compute_mask(np.concatenate([v.ravel() for v in values]),
                                               np.concatenate([k.ravel() for k in keeps]))
    splits = np.cumsum([v.size for v in values])[:-1]
    for (module, name), v, part in zip(pairs, values, np.split(mask, splits)):
        _apply_mask(module, name, part.reshape(v.shape))


def remove(module, name: str = "weight"):
    """Make a pruning permanent: drop the ``<name>_mask`` buffer (the zeros stay); returns ``module``.

    As ``torch.nn.utils.prune.remove``. Afterwards :class:`MaskedOptimizer` no longer holds
    those weights at zero.
    """
    _check_target("remove", module, name)
    if getattr(module, f"{name}_mask", None) is None:
        raise ValueError(f"remove: parameter {name!r} of {type(module).__name__} was not pruned (no {name}_mask)")
    delattr(module, f"{name}_mask")
    return module


def parameters_to_prune(model) -> list[tuple[Module, str]]:
    """The (module, "weight") pairs of every Linear and Conv2d in ``model``: what pruning usually acts on.

    Examples:
        >>> from tinytorch.core.layers import Linear, Sequential
        >>> from tinytorch.perf.compression import parameters_to_prune
        >>> [type(m).__name__ for m, name in parameters_to_prune(Sequential(Linear(4, 3), Linear(3, 2)))]
        ['Linear', 'Linear']
    """
    if not isinstance(model, Module):
        raise TypeError(f"parameters_to_prune: model must be a Module, got {type(model).__name__}")
    return [(module, "weight") for module in model.modules() if isinstance(module, (Linear, Conv2d))]


def _masked(model) -> list[tuple[Parameter, np.ndarray]]:
    """(parameter, keep mask) for every pruned parameter in ``model``."""
    found = []
    for module in model.modules():
        for buffer_name, mask in module.named_buffers():
            if buffer_name.endswith("_mask") and "." not in buffer_name and mask is not None:
                param = getattr(module, buffer_name[:-len("_mask")], None)
                if isinstance(param, Parameter):
                    found.append((param, np.asarray(_raw(mask), dtype=bool)))
    return found


def sparsity(model) -> float:
    """Fraction of the Linear and Conv2d weights that are exactly zero."""
    weights = [_raw(getattr(m, name)) for m, name in parameters_to_prune(model)]
    total = sum(w.size for w in weights)
    return float(sum(np.count_nonzero(w == 0) for w in weights) / total) if total else 0.0


class MaskedOptimizer:
    """Wraps an optimizer so the pruned weights of ``model`` stay zero while it trains (fine-tuning).

    Before each step the gradients of pruned entries are zeroed (so Adam's moments never build
    up there), after it the pruned entries are zeroed again. The masks are read from the
    model's ``*_mask`` buffers at every step, so pruning more later is picked up. Every other
    attribute (``lr``, ``params``, ``zero_grad``) is the wrapped optimizer's, so a ``Trainer``
    or a schedule uses it unchanged.

    Examples:
        >>> from tinytorch.core.layers import Linear, Sequential
        >>> from tinytorch.perf.compression import MaskedOptimizer, l1_unstructured
        >>> from tinytorch.core.optimizers import Adam
        >>> model = Sequential(Linear(8, 4))
        >>> _ = l1_unstructured(model[0], amount=0.5)
        >>> optimizer = MaskedOptimizer(Adam(model.parameters(), lr=0.1), model)
    """

    def __init__(self, optimizer, model):
        if not callable(getattr(optimizer, "step", None)):
            raise TypeError(f"MaskedOptimizer: optimizer must have a step() method, got {type(optimizer).__name__}")
        if not isinstance(model, Module):
            raise TypeError(f"MaskedOptimizer: model must be a Module, got {type(model).__name__}")
        object.__setattr__(self, "optimizer", optimizer)
        object.__setattr__(self, "model", model)

    def step(self) -> None:
        """Zero the pruned gradients, take the wrapped optimizer's step, then re-zero the pruned weights."""
        masked = _masked(self.model)
        for param, keep in masked:
            if param.grad is not None:
                param.grad = _raw(param.grad) * keep
        self.optimizer.step()
        for param, keep in masked:
            param.data *= keep

    def __getattr__(self, name):
        return getattr(self.optimizer, name)

    def __setattr__(self, name, value):
        setattr(self.optimizer, name, value)


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
    for mask in ("weight_mask", "bias_mask"):          # an earlier pruning's masks no longer fit
        if getattr(new, mask, None) is not None:
            delattr(new, mask)
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
        >>> from tinytorch.core.layers import Linear, Sequential
        >>> from tinytorch.perf.compression import structured_prune
        >>> from tinytorch.core.activations import ReLU
        >>> small = structured_prune(Sequential(Linear(64, 128), ReLU(), Linear(128, 10)), 0.5)
        >>> small[0].weight.shape, small[2].weight.shape
        ((64, 64), (10, 64))
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"structured_prune: expected a Sequential model, got {type(model).__name__}")
    if isinstance(amount, bool) or not isinstance(amount, numbers.Real) or not 0.0 <= amount < 1.0:
        raise ValueError(f"structured_prune: amount must be a fraction in [0, 1), got {amount!r}")
    layers = list(model)
    positions = [i for i, layer in enumerate(layers) if isinstance(layer, (Linear, Conv2d))]
    if not positions:
        raise ValueError("structured_prune: the model has no Linear or Conv2d layer to prune")
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


SPARSE_ROW_LIMIT = 16
"""CSRMatrix.matmul multiplies from the stored values alone when no row holds more than one
value in 16; denser matrices are unpacked for one BLAS product (measured crossover in NumPy)."""


class CSRMatrix:
    """Compressed sparse rows: the nonzero values, their column indices, and where each row starts.

    Bytes: ``nnz * (value bytes + index bytes) + (rows + 1) * 4``; the column index uses the
    smallest unsigned type that fits (uint8 for up to 256 columns).

    Examples:
        >>> import numpy as np
        >>> from tinytorch.perf.compression import CSRMatrix
        >>> dense = np.array([[0, 2, 0], [1, 0, 3]], dtype=np.float32)
        >>> csr = CSRMatrix.from_dense(dense)
        >>> csr.values.tolist(), csr.indices.tolist(), csr.indptr.tolist()
        ([2.0, 1.0, 3.0], [1, 0, 2], [0, 1, 3])
        >>> np.array_equal(csr.to_dense(), dense), csr.nbytes     # 3*4 + 3*1 + 3*4
        (True, 27)
    """

    def __init__(self, shape, values: np.ndarray, indices: np.ndarray, indptr: np.ndarray):
        shape, values, indices, indptr = tuple(shape), np.asarray(values), np.asarray(indices), np.asarray(indptr)
        if len(shape) != 2:
            raise ValueError(f"CSRMatrix: shape must be (rows, cols), got {shape}")
        if indptr.shape != (shape[0] + 1,) or values.shape != indices.shape or values.ndim != 1 \
                or int(indptr[-1]) != values.size:
            raise ValueError(f"CSRMatrix: inconsistent arrays for shape {shape}: {values.size} values, "
                             f"{indices.size} column indices, row pointers of shape {indptr.shape} ending at "
                             f"{int(indptr[-1]) if indptr.size else None} (want {shape[0] + 1} pointers, the last "
                             f"one the number of values)")
        if values.size and (int(indices.max()) >= shape[1] or np.any(np.diff(indptr) < 0)):
            raise ValueError(f"CSRMatrix: column indices must be below {shape[1]} and row pointers non-decreasing")
        self.shape, self.values, self.indices, self.indptr = shape, values, indices, indptr

    @classmethod
    def stored(cls, shape, values, indices, indptr) -> "CSRMatrix":
        """The matrix around arrays a layer stored itself (checked when it stored them): no checks again."""
        matrix = cls.__new__(cls)
        matrix.shape, matrix.values, matrix.indices, matrix.indptr = tuple(shape), values, indices, indptr
        return matrix

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

    def _rows(self) -> np.ndarray:
        """The row of every stored value (what the row pointers encode)."""
        return np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))

    def to_dense(self) -> np.ndarray:
        """The dense 2-D array back."""
        dense = np.zeros(self.shape, dtype=self.values.dtype)
        dense.reshape(-1)[self._rows() * self.shape[1] + self.indices] = self.values
        return dense

    def _padded_rows(self):
        """ELL layout: column indices and values as (longest row, rows), short rows padded with value 0.

        Entry k of row r goes to [k, r], so position k of every row is one contiguous slice.
        """
        rows = self._rows()
        flat = (np.arange(self.nnz) - self.indptr[rows]) * self.shape[0] + rows   # [position, row], flattened
        longest = int(np.diff(self.indptr).max())
        columns = np.zeros(longest * self.shape[0], dtype=np.intp)
        values = np.zeros(longest * self.shape[0], dtype=self.values.dtype)
        columns[flat] = self.indices
        values[flat] = self.values
        return columns.reshape(longest, -1), values.reshape(longest, -1)

    def matmul(self, other: np.ndarray) -> np.ndarray:
        """``self @ other`` for a dense (cols, k) or (cols,) array, vectorized (no loop over rows).

        Two ways, picked by the longest row. A matrix whose rows hold at most one value in
        :data:`SPARSE_ROW_LIMIT` (16) is multiplied from its stored values alone: the rows are
        padded to the longest (``_padded_rows``), the rows of ``other`` that each stored value
        meets are gathered, then scaled and summed over the positions (one ``einsum``). Denser ones cost less
        unpacked into a scratch dense matrix for one BLAS product (gathering a row of
        ``other`` per value costs more than multiplying zeros at BLAS speed).
        """
        other = np.asarray(other)
        if other.ndim not in (1, 2) or other.shape[0] != self.shape[1]:
            raise ValueError(f"CSRMatrix.matmul: expected a ({self.shape[1]}, k) or ({self.shape[1]},) array, "
                             f"got shape {other.shape}")
        if self._unpacks():
            return self.to_dense() @ other
        return self._from_values(np.ascontiguousarray(other), "pr,pr...->r...")

    def linear(self, x: np.ndarray) -> np.ndarray:
        """``x @ self.T`` for a dense (batch, cols) array: a sparse Linear's product, (batch, rows), with no
        transposed copy of the result (the ``einsum`` writes it in that shape)."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.shape[1]:
            raise ValueError(f"CSRMatrix.linear: expected a (batch, {self.shape[1]}) array, got shape {x.shape}")
        if self._unpacks():
            return x @ self.to_dense().T
        return self._from_values(np.ascontiguousarray(x.T), "pr,prb->br")

    def _unpacks(self) -> bool:
        """Whether a product unpacks the matrix for BLAS: no values, or a row denser than one in
        :data:`SPARSE_ROW_LIMIT`."""
        return self.nnz == 0 or np.diff(self.indptr).max() * SPARSE_ROW_LIMIT > self.shape[1]

    def _from_values(self, other_rows: np.ndarray, subscripts: str) -> np.ndarray:
        """The product with ``other_rows`` (cols, ...) from the stored values: the rows padded to the
        longest, one gather of the rows of ``other_rows`` they meet, one ``einsum`` into ``subscripts``' layout."""
        columns, values = self._padded_rows()
        gathered = np.take(other_rows, columns, axis=0)   # (longest, rows[, k])
        return np.einsum(subscripts, values, gathered).astype(np.result_type(self.values, other_rows), copy=False)


class BitmaskArray:
    """One bit per position (packed 8 to a byte) saying which entries are nonzero, plus those entries.

    Bytes: ``ceil(size / 8) + nnz * value bytes``: at 50% sparsity an int8 weight costs
    0.625 bytes instead of 1, a float32 weight 2.125 instead of 4.

    Examples:
        >>> import numpy as np
        >>> from tinytorch.perf.compression import BitmaskArray
        >>> packed = BitmaskArray.from_dense(np.array([[0, 5], [7, 0]], dtype=np.int8))
        >>> packed.bits.tolist(), packed.values.tolist(), packed.nbytes
        ([96], [5, 7], 3)
        >>> packed.to_dense().tolist()
        [[0, 5], [7, 0]]
    """

    def __init__(self, shape, bits: np.ndarray, values: np.ndarray):
        shape, bits, values = tuple(shape), np.asarray(bits), np.asarray(values)
        size = int(np.prod(shape, dtype=np.int64))
        if bits.dtype != np.uint8 or bits.shape != (-(-size // 8),):
            raise ValueError(f"BitmaskArray: bits must be {-(-size // 8)} packed uint8 bytes for shape {shape}, "
                             f"got {bits.dtype} of shape {bits.shape}")
        stored = int(np.unpackbits(bits, count=size).sum())
        if values.shape != (stored,):
            raise ValueError(f"BitmaskArray: the mask marks {stored} positions, got {values.size} values")
        self.shape, self.bits, self.values = shape, bits, values

    @classmethod
    def stored(cls, shape, bits, values) -> "BitmaskArray":
        """The array around arrays a layer stored itself (checked when it stored them): no checks again."""
        array = cls.__new__(cls)
        array.shape, array.bits, array.values = tuple(shape), bits, values
        return array

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
        """The dense array back.

        Mostly empty arrays write their few values through the mask; fuller ones (over 1 in 10
        kept) gather them instead, branch-free: entry i takes value number cumsum(mask)[i] - 1,
        or the 0 put in front of the values where the mask is off.
        """
        size = int(np.prod(self.shape, dtype=np.int64))
        kept = np.unpackbits(self.bits, count=size)
        if self.values.size * 10 > size:
            index = np.cumsum(kept, dtype=np.intp)
            index *= kept
            return np.take(np.concatenate((np.zeros(1, self.values.dtype), self.values)), index).reshape(self.shape)
        dense = np.zeros(size, dtype=self.values.dtype)
        dense[kept.view(bool)] = self.values
        return dense.reshape(self.shape)


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
        >>> from tinytorch.core.layers import Linear
        >>> from tinytorch.perf.compression import SparseLinear, l1_unstructured
        >>> lin = l1_unstructured(Linear(64, 32), amount=0.9)
        >>> sparse = SparseLinear.from_dense(lin)
        >>> sparse.nbytes < lin.weight.data.nbytes / 4
        True
    """

    def __init__(self, weight, bias=None, format: str = "csr"):
        super().__init__()
        weight = _raw(weight)
        if format not in ("csr", "bitmask"):
            raise ValueError(f"SparseLinear: format must be 'csr' or 'bitmask', got {format!r}")
        if weight.ndim != 2 or weight.dtype.kind != "f":
            raise ValueError(f"SparseLinear: weight must be a 2-D float array (out, in), got {weight.dtype} "
                             f"of shape {weight.shape}")
        if bias is not None and _raw(bias).shape != (weight.shape[0],):
            raise ValueError(f"SparseLinear: bias must have shape ({weight.shape[0]},), got {_raw(bias).shape}")
        self.out_features, self.in_features = weight.shape
        self.format = format
        self.weight_shape = weight.shape
        stored = CSRMatrix.from_dense(weight) if format == "csr" else BitmaskArray.from_dense(weight)
        arrays = ({"weight_values": stored.values, "weight_indices": stored.indices, "weight_indptr": stored.indptr}
                  if format == "csr" else {"weight_bits": stored.bits, "weight_values": stored.values})
        for name, array in arrays.items():
            self.register_buffer(name, Tensor(array))
        self.register_buffer("bias", None if bias is None else Tensor(_raw(bias).astype(np.float32)))

    @classmethod
    def from_dense(cls, linear, format: str = "csr"):
        """Store a (pruned) ``Linear`` sparsely."""
        if not isinstance(linear, Linear):
            raise TypeError(f"SparseLinear.from_dense: expected a Linear, got {type(linear).__name__}")
        return cls(linear.weight.data, None if linear.bias is None else linear.bias.data, format)

    def stored(self):
        """The weight's sparse storage object (CSRMatrix or BitmaskArray)."""
        if self.format == "csr":
            return CSRMatrix.stored(self.weight_shape, self.weight_values.data, self.weight_indices.data,
                                    self.weight_indptr.data)
        return BitmaskArray.stored(self.weight_shape, self.weight_bits.data, self.weight_values.data)

    @property
    def nbytes(self) -> int:
        """Bytes of every stored array."""
        return int(sum(b.data.nbytes for _, b in self.named_buffers()))

    def forward(self, x):
        data = _raw(x)
        if data.ndim == 0 or data.shape[-1] != self.in_features:
            raise ValueError(f"SparseLinear: expected input (*, {self.in_features}), got shape {data.shape}")
        rows = data.reshape(-1, self.in_features)
        if self.format == "csr":
            out = self.stored().linear(rows)               # x W^T from the nonzeros only
        else:
            out = rows @ self.stored().to_dense().T
        if self.bias is not None:
            out += self.bias.data
        return Tensor(out.reshape(data.shape[:-1] + (self.out_features,)))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, {self.format}"


class _SparseInt8:
    """Mixin for int8 layers whose codes are stored as a bitmask plus the nonzero codes."""

    def _take_sparse(self, layer) -> None:
        for name in ("weight_scale", "bias", "input_scale", "input_zero_point"):
            self.register_buffer(name, getattr(layer, name))
        packed = BitmaskArray.from_dense(layer.int_weight())
        self.weight_shape = packed.shape
        self.register_buffer("weight_bits", Tensor(packed.bits))
        self.register_buffer("weight_values", Tensor(packed.values))

    def int_weight(self) -> np.ndarray:
        """The dense int8 codes, rebuilt from the bitmask and the nonzero codes."""
        return BitmaskArray.stored(self.weight_shape, self.weight_bits.data, self.weight_values.data).to_dense()


class SparseQuantizedLinear(_SparseInt8, QuantizedLinear):
    """A pruned :class:`QuantizedLinear` stored as a bitmask plus its nonzero int8 codes.

    Computes exactly what the dense int8 layer computes (same int32 matmul).

    Examples:
        >>> import numpy as np
        >>> from tinytorch.core.layers import Linear
        >>> from tinytorch.perf.compression import SparseQuantizedLinear
        >>> from tinytorch.perf.quantization import QuantizedLinear
        >>> dense = QuantizedLinear.from_float(Linear(64, 32))
        >>> sparse = SparseQuantizedLinear(dense)
        >>> bool(np.array_equal(sparse.int_weight(), dense.weight.data))
        True
    """

    def __init__(self, layer: QuantizedLinear):
        if not isinstance(layer, QuantizedLinear):
            raise TypeError(f"SparseQuantizedLinear: expected a QuantizedLinear, got {type(layer).__name__}")
        Module.__init__(self)
        self.in_features, self.out_features = layer.in_features, layer.out_features
        self._take_sparse(layer)


class SparseQuantizedConv2d(_SparseInt8, QuantizedConv2d):
    """A pruned :class:`QuantizedConv2d` stored as a bitmask plus its nonzero int8 codes."""

    def __init__(self, layer: QuantizedConv2d):
        if not isinstance(layer, QuantizedConv2d):
            raise TypeError(f"SparseQuantizedConv2d: expected a QuantizedConv2d, got {type(layer).__name__}")
        Module.__init__(self)
        self.in_channels, self.out_channels = layer.in_channels, layer.out_channels
        self.kernel_size, self.stride, self.padding = layer.kernel_size, layer.stride, layer.padding
        self._take_sparse(layer)


def sparsify_model(model, format: str = "csr"):
    """A copy with every weight layer stored sparse: int8 layers as bitmask + codes, float Linears as ``format``.

    Float Conv2d layers are left dense.
    """
    if not isinstance(model, Module):
        raise TypeError(f"sparsify_model: model must be a Module, got {type(model).__name__}")
    if format not in ("csr", "bitmask"):
        raise ValueError(f"sparsify_model: format must be 'csr' or 'bitmask', got {format!r}")
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

def _check_distillation(call: str, temperature, alpha) -> None:
    for name, value in (("temperature", temperature), ("alpha", alpha)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{call}: {name} must be a number, got {value!r}")
    if not (0 < temperature < np.inf) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"{call}: need a finite temperature > 0 and alpha in [0, 1], "
                         f"got temperature={temperature}, alpha={alpha}")


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
        >>> import numpy as np
        >>> from tinytorch.core.tensor import Tensor
        >>> from tinytorch.perf.compression import distillation_loss
        >>> z = Tensor(np.array([[2.0, 0.0, -1.0]]), requires_grad=True)
        >>> loss = distillation_loss(z, z.data, np.array([0]), temperature=2.0, alpha=1.0)
        >>> abs(loss.item()) < 1e-6      # the student equals the teacher: no soft loss
        True
    """
    _check_distillation("distillation_loss", temperature, alpha)
    if not isinstance(student_logits, Tensor):
        raise TypeError(f"distillation_loss: student_logits must be a Tensor (it carries the gradient), "
                        f"got {type(student_logits).__name__}")
    if student_logits.ndim != 2:
        raise ValueError(f"distillation_loss: student logits must be (N, C), got shape {student_logits.shape}")
    teacher = _raw(teacher_logits)
    if teacher.dtype.kind not in "fiu":
        raise TypeError(f"distillation_loss: teacher_logits must be numbers, got dtype {teacher.dtype}")
    if teacher.shape != student_logits.shape:
        raise ValueError(f"distillation_loss: student logits {student_logits.shape} and teacher logits "
                         f"{teacher.shape} differ in shape")
    if not np.isfinite(teacher).all():
        raise ValueError("distillation_loss: teacher_logits contain NaN or inf")
    teacher = teacher.astype(np.float64) / temperature
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
        _check_distillation("DistillationLoss", temperature, alpha)
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
        >>> from tinytorch.core.layers import Linear
        >>> from tinytorch.perf.compression import low_rank_linear
        >>> small = low_rank_linear(Linear(128, 64), rank=8)
        >>> small[0].weight.shape, small[1].weight.shape      # 8*128 + 64*8 + 64 numbers
        ((8, 128), (64, 8))
    """
    if not isinstance(linear, Linear):
        raise TypeError(f"low_rank_linear: expected a Linear, got {type(linear).__name__}")
    out_features, in_features = linear.weight.shape
    if isinstance(rank, bool) or not isinstance(rank, numbers.Integral) or not 1 <= rank <= min(in_features, out_features):
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
    if not isinstance(model, Module):
        raise TypeError(f"low_rank_model: model must be a Module, got {type(model).__name__}")
    if isinstance(rank_fraction, bool) or not isinstance(rank_fraction, numbers.Real) or not 0 < rank_fraction <= 1:
        raise ValueError(f"low_rank_model: rank_fraction must be in (0, 1], got {rank_fraction!r}")
    copied = copy.deepcopy(model)
    for parent in list(copied.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, Linear):
                out_features, in_features = child.weight.shape
                rank = max(1, int(np.ceil(rank_fraction * min(in_features, out_features))))
                if rank * (in_features + out_features) < in_features * out_features:
                    parent.add_module(name, low_rank_linear(child, rank))
    return copied

