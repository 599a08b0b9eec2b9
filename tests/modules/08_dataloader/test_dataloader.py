"""Datasets and DataLoader (module 08): batching, drop_last, len, shuffling, dtypes, errors."""

import numpy as np
import pytest

from tinytorch.core.dataloader import DataLoader, Dataset, TensorDataset
from tinytorch.core.random import manual_seed
from tinytorch.core.tensor import Tensor


def data(n=10):
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    y = np.arange(n, dtype=np.int64)
    return x, y


class Squares(Dataset):
    """A generic (non-Tensor) dataset: sample i is (array [i, i], label i*i)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.array([i, i], dtype=np.float32), i * i


def collect(loader):
    return [tuple(t.data.copy() for t in batch) for batch in loader]


def test_tensor_dataset_items_and_len():
    x, y = data()
    ds = TensorDataset(Tensor(x), y)
    assert len(ds) == 10
    xi, yi = ds[3]
    assert isinstance(xi, Tensor) and isinstance(yi, Tensor)
    np.testing.assert_array_equal(xi.data, [6, 7])
    assert yi.data == 3
    assert len(ds.tensors) == 2


def test_tensor_dataset_shape_mismatch_names_shapes():
    with pytest.raises(ValueError, match=r"\(5, 2\).*\(4,\)"):
        TensorDataset(np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(ValueError):
        TensorDataset()


@pytest.mark.parametrize("drop_last, sizes", [(False, [4, 4, 2]), (True, [4, 4])])
def test_batches_in_order(drop_last, sizes):
    x, y = data()
    loader = DataLoader(TensorDataset(x, y), batch_size=4, drop_last=drop_last)
    batches = collect(loader)
    assert len(loader) == len(batches) == len(sizes)
    assert [len(b[1]) for b in batches] == sizes
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y[: sum(sizes)])
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), x[: sum(sizes)])


def test_yields_tuples_of_tensors_and_labels_stay_integer():
    x, y = data()
    xb, yb = next(iter(DataLoader(TensorDataset(x, y), batch_size=3)))
    assert isinstance(xb, Tensor) and isinstance(yb, Tensor)
    assert xb.shape == (3, 2) and xb.data.dtype == np.float32
    assert np.issubdtype(yb.data.dtype, np.integer)


def test_float64_input_becomes_float32():
    ds = TensorDataset(np.zeros((4, 2), dtype=np.float64), np.zeros(4, dtype=np.int64))
    xb, yb = next(iter(DataLoader(ds, batch_size=2)))
    assert xb.data.dtype == np.float32
    assert np.issubdtype(yb.data.dtype, np.integer)


def test_shuffle_covers_all_reshuffles_and_is_reproducible():
    x, y = data(50)
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True)
    manual_seed(0)
    epoch1, epoch2 = collect(loader), collect(loader)
    labels1 = np.concatenate([b[1] for b in epoch1])
    labels2 = np.concatenate([b[1] for b in epoch2])
    np.testing.assert_array_equal(np.sort(labels1), y)
    assert not np.array_equal(labels1, y)  # shuffled
    assert not np.array_equal(labels1, labels2)  # a new permutation each epoch
    for b in epoch1:  # rows stay paired with their labels
        np.testing.assert_array_equal(b[0][:, 0], 2 * b[1])
    manual_seed(0)
    again = np.concatenate([b[1] for b in collect(loader)])
    np.testing.assert_array_equal(again, labels1)


def test_generic_dataset_path_stacks_samples():
    loader = DataLoader(Squares(5), batch_size=2)
    batches = collect(loader)
    assert len(loader) == 3
    np.testing.assert_array_equal(batches[0][0], [[0, 0], [1, 1]])
    np.testing.assert_array_equal(batches[2][1], [16])
    assert np.issubdtype(batches[0][1].dtype, np.integer)
    assert batches[0][0].dtype == np.float32


def test_generic_dataset_shuffle_matches_permutation():
    manual_seed(3)
    labels = np.concatenate([b[1] for b in collect(DataLoader(Squares(7), batch_size=3, shuffle=True))])
    np.testing.assert_array_equal(np.sort(labels), np.arange(7) ** 2)


def test_len_rounding():
    ds = TensorDataset(np.zeros((10, 1)))
    assert len(DataLoader(ds, batch_size=3)) == 4
    assert len(DataLoader(ds, batch_size=3, drop_last=True)) == 3
    assert len(DataLoader(ds, batch_size=10)) == 1
    assert len(DataLoader(ds, batch_size=20)) == 1
    assert len(DataLoader(ds, batch_size=20, drop_last=True)) == 0


@pytest.mark.parametrize("bs", [0, -1, 2.5, True])
def test_bad_batch_size(bs):
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(TensorDataset(np.zeros((4, 1))), batch_size=bs)


def test_empty_dataset_rejected_at_construction():
    with pytest.raises(ValueError, match="empty"):
        DataLoader(TensorDataset(np.zeros((0, 3))), batch_size=2)


def test_abstract_dataset_raises():
    with pytest.raises(NotImplementedError):
        len(Dataset())


def test_batches_do_not_alias_the_dataset():
    x, y = data()
    ds = TensorDataset(x, y)
    for shuffle in (False, True):
        xb, _ = next(iter(DataLoader(ds, batch_size=4, shuffle=shuffle)))
        xb.data[...] = -1
        np.testing.assert_array_equal(ds.arrays[0], np.arange(20, dtype=np.float32).reshape(10, 2))
