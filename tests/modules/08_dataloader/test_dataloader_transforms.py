"""Module 08 transforms: RandomCrop, RandomHorizontalFlip, Compose and TransformDataset.

Each augmented image is checked against the original it came from (a shifted window of the
padded image, or its mirror), offsets and flips are checked to cover their whole range and
to follow the framework seed, and the DataLoader path is checked end to end.
"""

import numpy as np
import pytest

from tinytorch.core.dataloader import DataLoader
from tinytorch.core.random import manual_seed
from tinytorch.core.tensor import Tensor
from tinytorch.core.transforms import (
    Compose,
    RandomCrop,
    RandomHorizontalFlip,
    TransformDataset,
)


def distinct_images(n=64, c=2, h=5, w=6):
    """Every pixel different and non-zero, so a crop or a mirror has exactly one origin."""
    return (np.arange(n * c * h * w, dtype=np.float32) + 1).reshape(n, c, h, w)


def crop_offset(padded, crop):
    """The (top, left) at which ``crop`` sits in ``padded`` (one image), or None."""
    oh, ow = crop.shape[1:]
    for top in range(padded.shape[1] - oh + 1):
        for left in range(padded.shape[2] - ow + 1):
            if np.array_equal(padded[:, top:top + oh, left:left + ow], crop):
                return top, left
    return None


def test_random_crop_cuts_each_image_from_its_own_padded_original():
    manual_seed(0)
    x = distinct_images()
    out = RandomCrop((5, 6), padding=(2, 1))(x)
    assert out.shape == x.shape and out.dtype == np.float32
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (1, 1)))
    offsets = [crop_offset(padded[i], out[i]) for i in range(len(x))]
    assert None not in offsets
    tops, lefts = zip(*offsets)
    assert set(tops) == set(range(5)) and set(lefts) == set(range(3))  # every offset is reachable


def test_random_crop_smaller_than_the_image_and_fill_value():
    manual_seed(1)
    x = distinct_images(n=32)
    out = RandomCrop(3, padding=1, fill=-1.0)(x)
    assert out.shape == (32, 2, 3, 3)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-1.0)
    assert all(crop_offset(padded[i], out[i]) is not None for i in range(32))
    assert (out == -1.0).any()


def test_random_crop_without_padding_at_full_size_is_the_identity():
    x = distinct_images(n=4)
    np.testing.assert_array_equal(RandomCrop((5, 6))(x), x)


def test_random_horizontal_flip_mirrors_some_images_and_keeps_the_rest():
    manual_seed(2)
    x = distinct_images(n=400, h=2, w=3)
    out = RandomHorizontalFlip()(x)
    flipped = np.array([np.array_equal(o, i[..., ::-1]) for o, i in zip(out, x)])
    kept = np.array([np.array_equal(o, i) for o, i in zip(out, x)])
    assert (flipped ^ kept).all()                      # each image is one or the other, never both
    assert 0.4 < flipped.mean() < 0.6
    np.testing.assert_array_equal(RandomHorizontalFlip(p=0.0)(x), x)
    np.testing.assert_array_equal(RandomHorizontalFlip(p=1.0)(x), x[..., ::-1])


def test_the_framework_seed_fixes_the_augmentation():
    x = distinct_images()
    augment = Compose([RandomCrop((5, 6), padding=2), RandomHorizontalFlip()])
    manual_seed(7)
    first = augment(x)
    manual_seed(7)
    np.testing.assert_array_equal(augment(x), first)
    assert not np.array_equal(augment(x), first)      # the next draw differs


def test_tensors_in_give_tensors_out_without_a_graph():
    x = Tensor(distinct_images(n=3), requires_grad=True)
    out = Compose([RandomCrop((5, 6), padding=1), RandomHorizontalFlip()])(x)
    assert isinstance(out, Tensor) and out.dtype == np.float32 and not out.requires_grad


def test_compose_runs_the_transforms_in_order():
    calls = []
    Compose([lambda b: calls.append("a") or b, lambda b: calls.append("b") or b])(distinct_images(n=1))
    assert calls == ["a", "b"]
    assert repr(Compose([RandomHorizontalFlip(0.25)])) == "Compose(RandomHorizontalFlip(p=0.25))"


def test_transform_dataset_augments_every_batch_afresh_and_leaves_labels_alone():
    manual_seed(3)
    x, y = distinct_images(n=10), np.arange(10)
    data = TransformDataset(x, y, transform=RandomHorizontalFlip(p=1.0))
    batches = list(DataLoader(data, batch_size=4, shuffle=True))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    for images, labels in batches:
        np.testing.assert_array_equal(images.data, x[labels.data][..., ::-1])
    image, label = data[3]
    assert image.shape == (2, 5, 6) and int(label.data) == 3
    np.testing.assert_array_equal(image.data, x[3][..., ::-1])
    np.testing.assert_array_equal(data[1:3][0].data, x[1:3][..., ::-1])


# ----------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("transform", [RandomCrop(2), RandomHorizontalFlip()])
def test_a_single_image_is_refused_with_its_shape(transform):
    with pytest.raises(ValueError, match=r"expects a batch of images \(N, C, H, W\), got shape \(2, 5, 6\)"):
        transform(np.zeros((2, 5, 6)))


def test_crop_larger_than_the_padded_image():
    with pytest.raises(ValueError, match=r"RandomCrop: size \(9, 9\) is larger than the padded image \(7, 8\)"):
        RandomCrop(9, padding=1)(distinct_images(n=1))


@pytest.mark.parametrize("make, match", [
    (lambda: RandomCrop(0), "RandomCrop size must be an int >= 1"),
    (lambda: RandomCrop(4, padding=-1), "RandomCrop padding must be an int >= 0"),
    (lambda: RandomCrop((4, 4, 4)), "RandomCrop size"),
    (lambda: RandomHorizontalFlip(1.5), r"p must be a probability in \[0, 1\], got 1.5"),
    (lambda: TransformDataset(np.zeros((2, 1, 2, 2)), transform="flip"), "transform must be callable"),
])
def test_bad_arguments(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()
