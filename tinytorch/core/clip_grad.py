"""Gradient clipping (module 07): bound the global gradient norm before an optimizer step."""

import math

import numpy as np

from tinytorch.core.optimizers import grad_array

__all__ = ["clip_grad_norm"]


def clip_grad_norm(parameters, max_norm):
    """Scale all gradients so their global L2 norm is at most ``max_norm``; return the norm before.

    Same as ``torch.nn.utils.clip_grad_norm_``: the norm is taken over every gradient as if
    concatenated into one vector, and the scale is ``max_norm / (norm + 1e-6)`` when below 1.
    Parameters without a gradient are ignored. Gradients are replaced, not scaled in place,
    so arrays shared between parameters are never scaled twice.
    """
    if max_norm < 0:
        raise ValueError(f"invalid max_norm: {max_norm} (must be >= 0)")
    params = [parameters] if hasattr(parameters, "grad") else list(parameters)
    grads = [(p, grad_array(p)) for p in params]
    grads = [(p, g) for p, g in grads if g is not None]
    if not grads:
        return 0.0
    total = math.sqrt(sum(float(np.vdot(g, g)) for _, g in grads))
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for p, g in grads:
            _set_grad(p, g * np.asarray(coef, dtype=g.dtype))
    return total


def _set_grad(p, g):
    """Store a new gradient array in the same form (ndarray or Tensor) the parameter uses."""
    if p.grad is None or isinstance(p.grad, np.ndarray):
        p.grad = g
    else:
        p.grad.data = g
