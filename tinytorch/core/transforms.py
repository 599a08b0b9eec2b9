"""Module 08, transforms: random image augmentation, a whole batch at a time.

A network that sees the same 50,000 photographs every epoch starts to memorise them. Showing
each one shifted by a few pixels or mirrored left to right makes every epoch a slightly new
data set, for free: a cat is still a cat. These transforms work on a whole NCHW batch at
once (one gather for the crops, one select for the flips), each image drawing its own
offsets from the framework generator (``tinytorch.manual_seed`` fixes them all).

``TransformDataset`` is a ``TensorDataset`` whose inputs pass through a transform each time
a batch is drawn, so a ``DataLoader`` over it yields a fresh augmentation every epoch.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tinytorch.core.dataloader import TensorDataset
from tinytorch.core.random import rng
from tinytorch.core.tensor import Tensor

__all__ = ["RandomCrop", "RandomHorizontalFlip", "Compose", "TransformDataset"]


def _images(name, batch):
    """The NCHW array behind a batch (Tensor or array), checked; and whether it was a Tensor."""
    is_tensor = isinstance(batch, Tensor)
    array = batch.data if is_tensor else np.asarray(batch)
    if array.ndim != 4:
        raise ValueError(f"{name} expects a batch of images (N, C, H, W), got shape {array.shape}")
    return array, is_tensor


def _pair(value, name, minimum):
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum
                             for v in pair):
        raise ValueError(f"{name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


class RandomCrop:
    """Pad each image with ``fill`` and cut out a ``size`` window at a random place, per image.

    With ``padding=4`` and ``size=32`` on 32x32 images, every image moves by up to 4 pixels in
    each direction (the classic CIFAR-10 augmentation). The offsets are drawn per image from
    ``tinytorch.core.random.rng()``: rows first, then columns.

    Args:
        size: output (h, w), or an int for a square.
        padding: pixels added on each side (int or (ph, pw)). Default 0.
        fill: value of the padding. Default 0.

    Shape:
        (N, C, H, W) -> (N, C, h, w); a Tensor in gives a Tensor out (no gradient), an array an array.

    Examples:
        >>> import numpy as np
        >>> from tinytorch.core.transforms import RandomCrop
        >>> x = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
        >>> RandomCrop(4, padding=2)(x).shape
        (2, 3, 4, 4)
    """

    def __init__(self, size, padding=0, fill=0.0):
        self.size = _pair(size, "RandomCrop size", 1)
        self.padding = _pair(padding, "RandomCrop padding", 0)
        self.fill = fill

    def __call__(self, batch):
        """Crop every image of the batch at its own random offset."""
        x, is_tensor = _images("RandomCrop", batch)
        n, c, h, w = x.shape
        (ph, pw), (oh, ow) = self.padding, self.size
        if oh > h + 2 * ph or ow > w + 2 * pw:
            raise ValueError(f"RandomCrop: size {self.size} is larger than the padded image "
                             f"({h + 2 * ph}, {w + 2 * pw}) (input shape {x.shape}, padding {self.padding})")
        padded = x
        if ph or pw:
            padded = np.full((n, c, h + 2 * ph, w + 2 * pw), self.fill, dtype=x.dtype)
            padded[:, :, ph:ph + h, pw:pw + w] = x
        top = rng().integers(0, padded.shape[2] - oh + 1, n)
        left = rng().integers(0, padded.shape[3] - ow + 1, n)
        windows = sliding_window_view(padded, (oh, ow), axis=(2, 3))  # (N, C, rows, cols, oh, ow), a view
        out = windows[np.arange(n), :, top, left]                       # one gather: (N, C, oh, ow)
        return Tensor(out) if is_tensor else out

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror each image left to right with probability ``p``, independently per image.

    Args:
        p: probability of flipping an image. Default 0.5.

    Shape:
        (N, C, H, W) -> same; a Tensor in gives a Tensor out (no gradient), an array an array.

    Examples:
        >>> import numpy as np
        >>> from tinytorch.core.transforms import RandomHorizontalFlip
        >>> x = np.arange(4, dtype=np.float32).reshape(1, 1, 1, 4)
        >>> RandomHorizontalFlip(p=1.0)(x)
        array([[[[3., 2., 1., 0.]]]], dtype=float32)
    """

    def __init__(self, p=0.5):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)

    def __call__(self, batch):
        """Flip a random subset of the batch's images."""
        x, is_tensor = _images("RandomHorizontalFlip", batch)
        flip = rng().random(len(x)) < self.p
        out = np.where(flip[:, None, None, None], x[..., ::-1], x)
        return Tensor(out) if is_tensor else out

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class Compose:
    """Apply transforms one after another, in order.

    Examples:
        >>> import numpy as np
        >>> from tinytorch.core.transforms import Compose, RandomCrop, RandomHorizontalFlip
        >>> augment = Compose([RandomCrop(32, padding=4), RandomHorizontalFlip()])
        >>> augment(np.zeros((8, 3, 32, 32), dtype=np.float32)).shape
        (8, 3, 32, 32)
    """

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, batch):
        """Run the batch through every transform."""
        for transform in self.transforms:
            batch = transform(batch)
        return batch

    def __repr__(self):
        return "Compose(" + ", ".join(repr(t) for t in self.transforms) + ")"


class TransformDataset(TensorDataset):
    """A ``TensorDataset`` whose first array (the inputs) passes through ``transform`` each time
    it is read: every batch a ``DataLoader`` draws is augmented afresh; the labels are untouched.

    Args:
        *tensors: as ``TensorDataset`` (inputs first).
        transform: callable on a batch of inputs (e.g. ``Compose([...])``).

    Examples:
        >>> import numpy as np
        >>> from tinytorch.core.dataloader import DataLoader
        >>> from tinytorch.core.transforms import RandomCrop, TransformDataset
        >>> data = TransformDataset(np.zeros((10, 3, 8, 8)), np.arange(10),
        ...                         transform=RandomCrop(8, padding=1))
        >>> [tuple(t.shape) for t in next(iter(DataLoader(data, batch_size=4)))]
        [(4, 3, 8, 8), (4,)]
    """

    def __init__(self, *tensors, transform):
        super().__init__(*tensors)
        if not callable(transform):
            raise TypeError(f"TransformDataset: transform must be callable, got {type(transform).__name__}")
        self.transform = transform

    def __getitem__(self, index):
        first, *rest = super().__getitem__(index)
        single = first.ndim == 3                      # one image: transform it as a batch of one
        x = self.transform(first.data[None] if single else first.data)
        return (Tensor(x[0] if single else x), *rest)

    def batch(self, indices):
        """Rows ``indices`` of every array, the inputs transformed (what a DataLoader calls)."""
        first, *rest = super().batch(indices)
        return (self.transform(first), *rest)
