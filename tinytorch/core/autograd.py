"""Module 05: autograd, the engine that turns a forward pass into gradients.

Every differentiable primitive is a ``Function`` subclass with its ``forward`` and
``backward`` side by side (see ``tinytorch.core.functions``). ``Function.apply`` runs the
forward on raw NumPy arrays and, only when grad mode is on and some input requires grad,
records a ``Context`` node on the output ``Tensor``. ``backward`` then walks the recorded
graph in reverse topological order (iteratively: no recursion limit), un-broadcasts each
gradient to its input's shape, and accumulates into ``.grad`` of leaf tensors.

Example:
    >>> import numpy as np
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
    >>> x = Tensor([3.0], requires_grad=True)
    >>> Square.apply(x).sum().backward()
    >>> x.grad
    array([6.], dtype=float32)
"""

import functools

import numpy as np

__all__ = ["Function", "Context", "no_grad", "enable_grad", "is_grad_enabled", "backward"]

_grad_enabled = True


def is_grad_enabled() -> bool:
    """Return True when operations are being recorded for backward."""
    return _grad_enabled


class _GradMode:
    """Context manager / decorator that sets grad mode on entry and restores it on exit."""

    mode = True

    def __new__(cls, func=None):
        """Allow the bare decorator form ``@no_grad`` as well as ``@no_grad()``."""
        instance = super().__new__(cls)
        return instance(func) if callable(func) else instance

    def __enter__(self):
        global _grad_enabled
        self._previous = _grad_enabled
        _grad_enabled = self.mode
        return self

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._previous
        return False

    def __call__(self, func):
        """Use as a decorator: run ``func`` with this grad mode."""

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with type(self)():
                return func(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Disable graph recording (evaluation, optimizer updates): ``with no_grad(): ...`` or ``@no_grad()``."""

    mode = False


class enable_grad(_GradMode):
    """Re-enable graph recording inside a ``no_grad`` block."""

    mode = True


class Context:
    """One node of the graph: what a Function saved in forward and needs in backward.

    ``save_for_backward(*arrays)`` / ``saved_tensors`` hold arrays; any other attribute
    (``ctx.axis = 1``) may be set freely. ``needs_input_grad[i]`` tells backward whether
    positional input ``i`` needs a gradient, so it can skip work (e.g. a first layer's input).
    """

    __slots__ = ("fn", "parents", "needs_input_grad", "saved_tensors", "released", "__dict__")

    def save_for_backward(self, *arrays):
        """Keep arrays for backward (released after backward unless retain_graph=True)."""
        self.saved_tensors = arrays

    def release(self):
        """Drop saved arrays and free attributes so their memory can be reused."""
        self.saved_tensors = None
        self.__dict__.clear()
        self.released = True


class Function:
    """Base class of differentiable primitives: subclass and write two static methods.

    ``forward(ctx, *args, **kwargs)`` receives ``np.ndarray`` where Tensors were passed
    (other arguments as-is) and returns an ``np.ndarray``. ``backward(ctx, grad_output)``
    returns one gradient (``np.ndarray`` or ``None``) per positional forward argument; it
    may return a broadcast-shaped gradient, the engine sums it back to the input's shape.
    ``grad_output`` may be a read-only broadcast view: never modify it in place.
    Call ``MyFunction.apply(*args, **kwargs)`` to get a ``Tensor``.
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        """Compute the output array from input arrays."""
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_output):
        """Return the gradient w.r.t. each positional input of forward."""
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run forward on the arrays inside ``args`` and record the graph when needed."""
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
        if _grad_enabled:
            needs = [isinstance(a, Tensor) and a.requires_grad for a in args]
            if True in needs:
                ctx.fn = cls
                ctx.parents = args
                ctx.needs_input_grad = tuple(needs)
                ctx.released = False
                result._ctx = ctx
                result.requires_grad = True
        return result


def _unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched so it has ``shape``."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra < 0:
        return np.broadcast_to(grad, shape)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1
    )
    grad = grad.sum(axis=axes, keepdims=True) if axes else grad
    return grad.reshape(shape)


def _released_error():
    """The error raised when backward reaches a node whose saved arrays were freed."""
    return RuntimeError(
        "Trying to backward through the graph a second time: its saved arrays were freed "
        "after the first backward. Pass retain_graph=True to the first backward() call."
    )


def _topological_order(root):
    """Return every tensor that requires grad and feeds ``root``, inputs before outputs.

    Iterative depth-first search: a node is appended after all its parents (post-order),
    so reversing the list visits each node after every node that uses it.
    """
    order, visited, stack = [], set(), [(root, False)]
    append, push, pop, seen = order.append, stack.append, stack.pop, visited.add
    while stack:
        node, expanded = pop()
        if expanded:
            append(node)
            continue
        if id(node) in visited:  # pushed twice (reached by two paths): expand it once, the first time popped
            continue
        seen(id(node))
        push((node, True))
        ctx = node._ctx
        if ctx is None:
            continue
        if ctx.released:
            raise _released_error()
        for parent, needed in zip(ctx.parents, ctx.needs_input_grad):
            if needed and id(parent) not in visited:
                push((parent, False))
    return order


def backward(root, grad=None, retain_graph=False):
    """Backpropagate from ``root``: accumulate d(root)/d(leaf) into every leaf's ``.grad``."""
    if not root.requires_grad:
        raise RuntimeError("backward(): tensor does not require grad and has no grad_fn")
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"backward(): grad can be implicitly created only for scalar outputs, "
                f"got shape {root.data.shape}; pass a gradient of that shape"
            )
        grad = np.ones(root.data.shape, dtype=root.data.dtype)
    else:
        grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=root.data.dtype)
        if grad.shape != root.data.shape:
            raise RuntimeError(
                f"backward(): gradient shape {grad.shape} does not match tensor shape {root.data.shape}"
            )
    grads = {id(root): grad}
    for node in reversed(_topological_order(root)):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        ctx = node._ctx
        if ctx is None:
            _accumulate_leaf(node, g)
            continue
        if ctx.released:
            raise _released_error()
        input_grads = ctx.fn.backward(ctx, g)
        if type(input_grads) is not tuple:
            input_grads = (input_grads,)
        for parent, needed, pg in zip(ctx.parents, ctx.needs_input_grad, input_grads):
            if needed and pg is not None:
                _send(grads, parent, pg)
        if not retain_graph:
            ctx.release()


def _send(grads, parent, grad):
    """Shape and cast ``grad`` to ``parent`` and add it to the pending gradient."""
    data = parent.data
    if type(grad) is not np.ndarray:
        grad = np.asarray(grad)  # NumPy returns scalars, not 0-d arrays, from 0-d math
    if grad.shape != data.shape:
        grad = _unbroadcast(grad, data.shape)
    if grad.dtype != data.dtype:
        grad = grad.astype(data.dtype)
    key = id(parent)
    pending = grads.get(key)
    grads[key] = grad if pending is None else pending + grad


def _accumulate_leaf(leaf, grad):
    """Add ``grad`` into ``leaf.grad`` (an owned ndarray, never a view shared with others)."""
    if leaf.grad is None:
        leaf.grad = grad.copy()  # _send already cast it to the leaf's dtype
    else:
        leaf.grad = leaf.grad + grad


# Imported last: tensor.py imports this module, and Function.apply needs Tensor only at call time.
from tinytorch.core.tensor import Tensor  # noqa: E402
