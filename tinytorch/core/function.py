"""The op protocol: every Tensor operation is a ``Function``, forward and backward side by side.

Module 01 computes: ``Function.apply`` runs ``forward`` on the raw NumPy arrays inside its
arguments and wraps the result in a Tensor. Module 05 (autograd) adds memory: when
``tinytorch/core/autograd.py`` is written, it plugs in with ``register_autograd`` (``import
tinytorch`` imports it), and from then on ``apply`` hands every result to its recorder,
which keeps the graph so that ``backward()`` can send gradients back through each
``backward``. Module 01 imports nothing of module 05: without it the ops still compute;
they just remember nothing.
"""

import numpy as np

__all__ = ["Function", "Context", "register_autograd", "run_backward"]

_recorder = None  # module 05's record(fn, ctx, args, result), once registered; None: ops only compute
_backward = None  # module 05's backward(root, grad, retain_graph), once registered


class Context:
    """What one op saved in forward and needs in backward: one node of the graph.

    ``save_for_backward(*arrays)`` / ``saved_tensors`` hold arrays; any other attribute
    (``ctx.axis = 1``) may be set freely. The autograd engine adds ``fn``, ``parents`` and
    ``needs_input_grad`` (whether each positional input needs a gradient, so backward can
    skip work, e.g. for a first layer's input).
    """

    __slots__ = ("fn", "parents", "needs_input_grad", "saved_tensors", "released", "__dict__")

    def save_for_backward(self, *arrays):
        """Keep arrays for backward (freed after backward unless retain_graph=True)."""
        self.saved_tensors = arrays

    def release(self):
        """Drop saved arrays and free attributes so their memory can be reused."""
        self.saved_tensors = None
        self.__dict__.clear()
        self.released = True


class Function:
    """Base class of differentiable primitives: subclass it and write two static methods.

    ``forward(ctx, *args, **kwargs)`` receives ``np.ndarray`` where Tensors were passed
    (other arguments as they are) and returns an ``np.ndarray``. ``backward(ctx,
    grad_output)`` returns one gradient (``np.ndarray`` or ``None``) per positional forward
    argument; it may return a broadcast-shaped gradient, the engine sums it back to the
    input's shape. ``grad_output`` may be a read-only broadcast view: never modify it in
    place. Call ``MyFunction.apply(*args, **kwargs)`` to get a ``Tensor``.

    Example:
        >>> from tinytorch.core.function import Function
        >>> from tinytorch.core.tensor import Tensor
        >>> class Square(Function):
        ...     @staticmethod
        ...     def forward(ctx, a):
        ...         ctx.save_for_backward(a)
        ...         return a * a
        ...     @staticmethod
        ...     def backward(ctx, grad_output):
        ...         (a,) = ctx.saved_tensors
        ...         return 2 * a * grad_output
        >>> Square.apply(Tensor([3.0])).tolist()
        [9.0]
    """

    # tito: given
    @staticmethod
    def forward(ctx, *args, **kwargs):
        """Compute the output array from input arrays."""
        raise NotImplementedError

    # tito: given
    @staticmethod
    def backward(ctx, grad_output):
        """Return the gradient with respect to each positional input of forward."""
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run forward on the arrays inside ``args``; let autograd record it when present."""
        ctx = Context()
        arrays = [a.data if isinstance(a, Tensor) else a for a in args]
        out = cls.forward(ctx, *arrays, **kwargs)
        if type(out) is not np.ndarray:
            out = np.asarray(out)  # NumPy returns scalars from full reductions
        result = Tensor.__new__(Tensor)
        result.data = out
        result.grad = None
        result._ctx = None
        result.requires_grad = False
        record = _recorder
        if record is not None:
            try:
                record(cls, ctx, args, result)
            except NotImplementedError:  # module 05 is still a skeleton stub: compute, record nothing
                _stop_recording()
        return result


# tito: given
def register_autograd(record, backward):
    """Plug module 05 into the ops: called once by ``tinytorch/core/autograd.py`` when it is imported.

    Args:
        record: ``record(fn, ctx, args, result)``, called by every ``Function.apply`` after
            forward; it keeps ``ctx`` on ``result`` when a gradient will be needed.
        backward: ``backward(root, grad, retain_graph)``, what ``Tensor.backward()`` runs.
    """
    global _recorder, _backward
    _recorder, _backward = record, backward


def _stop_recording():
    """Forget a recorder that is not implemented yet, so ops run as if module 05 were absent."""
    global _recorder
    _recorder = None


def run_backward(root, grad=None, retain_graph=False):
    """Run module 05's backward from ``root``; a clear NotImplementedError while it is not written."""
    if _backward is None:
        raise NotImplementedError(
            "backward() needs module 05 (autograd): tinytorch/core/autograd.py is not written yet"
        )
    _backward(root, grad, retain_graph=retain_graph)


# Imported last: tensor.py imports this module.
from tinytorch.core.tensor import Tensor  # noqa: E402
