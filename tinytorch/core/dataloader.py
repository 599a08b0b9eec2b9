"""Datasets and batching (module 08).

A ``Dataset`` maps an index to one sample; a ``DataLoader`` turns it into batches of
Tensors, optionally shuffled with the framework generator (so ``manual_seed`` fixes the
order). ``TensorDataset`` gets a vectorized path: one fancy-index per array per batch, no
per-sample Python work.
"""

import numpy as np

from tinytorch.core.random import rng
from tinytorch.core.tensor import Tensor

__all__ = ["Dataset", "TensorDataset", "DataLoader"]


def _as_array(x):
    """The ndarray behind a Tensor, or ``x`` as an array with the Tensor's dtype policy."""
    if isinstance(x, Tensor):
        return x.data
    return Tensor(np.asarray(x)).data


class Dataset:
    """Abstract dataset: subclasses define ``__len__`` and ``__getitem__(i) -> sample``.

    A sample is a tuple of arrays/Tensors/numbers (e.g. ``(image, label)``) or a single one.

    Example::

        >>> from tinytorch.core.dataloader import Dataset
        >>> class Squares(Dataset):
        ...     def __len__(self): return 10
        ...     def __getitem__(self, i): return (float(i), i * i)
        >>> len(Squares()), Squares()[3]
        (10, (3.0, 9))
    """

    # tito: given
    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    # tito: given
    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")


class TensorDataset(Dataset):
    """Dataset wrapping arrays or Tensors that share their first dimension; sample i is row i of each.

    Data is held as ndarrays (``.arrays``) with the Tensor dtype policy applied once
    (floats to float32, integers stay integer), so batching never converts again.

    Args:
        *tensors: Tensors or array-likes, all with the same length along axis 0.

    Example::

        >>> import numpy as np
        >>> from tinytorch.core.dataloader import TensorDataset
        >>> ds = TensorDataset(np.zeros((100, 4)), np.arange(100))
        >>> x, y = ds[3]
        >>> x.shape, y.item()
        ((4,), 3)
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        self.arrays = tuple(_as_array(t) for t in tensors)
        if any(a.ndim == 0 for a in self.arrays):
            raise ValueError("TensorDataset tensors need at least one dimension")
        if len({a.shape[0] for a in self.arrays}) > 1:
            shapes = ", ".join(str(a.shape) for a in self.arrays)
            raise ValueError(f"TensorDataset tensors must share their first dimension, got shapes {shapes}")

    @property
    def tensors(self):
        """The wrapped data as Tensors (as ``torch.utils.data.TensorDataset.tensors``)."""
        return tuple(Tensor(a) for a in self.arrays)

    def __len__(self):
        return self.arrays[0].shape[0]

    def __getitem__(self, index):
        return tuple(Tensor(a[index]) for a in self.arrays)

    def batch(self, indices):
        """Rows ``indices`` (an index array or slice) of every array, as Tensors: one copy each.

        Slices are copied too, so a batch never aliases the dataset's storage.
        """
        if isinstance(indices, slice):
            return tuple(Tensor(a[indices].copy()) for a in self.arrays)
        return tuple(Tensor(a[indices]) for a in self.arrays)


def _collate(samples):
    """Stack a list of samples field by field into a tuple of batched Tensors."""
    if not isinstance(samples[0], (tuple, list)):
        samples = [(s,) for s in samples]
    return tuple(Tensor(np.stack([_field(s[k]) for s in samples])) for k in range(len(samples[0])))


def _field(x):
    """One sample field as an ndarray (Tensor data, array, or Python number)."""
    return x.data if isinstance(x, Tensor) else np.asarray(x)


class DataLoader:
    """Iterates over a dataset in batches of Tensors, optionally reshuffled every epoch.

    Each iteration yields a tuple of Tensors, one per sample field, each with a leading
    batch dimension; integer fields (labels) stay integer. A ``TensorDataset`` is batched by
    indexing its arrays directly; any other ``Dataset`` is batched by stacking its samples.
    Shuffling draws a new permutation from the framework generator (``tinytorch.rng()``)
    at the start of each epoch, so ``tinytorch.manual_seed(n)`` fixes the order.

    An empty dataset is rejected at construction (ValueError), not at iteration, so the
    mistake surfaces where the loader is built.

    Args:
        dataset: a Dataset (anything with ``__len__`` and ``__getitem__``).
        batch_size: samples per batch (> 0).
        shuffle: reshuffle the order every epoch.
        drop_last: drop the last batch if it is smaller than ``batch_size``.

    Example::

        >>> import numpy as np
        >>> from tinytorch.core.dataloader import DataLoader, TensorDataset
        >>> x, y = np.zeros((100, 4), dtype=np.float32), np.arange(100) % 10
        >>> loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
        >>> [len(xb) for xb, yb in loader]
        [32, 32, 32, 4]
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if len(dataset) == 0:
            raise ValueError("DataLoader got an empty dataset (0 samples): nothing to iterate")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last

    def __len__(self):
        """Number of batches per epoch."""
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        if n == 0:
            raise ValueError("DataLoader got an empty dataset (0 samples): nothing to iterate")
        order = rng().permutation(n) if self.shuffle else None
        fetch = self.dataset.batch if isinstance(self.dataset, TensorDataset) else self._stack
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            stop = min(start + self.batch_size, n)
            yield fetch(slice(start, stop) if order is None else order[start:stop])

    def _stack(self, indices):
        """Generic path: fetch samples one by one and stack them."""
        if isinstance(indices, slice):
            indices = range(indices.start, indices.stop)
        return _collate([self.dataset[int(i)] for i in indices])

    def __repr__(self):
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, drop_last={self.drop_last})")
