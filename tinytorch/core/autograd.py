"""Module 05: autograd, the engine that turns a forward pass into gradients.

Every op is a ``Function`` with its ``forward`` and ``backward`` side by side
(``tinytorch.core.function``); module 01 only ran the forwards. This module gives them
memory: it registers itself with module 01 when imported (``register_autograd``, the last
line of this file; ``import tinytorch`` imports it), after which ``Function.apply`` calls
``record`` for every op, and ``record`` keeps a ``Context`` node on each output when grad
mode is on and some input requires grad. ``backward`` then walks the recorded graph in
reverse topological order (iteratively: no recursion limit), un-broadcasts each gradient to
its input's shape, and accumulates into ``.grad`` of leaves.

Example:
    >>> import numpy as np
    >>> from tinytorch.core.autograd import Function
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

# Function and Context are module 01's op protocol; autograd re-exports Function, its public home.
from tinytorch.core.function import Context, Function, register_autograd
from tinytorch.core.tensor import Tensor

__all__ = ["Function", "Context", "no_grad", "enable_grad", "is_grad_enabled", "backward", "record"]

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


def record(fn, ctx, args, result):
    """Called by ``Function.apply`` for every op: keep the graph node when a gradient will be needed."""
    if not _grad_enabled:
        return
    needs = [isinstance(a, Tensor) and a.requires_grad for a in args]
    if True in needs:
        ctx.fn = fn
        ctx.parents = args
        ctx.needs_input_grad = tuple(needs)
        ctx.released = False
        result._ctx = ctx
        result.requires_grad = True


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
        # Mark a node when it is expanded, not when it is pushed: in x + f(x), x is pushed by
        # the Add before f(x) is expanded, and must still be placed before f(x) in the order.
        if id(node) in visited:
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


# Plug into module 01's ops: from now on every Function.apply records, and Tensor.backward() runs backward.
register_autograd(record, backward)
