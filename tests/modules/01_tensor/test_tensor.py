"""Tensor (module 01): construction, dtype rules, forward values against NumPy, errors.

Only module 01 is needed: gradients of these ops are tested with module 05
(``tests/modules/05_autograd/test_earlier_modules_with_autograd.py``), the nonlinearities with
module 02.
"""

import operator

import numpy as np
import pytest

from tinytorch.core.tensor import Tensor

RNG = np.random.default_rng(0)


def randn(*shape):
    """float32 standard-normal test data."""
    return RNG.standard_normal(shape).astype(np.float32)


# ----------------------------------------------------------------------------- construction and dtypes


def test_python_floats_become_float32():
    assert Tensor(1.5).dtype == np.float32
    assert Tensor([[1.0, 2.0]]).dtype == np.float32


def test_float64_array_becomes_float32_by_default():
    assert Tensor(np.zeros(3)).dtype == np.float32


def test_explicit_float64_is_preserved_through_ops():
    x = Tensor(np.ones((2, 3)), dtype=np.float64, requires_grad=True)
    y = ((x * 2 + 1) / 3 - x ** 2).exp().sum()
    assert y.dtype == np.float64


def test_integers_and_bools_keep_their_dtype():
    assert Tensor([1, 2, 3]).dtype == np.int64
    assert Tensor(np.array([1, 2], dtype=np.int8)).dtype == np.int8
    assert Tensor([True, False]).dtype == np.bool_


def test_ndarray_is_shared_not_copied():
    a = np.zeros(3, dtype=np.float32)
    assert Tensor(a).data is a
    assert Tensor(a).numpy() is a


def test_python_scalars_do_not_upcast_float32():
    x = Tensor(randn(3))
    for y in (x * 2, 2 * x, x - 1, 1 - x, x / 3, 3 / x, x ** 2, x + 0.5, x * np.float64(0.1), -x):
        assert y.dtype == np.float32


def test_integer_tensor_cannot_require_grad():
    with pytest.raises(RuntimeError, match="floating point"):
        Tensor([1, 2], requires_grad=True)


@pytest.mark.parametrize("data, what", [
    (["a", "b"], r"strings: the data \(list\) has dtype <U1"),
    ("abc", r"strings: the data \(str\) has dtype <U3"),
    ([b"a"], r"bytes: the data \(list\) has dtype \|S1"),
    (np.array(["x", "y"]), r"strings: the data \(ndarray\) has dtype <U1"),
    ([None, 1.0], r"Python objects: the data \(list\) has dtype object"),
    (np.array([1, "a"], dtype=object), r"Python objects: the data \(ndarray\) has dtype object"),
])
def test_data_that_is_not_numbers_is_refused_naming_its_dtype(data, what):
    with pytest.raises(TypeError, match=rf"^Tensor: cannot build a tensor of {what}; a tensor holds numbers or bools$"):
        Tensor(data)


def test_a_dtype_that_is_not_numbers_is_refused():
    with pytest.raises(TypeError, match=r"^Tensor: cannot build a tensor of strings: dtype=<U0 was given"):
        Tensor([1, 2], dtype=str)
    with pytest.raises(TypeError, match=r"^Tensor: cannot build a tensor of strings: the data \(list\)"):
        Tensor(["1.5"], dtype=np.float32)


@pytest.mark.parametrize("data, depth, lengths", [
    ([[1, 2], [3]], 1, "2, 1"),
    ([[1.0, 2.0], [3.0, 4.0, 5.0]], 1, "2, 3"),
    ([[[1], [2]], [[3], [4, 5]]], 2, "1, 2"),
    ([1, [2]], 1, "a number, 1"),
    ([np.zeros(2), np.zeros(3)], 1, "2, 3"),
])
def test_a_ragged_nested_list_is_refused_with_the_lengths_found(data, depth, lengths):
    message = (rf"^Tensor: cannot build a tensor from a ragged nested list: the lists at depth {depth} have "
               rf"different lengths \({lengths}\); every row needs the same length$")
    with pytest.raises(ValueError, match=message):
        Tensor(data)


def test_shape_helpers():
    x = Tensor(randn(2, 3, 4))
    assert x.shape == (2, 3, 4) and x.ndim == 3 and x.dim() == 3
    assert x.size() == (2, 3, 4) and x.size(1) == 3 and x.numel() == 24 and len(x) == 2
    assert x.T.shape == (4, 3, 2)


def test_item_detach_and_repr():
    x = Tensor([[1.0, 2.0]], requires_grad=True)
    assert repr(x) == "Tensor([[1., 2.]], requires_grad=True)"
    assert "dtype=float64" in repr(Tensor([1.0], dtype=np.float64))
    assert Tensor([3.0]).item() == 3.0
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf
    with pytest.raises(ValueError, match="one-element"):
        x.item()


# ----------------------------------------------------------------------------- forward values


@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv"])
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((4,), (2, 3, 4)), ((2, 1, 4), (3, 1))])
def test_binary_ops_broadcast_both_ways(op, shapes):
    a, b = randn(*shapes[0]), randn(*shapes[1]) + 3.0
    fn = getattr(operator, op)
    expected = fn(a, b)
    np.testing.assert_allclose(fn(Tensor(a), Tensor(b)).data, expected, rtol=1e-6)
    np.testing.assert_allclose(fn(Tensor(a), b).data, expected, rtol=1e-6)
    np.testing.assert_allclose(fn(a, Tensor(b)).data, expected, rtol=1e-6)


def test_scalar_operands_both_sides():
    a = randn(3) + 2.0
    x = Tensor(a)
    np.testing.assert_allclose((2 * x).data, 2 * a)
    np.testing.assert_allclose((1 - x).data, 1 - a)
    np.testing.assert_allclose((3 / x).data, 3 / a, rtol=1e-6)
    np.testing.assert_allclose((x ** 2).data, a ** 2, rtol=1e-6)
    np.testing.assert_allclose((2 ** x).data, 2 ** a, rtol=1e-6)
    np.testing.assert_allclose((-x).data, -a)


@pytest.mark.parametrize("name", ["exp", "sqrt", "abs"])
def test_unary_ops_match_numpy(name):
    a = randn(3, 4)
    src = np.abs(a) if name == "sqrt" else a
    np.testing.assert_allclose(getattr(Tensor(src), name)().data, getattr(np, name)(src), rtol=1e-6)


def test_log_and_clip():
    a = randn(5, 3)
    x = Tensor(a)
    np.testing.assert_allclose(Tensor(np.abs(a) + 0.1).log().data, np.log(np.abs(a) + 0.1), rtol=1e-6)
    np.testing.assert_allclose(x.clip(-0.5, 0.5).data, np.clip(a, -0.5, 0.5))
    np.testing.assert_allclose(x.clip(min=0).data, np.maximum(a, 0))


@pytest.mark.parametrize("shapes", [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((1, 3, 4), (2, 4, 2))])
def test_matmul_matches_numpy(shapes):
    a, b = randn(*shapes[0]), randn(*shapes[1])
    np.testing.assert_allclose((Tensor(a) @ Tensor(b)).data, a @ b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(Tensor(a).matmul(b).data, a @ b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_match_numpy(axis, keepdims):
    a = randn(2, 3, 4)
    x = Tensor(a)
    for name in ("sum", "mean", "max", "min"):
        np.testing.assert_allclose(getattr(x, name)(axis=axis, keepdims=keepdims).data, getattr(a, name)(axis=axis, keepdims=keepdims), rtol=1e-5, atol=1e-6)


def test_dim_alias_and_argmax():
    a = randn(3, 4)
    x = Tensor(a)
    np.testing.assert_allclose(x.sum(dim=1, keepdim=True).data, a.sum(1, keepdims=True), rtol=1e-6)
    assert (x.argmax(axis=1).data == a.argmax(1)).all()
    assert x.argmax(1).dtype == np.int64 and not x.argmax(1).requires_grad


def test_reshape_view_transpose_permute():
    a = randn(2, 3, 4)
    x = Tensor(a)
    assert x.reshape(6, 4).shape == (6, 4) and x.reshape((4, -1)).shape == (4, 6)
    assert x.view(-1).shape == (24,)
    np.testing.assert_array_equal(x.transpose().data, a.swapaxes(-1, -2))
    np.testing.assert_array_equal(x.transpose(0, 2).data, a.swapaxes(0, 2))
    np.testing.assert_array_equal(x.permute(2, 0, 1).data, a.transpose(2, 0, 1))
    assert x.flatten(1).shape == (2, 12) and x.unsqueeze(0).shape == (1, 2, 3, 4)
    assert x.unsqueeze(-1).shape == (2, 3, 4, 1) and x.unsqueeze(1).squeeze(1).shape == (2, 3, 4)


def test_getitem_slices_masks_and_fancy_indices():
    a = randn(4, 5)
    x = Tensor(a)
    np.testing.assert_array_equal(x[1].data, a[1])
    np.testing.assert_array_equal(x[1:3, ::2].data, a[1:3, ::2])
    np.testing.assert_array_equal(x[[0, 0, 2]].data, a[[0, 0, 2]])
    rows, cols = np.array([0, 1, 3]), Tensor(np.array([4, 0, 2]))
    np.testing.assert_array_equal(x[rows, cols].data, a[rows, cols.data])
    np.testing.assert_array_equal(x[x > 0].data, a[a > 0])
    np.testing.assert_array_equal(x[..., None].data, a[..., None])


def test_comparisons_return_bool_tensors():
    a = randn(6)
    x = Tensor(a, requires_grad=True)
    for got, want in ((x < 0, a < 0), (x <= 0, a <= 0), (x > 0, a > 0), (x >= 0, a >= 0), (x == x, a == a), (x != 0, a != 0)):
        assert got.dtype == np.bool_ and not got.requires_grad
        np.testing.assert_array_equal(got.data, want)


def test_tensors_hash_by_identity():
    x, y = Tensor([1.0]), Tensor([1.0])
    assert len({x, y}) == 2


def test_setitem_on_plain_tensor_and_refused_on_graph():
    x = Tensor(np.zeros(3, dtype=np.float32))
    x[1] = 5.0
    assert x.data[1] == 5.0
    with pytest.raises(RuntimeError, match="requires grad"):
        Tensor([1.0], requires_grad=True)[0] = 2.0


# ----------------------------------------------------------------------------- shape errors


def test_add_broadcast_error_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"add: cannot broadcast shapes \(3,\) and \(4,\)"):
        Tensor(np.zeros(3)) + Tensor(np.zeros(4))


@pytest.mark.parametrize("op,name", [(lambda a, b: a - b, "sub"), (lambda a, b: a * b, "mul"), (lambda a, b: a / b, "div")])
def test_other_broadcast_errors(op, name):
    with pytest.raises(ValueError, match=rf"{name}: cannot broadcast shapes \(2, 3\) and \(2,\)"):
        op(Tensor(np.ones((2, 3))), Tensor(np.ones(2)))


def test_matmul_error_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"matmul: shapes \(3, 4\) and \(5, 2\) are not aligned"):
        Tensor(np.zeros((3, 4))) @ Tensor(np.zeros((5, 2)))


def test_reshape_error_names_shapes():
    with pytest.raises(ValueError, match=r"reshape: cannot reshape shape \(2, 3\) into \(4,\)"):
        Tensor(np.zeros((2, 3))).reshape(4)


# ----------------------------------------------------------------------------- where, cat, stack, masked_fill


def test_where_cat_stack_and_masked_fill_match_numpy():
    from tinytorch.core.tensor import cat, stack, where

    a = Tensor(randn(2, 3), requires_grad=True)
    mask = np.array([[True, False, False], [False, False, True]])
    filled = a.masked_fill(mask, -5.0)
    np.testing.assert_array_equal(filled.data, np.where(mask, np.float32(-5.0), a.data))
    assert filled.dtype == np.float32
    np.testing.assert_array_equal(cat([a, a], dim=1).data, np.concatenate([a.data, a.data], axis=1))
    np.testing.assert_array_equal(stack([a, a], dim=0).data, np.stack([a.data, a.data]))
    np.testing.assert_array_equal(where(mask, a, 0.0).data, np.where(mask, a.data, np.float32(0.0)))


def test_cat_and_stack_of_nothing_are_clear_errors():
    from tinytorch.core.tensor import cat, stack

    with pytest.raises(ValueError, match="cat: expected a non-empty"):
        cat([])
    with pytest.raises(ValueError, match="stack: expected a non-empty"):
        stack([])


def test_empty_reductions_are_clear_errors_naming_the_op_and_shape():
    with pytest.raises(ValueError, match=r"mean: cannot average an empty tensor \(shape \(0,\)\)"):
        Tensor(np.zeros(0, np.float32)).mean()
    with pytest.raises(ValueError, match=r"max: cannot reduce an empty tensor \(shape \(0,\)\)"):
        Tensor([]).max()
    assert Tensor(np.zeros((0, 3), np.float32)).sum(axis=0).shape == (3,)  # an empty sum is 0, as NumPy


def test_an_out_of_range_axis_names_the_op():
    with pytest.raises(ValueError, match="sum: axis 2 is out of range for a tensor with 2 dimensions"):
        Tensor(np.zeros((2, 3))).sum(axis=2)
