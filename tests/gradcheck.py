"""Central-difference gradient check in float64, reusable by every op's tests.

Signature:
    gradcheck(fn, *inputs, eps=1e-6, rtol=1e-5, atol=1e-5, seed=0) -> None

    fn      callable taking one Tensor per input and returning a Tensor (any shape).
    inputs  np.ndarrays (or lists). Floating inputs are cast to float64 and checked
            (passed as Tensor(requires_grad=True)); integer/bool inputs are passed as
            constant Tensors (class targets, index arrays, masks).

It reduces the output to a scalar with fixed random weights (a Jacobian-vector product,
stricter than a plain sum), compares the analytic gradient from ``backward()`` with
central differences (f(x + eps) - f(x - eps)) / (2 eps) element by element, and raises
AssertionError naming the input, the worst element and both values on mismatch.
Keep inputs small: it calls ``fn`` twice per input element.

Example:
    gradcheck(lambda a, b: a * b, np.random.randn(3, 1), np.random.randn(4))
"""

import numpy as np

from tinytorch.core.autograd import no_grad
from tinytorch.core.tensor import Tensor

__all__ = ["gradcheck", "numerical_grad"]


def _is_float(array):
    """True for inputs whose gradient is checked."""
    return array.dtype.kind == "f"


def _tensors(arrays):
    """Wrap inputs: float64 tensors that require grad, other dtypes as constants."""
    return [Tensor(a, requires_grad=True, dtype=np.float64) if _is_float(a) else Tensor(a, dtype=a.dtype) for a in arrays]


def _weighted_sum(fn, arrays, weights):
    """Scalar objective sum(fn(*arrays) * weights) evaluated without recording a graph."""
    with no_grad():
        out = fn(*_tensors(arrays))
    return float((out.data * weights).sum())


def numerical_grad(fn, arrays, index, weights, eps=1e-6):
    """Central-difference gradient of sum(fn(*arrays) * weights) w.r.t. arrays[index]."""
    x = arrays[index]
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        plus = _weighted_sum(fn, arrays, weights)
        flat[i] = original - eps
        minus = _weighted_sum(fn, arrays, weights)
        flat[i] = original
        gflat[i] = (plus - minus) / (2 * eps)
    return grad


def gradcheck(fn, *inputs, eps=1e-6, rtol=1e-5, atol=1e-5, seed=0):
    """Assert the analytic gradient of ``fn`` matches central differences for every float input."""
    arrays = [np.array(a, dtype=np.float64) if _is_float(np.asarray(a)) else np.asarray(a) for a in inputs]
    tensors = _tensors(arrays)
    out = fn(*tensors)
    assert out.dtype == np.float64, f"gradcheck: output dtype {out.dtype}, expected float64 (op upcast/downcast?)"
    weights = np.random.default_rng(seed).standard_normal(out.shape)
    (out * Tensor(weights, dtype=np.float64)).sum().backward()
    for index, (array, tensor) in enumerate(zip(arrays, tensors)):
        if not _is_float(array):
            continue
        numeric = numerical_grad(fn, arrays, index, weights, eps)
        analytic = tensor.grad if tensor.grad is not None else np.zeros_like(array)
        assert analytic.shape == array.shape, f"input {index}: grad shape {analytic.shape} != {array.shape}"
        close = np.isclose(analytic, numeric, rtol=rtol, atol=atol)
        if not close.all():
            worst = np.unravel_index(np.argmax(np.abs(analytic - numeric)), array.shape)
            raise AssertionError(
                f"gradcheck: input {index} shape {array.shape}: analytic {analytic[worst]:.8g} vs "
                f"numeric {numeric[worst]:.8g} at {worst} ({(~close).sum()} of {close.size} elements differ)"
            )


def parameter_gradcheck(objective, module, eps=1e-6, rtol=1e-5, atol=1e-6):
    """Assert every parameter's ``.grad`` from ``objective().backward()`` matches central differences.

    ``objective`` returns a scalar Tensor computed by ``module`` (cast to float64 first); each
    parameter is checked on its first, a middle and its last entry, naming the parameter on mismatch.
    """
    module.zero_grad()
    objective().backward()
    for name, param in module.named_parameters():
        flat, grad = param.data.reshape(-1), param.grad.reshape(-1)
        for index in np.unique([0, flat.size // 3, flat.size - 1]):
            saved, values = flat[index], []
            for delta in (eps, -eps):
                flat[index] = saved + delta
                with no_grad():
                    values.append(objective().item())
            flat[index] = saved
            numeric = (values[0] - values[1]) / (2 * eps)
            assert abs(grad[index] - numeric) <= atol + rtol * abs(numeric), (name, index, grad[index], numeric)
