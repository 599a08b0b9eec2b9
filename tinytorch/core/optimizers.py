"""Optimizers: turn gradients into parameter updates (module 06).

Each optimizer updates ``p.data`` in place with vectorized NumPy, one array operation per
parameter, and follows PyTorch's update rules exactly so results match ``torch.optim``.
Per-parameter state (momentum buffers, Adam moments, step counts) lives in
``optimizer.state``, a list aligned with ``optimizer.params``; ``state_dict()`` exports it so
a training run can be checkpointed and resumed bit for bit.
"""

import math
import numbers

import numpy as np

__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]


def grad_array(p):
    """Return a parameter's gradient as an ndarray (or None), whether stored as array or Tensor."""
    g = p.grad
    if g is None or isinstance(g, np.ndarray):
        return g
    return np.asarray(g.data)


def _check_nonnegative(name, value):
    """Reject hyperparameters that are not finite numbers >= 0, with the offending value in the message."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"invalid {name}: {value!r} is a {type(value).__name__}, not a number")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"invalid {name}: {value} (must be a finite number >= 0)")


class Optimizer:
    """Base class: holds the parameters, the learning rate and per-parameter state.

    Subclasses implement ``_update(p, g, state)`` for one parameter; ``step()`` calls it for
    every parameter that has a gradient. Schedulers change the learning rate by setting
    ``optimizer.lr``.

    Args:
        params: iterable of Tensors to optimize (a generator such as ``model.parameters()``
            is fine).
        lr: learning rate, >= 0.
        **hyper: further scalar hyperparameters, stored as attributes and in ``state_dict()``.

    Example::

        >>> from tinytorch.core.optimizers import SGD
        >>> from tinytorch.core.tensor import Tensor
        >>> w = Tensor([1.0, -2.0], requires_grad=True)
        >>> opt = SGD([w], lr=0.1)
        >>> opt.zero_grad(); (w * w).sum().backward(); opt.step()
        >>> w.tolist()
        [0.800000011920929, -1.600000023841858]
    """

    def __init__(self, params, lr, **hyper):
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        _check_nonnegative("learning rate", lr)
        self.lr = lr
        self._hyper_names = ["lr", *hyper]
        for name, value in hyper.items():
            setattr(self, name, value)
        self.state = [{} for _ in self.params]

    def zero_grad(self):
        """Drop every parameter's gradient (set to None, as PyTorch does by default)."""
        for p in self.params:
            p.grad = None

    def step(self):
        """Apply one update to every parameter that has a gradient; others are skipped."""
        for p, state in zip(self.params, self.state):
            g = grad_array(p)
            if g is not None:
                self._update(p, g, state)

    # tito: given
    def _update(self, p, g, state):
        """Update one parameter in place from its gradient; subclasses define the rule."""
        raise NotImplementedError

    def state_dict(self):
        """Return hyperparameters and per-parameter state (arrays copied) for checkpoints."""
        hyper = {name: getattr(self, name) for name in self._hyper_names}
        state = {
            i: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
            for i, s in enumerate(self.state)
            if s
        }
        return {"hyper": hyper, "state": state}

    def load_state_dict(self, state_dict):
        """Restore what ``state_dict()`` returned, checking that buffers fit the parameters."""
        for name, value in state_dict["hyper"].items():
            if name not in self._hyper_names:
                raise ValueError(f"unexpected hyperparameter {name!r} for {type(self).__name__}")
            setattr(self, name, value)
        new_state = [{} for _ in self.params]
        for i, s in state_dict["state"].items():
            i = int(i)
            if not 0 <= i < len(self.params):
                raise ValueError(
                    f"optimizer state for parameter {i}, but the optimizer has "
                    f"{len(self.params)} parameters"
                )
            shape = self.params[i].data.shape
            for k, v in s.items():
                if isinstance(v, np.ndarray) and v.shape != shape:
                    raise ValueError(
                        f"optimizer state {k!r} of parameter {i} has shape {v.shape}, "
                        f"parameter has shape {shape}"
                    )
            new_state[i] = {
                k: (v.astype(self.params[i].data.dtype, copy=True) if isinstance(v, np.ndarray) else v)
                for k, v in s.items()
            }
        self.state = new_state

    def __repr__(self):
        hyper = ", ".join(f"{n}={getattr(self, n)}" for n in self._hyper_names)
        return f"{type(self).__name__}({len(self.params)} params, {hyper})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov and L2 weight decay.

    Same rule as ``torch.optim.SGD`` with dampening 0::

        g = grad + weight_decay * p
        buf = g                      (first step)
        buf = momentum * buf + g     (later steps)
        g = g + momentum * buf  if nesterov  else  buf
        p = p - lr * g

    Args:
        params: iterable of Tensors to optimize.
        lr: learning rate.
        momentum: momentum factor (0 disables the buffer).
        weight_decay: L2 penalty added to the gradient.
        nesterov: use Nesterov momentum (needs momentum > 0).

    Example::

        >>> from tinytorch.core.layers import Linear
        >>> from tinytorch.core.optimizers import SGD
        >>> opt = SGD(Linear(4, 2).parameters(), lr=0.1, momentum=0.9)
        >>> opt
        SGD(2 params, lr=0.1, momentum=0.9, weight_decay=0.0, nesterov=False)
    """

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
        _check_nonnegative("momentum", momentum)
        _check_nonnegative("weight_decay", weight_decay)
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum requires momentum > 0")
        super().__init__(
            params, lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov
        )

    def _update(self, p, g, state):
        """One SGD step on ``p.data`` in place."""
        if self.weight_decay:
            g = g + self.weight_decay * p.data
        if self.momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(g, dtype=p.data.dtype, copy=True)
            else:
                buf *= self.momentum
                buf += g
            g = g + self.momentum * buf if self.nesterov else buf
        p.data -= self.lr * g


def _check_betas(betas):
    """Betas are decay rates of running averages: each must lie in [0, 1)."""
    betas = tuple(betas)
    numeric = all(isinstance(b, numbers.Real) and not isinstance(b, bool) for b in betas)
    if len(betas) != 2 or not numeric or not all(0.0 <= b < 1.0 for b in betas):
        raise ValueError(f"invalid betas {betas!r}: need two numbers in [0, 1)")
    return tuple(float(b) for b in betas)


class Adam(Optimizer):
    """Adam: per-parameter step sizes from running averages of the gradient and its square.

    Same rule as ``torch.optim.Adam``; ``weight_decay`` is an L2 penalty added to the
    gradient (use :class:`AdamW` for decoupled decay)::

        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        p = p - lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)

    Args:
        params: iterable of Tensors to optimize.
        lr: learning rate.
        betas: decay rates (b1, b2) of the first and second moment, each in [0, 1).
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty added to the gradient.

    Example::

        >>> from tinytorch.core.layers import Linear
        >>> from tinytorch.core.optimizers import Adam
        >>> opt = Adam(Linear(4, 2).parameters(), lr=1e-3)
        >>> opt.betas
        (0.9, 0.999)
    """

    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        _check_nonnegative("eps", eps)
        _check_nonnegative("weight_decay", weight_decay)
        super().__init__(params, lr, betas=_check_betas(betas), eps=eps, weight_decay=weight_decay)

    def load_state_dict(self, state_dict):
        """Restore state; betas come back from JSON as a list, so make them a tuple again."""
        super().load_state_dict(state_dict)
        self.betas = _check_betas(self.betas)

    def _update(self, p, g, state):
        """One Adam step on ``p.data`` in place."""
        if self.weight_decay:
            if self.decoupled:
                p.data *= 1.0 - self.lr * self.weight_decay
            else:
                g = g + self.weight_decay * p.data
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p.data)
            state["exp_avg_sq"] = np.zeros_like(p.data)
        b1, b2 = self.betas
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        v += (1.0 - b2) * np.square(g)
        update = np.sqrt(v)  # one scratch array, reused in place for the whole update
        update /= math.sqrt(1.0 - b2**t)
        update += self.eps
        np.divide(m, update, out=update)
        update *= self.lr / (1.0 - b1**t)
        p.data -= update


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - lr * weight_decay`` before the Adam step.

    Same rule as ``torch.optim.AdamW``: the decay does not pass through the moment estimates,
    so every weight shrinks at the same relative rate.

    Args:
        params: iterable of Tensors to optimize.
        lr: learning rate.
        betas: decay rates (b1, b2) of the first and second moment, each in [0, 1).
        eps: added to the denominator for numerical stability.
        weight_decay: decoupled decay coefficient (default 1e-2, as PyTorch).

    Example::

        >>> from tinytorch.core.layers import Linear
        >>> from tinytorch.core.optimizers import AdamW
        >>> opt = AdamW(Linear(4, 2).parameters(), lr=3e-4, weight_decay=0.1)
        >>> opt.weight_decay
        0.1
    """

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
