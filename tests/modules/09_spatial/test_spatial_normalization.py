"""Module 09 normalization: BatchNorm1d, BatchNorm2d and the fused batch_norm.

Statistics and running averages checked against NumPy by hand, gradients by float64 central
differences in training and in eval mode, and (when torch is installed) everything against
torch.nn.BatchNorm1d/2d step by step.
"""

import numpy as np
import pytest
from gradcheck import gradcheck

from tinytorch.core.autograd import no_grad
from tinytorch.core.normalization import BatchNorm1d, BatchNorm2d, batch_norm
from tinytorch.core.tensor import Tensor


def images(seed=0, shape=(6, 3, 5, 4), loc=2.0, scale=3.0):
    return np.random.default_rng(seed).normal(loc, scale, shape).astype(np.float32)


# ----------------------------------------------------------------------------- forward and buffers

def test_training_output_has_zero_mean_unit_variance_per_channel():
    x = images()
    out = BatchNorm2d(3)(Tensor(x)).data
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), 1, atol=1e-3)  # eps=1e-5 against var ~9


def test_running_statistics_follow_torch_momentum_with_the_unbiased_variance():
    x, y = images(1), images(2, loc=-1.0)
    bn = BatchNorm2d(3, momentum=0.25)
    bn(Tensor(x))
    bn(Tensor(y))
    mean, var = np.zeros(3), np.ones(3)
    for batch in (x, y):
        mean = 0.75 * mean + 0.25 * batch.mean(axis=(0, 2, 3))
        var = 0.75 * var + 0.25 * batch.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(bn.running_mean.data, mean, rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.data, var, rtol=1e-5)
    assert int(bn.num_batches_tracked.data) == 2


def test_momentum_none_keeps_the_plain_average_of_every_batch():
    batches = [images(seed, shape=(8, 2)) for seed in range(5)]
    bn = BatchNorm1d(2, momentum=None)
    for batch in batches:
        bn(Tensor(batch))
    np.testing.assert_allclose(bn.running_mean.data, np.mean([b.mean(axis=0) for b in batches], axis=0), rtol=1e-5)


def test_eval_uses_the_running_statistics_and_leaves_them_alone():
    bn = BatchNorm2d(3)
    bn.weight.data[...] = [1.0, 2.0, -1.0]
    bn.bias.data[...] = [0.0, 0.5, 3.0]
    for seed in range(3):
        bn(Tensor(images(seed)))
    mean, var = bn.running_mean.data.copy(), bn.running_var.data.copy()
    x = images(7)
    bn.eval()
    out = bn(Tensor(x)).data
    shape = (1, 3, 1, 1)
    expected = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + 1e-5) * bn.weight.data.reshape(shape) \
        + bn.bias.data.reshape(shape)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(bn.running_mean.data, mean)
    one = bn(Tensor(x[:1])).data                      # eval: an image's output ignores its batch
    np.testing.assert_allclose(one, out[:1], rtol=1e-6, atol=1e-6)


def test_without_running_statistics_eval_normalises_by_the_batch():
    bn = BatchNorm1d(4, track_running_stats=False, affine=False).eval()
    assert bn.running_mean is None and list(bn.parameters()) == []
    out = bn(Tensor(images(3, shape=(10, 4, 7)))).data
    np.testing.assert_allclose(out.mean(axis=(0, 2)), 0, atol=1e-5)


def test_buffers_are_in_the_state_dict_and_load_back():
    bn = BatchNorm2d(3)
    bn(Tensor(images()))
    state = bn.state_dict()
    assert set(state) == {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}
    fresh = BatchNorm2d(3)
    fresh.load_state_dict(state)
    np.testing.assert_array_equal(fresh.running_var.data, bn.running_var.data)
    assert int(fresh.num_batches_tracked.data) == 1
    fresh.reset_parameters()
    assert fresh.running_var.data.tolist() == [1.0] * 3 and int(fresh.num_batches_tracked.data) == 0


def test_no_grad_still_updates_running_statistics_in_training_mode():
    """As torch: the running averages are buffers, not part of the graph."""
    bn = BatchNorm1d(2)
    with no_grad():
        bn(Tensor(images(shape=(5, 2))))
    assert int(bn.num_batches_tracked.data) == 1 and bn.running_mean.data.any()


def test_repr_matches_torch():
    assert repr(BatchNorm2d(16)) == "BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"


# ----------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("module, shape", [
    (BatchNorm2d(3), (2, 3, 4)),          # missing an axis
    (BatchNorm2d(3), (2, 4, 5, 5)),       # wrong channel count
    (BatchNorm1d(3), (2, 3, 4, 4)),       # an image into a 1-d norm
])
def test_wrong_input_shape_names_the_module_and_the_shape(module, shape):
    with pytest.raises(ValueError, match=rf"{type(module).__name__}\(3\) expects .* got shape \({shape[0]}, "):
        module(Tensor(np.zeros(shape)))


def test_one_value_per_channel_cannot_be_normalised_in_training():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        BatchNorm1d(3)(Tensor(np.zeros((1, 3))))


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_features=0), "num_features must be a positive integer"),
    (dict(num_features=3, momentum=1.5), "momentum must be in"),
])
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BatchNorm2d(**kwargs)


def test_functional_eval_needs_running_statistics():
    with pytest.raises(ValueError, match="running_mean and running_var are required"):
        batch_norm(Tensor(np.zeros((2, 3))), None, None, training=False)


# ----------------------------------------------------------------------------- gradients (float64)

@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 6), (3, 3, 4, 5)])
def test_gradcheck_training_mode(shape):
    rng = np.random.default_rng(4)
    x = rng.normal(1.0, 2.0, shape)
    weight, bias = rng.normal(size=3), rng.normal(size=3)
    gradcheck(lambda x, w, b: batch_norm(x, None, None, w, b, training=True), x, weight, bias)


def test_gradcheck_eval_mode():
    rng = np.random.default_rng(5)
    x, weight, bias = rng.normal(size=(3, 3, 4, 5)), rng.normal(size=3), rng.normal(size=3)
    mean, var = Tensor(rng.normal(size=3), dtype=np.float64), Tensor(rng.uniform(0.5, 2, 3), dtype=np.float64)
    gradcheck(lambda x, w, b: batch_norm(x, mean, var, w, b, training=False), x, weight, bias)


def test_gradcheck_without_affine_parameters():
    x = np.random.default_rng(6).normal(size=(4, 2, 3, 3))
    gradcheck(lambda x: batch_norm(x, None, None, training=True), x)
