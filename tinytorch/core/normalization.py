"""Module 09, normalization: batch normalization for images (BatchNorm2d) and features (BatchNorm1d).

Ioffe and Szegedy (2015): normalise each channel by the mean and variance of the batch, then
let the network rescale it (``weight``) and shift it (``bias``). Training uses the batch's
statistics and keeps an exponential running average of them; evaluation uses the running
averages, so one image's output never depends on the rest of its batch.

One fused primitive, ``BatchNormFunction``, with the forward and the backward side by side.
The backward in training mode is the textbook formula: the batch mean and variance are
functions of every input, so the gradient of each input has two extra terms, both one
reduction each (no graph of a dozen element-wise ops):

    dx = inv_std * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)),  dx_hat = g * weight

The statistics run over every axis but the channel axis 1: (N,) for (N, C) features,
(N, L) for sequences, (N, H, W) for images. Same semantics as PyTorch, momentum included:
``running = (1 - momentum) * running + momentum * batch``, with the *unbiased* batch
variance in the running average and the biased one in the normalisation.
"""

from __future__ import annotations

import numpy as np

from tinytorch.core.autograd import Function
from tinytorch.core.layers import Module, Parameter
from tinytorch.core.tensor import Tensor

__all__ = ["BatchNorm1d", "BatchNorm2d", "batch_norm", "BatchNormFunction"]


def _channel_view(array: np.ndarray, ndim: int) -> np.ndarray:
    """A per-channel vector (C,) shaped to broadcast against (N, C, ...) of ``ndim`` axes."""
    return array.reshape((1, -1) + (1,) * (ndim - 2))


class BatchNormFunction(Function):
    """Fused batch normalization over every axis but 1; updates the running statistics in place.

    Positional inputs: x (N, C, *), weight (C,) or None, bias (C,) or None, running_mean (C,)
    or None, running_var (C,) or None. Keywords: training, momentum (the weight of this batch
    in the running averages), eps.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
        axes = (0,) + tuple(range(2, x.ndim))
        if training:
            count = x.size // x.shape[1]
            if count < 2:
                raise ValueError(f"BatchNorm: expected more than 1 value per channel when training, "
                                 f"got input shape {x.shape}")
            mean = x.mean(axis=axes)
            var = x.var(axis=axes)                                   # biased: what normalises
            if running_mean is not None:
                running_mean *= 1 - momentum
                running_mean += momentum * mean
            if running_var is not None:
                running_var *= 1 - momentum
                running_var += momentum * var * (count / (count - 1))  # unbiased, as torch
        else:
            mean, var = running_mean, running_var
        inv_std = 1.0 / np.sqrt(var + eps)
        x_hat = (x - _channel_view(mean, x.ndim)) * _channel_view(inv_std, x.ndim)
        out = x_hat if weight is None else x_hat * _channel_view(weight, x.ndim)
        if bias is not None:
            out = out + _channel_view(bias, x.ndim)
        ctx.save_for_backward(x_hat, inv_std.astype(x_hat.dtype, copy=False), weight)
        ctx.training = training
        return out.astype(np.result_type(x, *(a for a in (weight, bias) if a is not None)), copy=False)

    @staticmethod
    def backward(ctx, grad_output):
        x_hat, inv_std, weight = ctx.saved_tensors
        needs_x, needs_w, needs_b = ctx.needs_input_grad[:3]
        axes = (0,) + tuple(range(2, x_hat.ndim))
        grad_w = (grad_output * x_hat).sum(axis=axes) if needs_w else None
        grad_b = grad_output.sum(axis=axes) if needs_b else None
        grad_x = None
        if needs_x:
            g_hat = grad_output if weight is None else grad_output * _channel_view(weight, x_hat.ndim)
            if ctx.training:  # mean and variance depend on every input of the channel
                g_hat = (g_hat - g_hat.mean(axis=axes, keepdims=True)
                         - x_hat * (g_hat * x_hat).mean(axis=axes, keepdims=True))
            grad_x = g_hat * _channel_view(inv_std, x_hat.ndim)
        return grad_x, grad_w, grad_b, None, None


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalization over every axis but 1, as ``torch.nn.functional.batch_norm``.

    ``out = (x - mean) / sqrt(var + eps) * weight + bias`` per channel, with the batch's
    statistics when ``training`` (then ``running_mean``/``running_var``, if given, are updated
    in place) and the running ones otherwise.

    Args:
        input: Tensor (N, C, *).
        running_mean, running_var: Tensors (C,) or None (required when not training).
        weight, bias: Tensors (C,) or None.
        training: use and record batch statistics.
        momentum: weight of this batch in the running averages.
        eps: added to the variance for stability.

    Examples:
        >>> import numpy as np
        >>> from tinytorch.core.normalization import batch_norm
        >>> from tinytorch.core.tensor import Tensor
        >>> x = Tensor(np.array([[1.0], [3.0]]))
        >>> batch_norm(x, None, None, training=True).data.ravel().round(3)
        array([-1.,  1.], dtype=float32)
    """
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: running_mean and running_var are required when training=False")
    return BatchNormFunction.apply(input, weight, bias, running_mean, running_var,
                                   training=training, momentum=momentum, eps=eps)


class _BatchNorm(Module):
    """Shared by BatchNorm1d and BatchNorm2d: parameters, buffers and the train/eval switch."""

    expected_dims: tuple[int, ...] = ()
    shape_text = ""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)) or num_features < 1:
            raise ValueError(f"{type(self).__name__}: num_features must be a positive integer, got {num_features!r}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{type(self).__name__}: momentum must be in [0, 1] or None, got {momentum!r}")
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(np.ones(num_features, dtype=np.float32)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype=np.float32)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype=np.float32)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype=np.float32)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batch seen."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self) -> None:
        """Running statistics reset, weight 1 and bias 0 (the identity after normalising)."""
        self.reset_running_stats()
        if self.affine:
            self.weight.data[...] = 1
            self.bias.data[...] = 0

    def forward(self, x):
        if x.ndim not in self.expected_dims or x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}) expects input {self.shape_text} "
                             f"with C={self.num_features}, got shape {tuple(x.shape)}")
        momentum = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if momentum is None:                      # cumulative moving average, as torch
                momentum = 1.0 / float(self.num_batches_tracked.data)
        batch_stats = self.training or not self.track_running_stats
        return batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                          batch_stats, momentum or 0.0, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of features: y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias per feature.

    Statistics over the batch (and the length L of a sequence input); the running averages
    replace them in eval mode.

    Args:
        num_features: C, the number of features (channels).
        eps: added to the variance. Default 1e-5.
        momentum: weight of each batch in the running averages; None for a cumulative
            average. Default 0.1.
        affine: learn weight (init 1) and bias (init 0). Default True.
        track_running_stats: keep running averages (else batch statistics in eval too).

    Shape:
        (N, C) or (N, C, L) -> same shape.

    Examples:
        >>> import numpy as np
        >>> from tinytorch.core.normalization import BatchNorm1d
        >>> from tinytorch.core.tensor import Tensor
        >>> bn = BatchNorm1d(3)
        >>> bn(Tensor(np.random.default_rng(0).normal(5, 2, (8, 3)))).shape
        (8, 3)
        >>> bool(bn.running_mean.data.min() > 0.4)   # 0.1 of a batch mean near 5
        True
    """

    expected_dims = (2, 3)
    shape_text = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization of images: y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias per channel.

    Statistics over the batch and every pixel of a channel (N*H*W values); the running
    averages replace them in eval mode.

    Args:
        num_features: C, the number of channels.
        eps: added to the variance. Default 1e-5.
        momentum: weight of each batch in the running averages; None for a cumulative
            average. Default 0.1.
        affine: learn weight (init 1) and bias (init 0). Default True.
        track_running_stats: keep running averages (else batch statistics in eval too).

    Shape:
        (N, C, H, W) -> same shape.

    Examples:
        >>> import numpy as np
        >>> from tinytorch.core.normalization import BatchNorm2d
        >>> from tinytorch.core.tensor import Tensor
        >>> bn = BatchNorm2d(6)
        >>> out = bn(Tensor(np.random.default_rng(0).normal(3, 2, (4, 6, 8, 8))))
        >>> out.shape, bool(abs(out.data.mean()) < 1e-5)
        ((4, 6, 8, 8), True)
    """

    expected_dims = (4,)
    shape_text = "(N, C, H, W)"
