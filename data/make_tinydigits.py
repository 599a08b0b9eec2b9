"""Regenerate data/tinydigits.npz from scikit-learn's copy of the UCI digits set.

TinyDigits: 1,000 training and 200 test 8x8 images (100 and 20 per class), drawn
with np.random.default_rng(42). scikit-learn is needed only to run this script;
the book reads the .npz with NumPy alone (milestones.datasets.load_tinydigits).

The archive is written byte-for-byte reproducibly: fixed zip timestamps and
ZIP_STORED entries (no zlib, whose output can differ between zlib builds), so
the sha256 printed at the end is the one pinned in milestones/datasets.py.

Usage: python data/make_tinydigits.py [output.npz]
"""

import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

SEED = 42
TRAIN_PER_CLASS = 100
TEST_PER_CLASS = 20
FIXED_DATE = (1998, 7, 1, 0, 0, 0)  # zip entry timestamp; the UCI set's year
OUT = Path(__file__).resolve().parent / "tinydigits.npz"


def load_uci_digits():
    """Return sklearn's bundled UCI digits as uint8 images (1797,8,8) and labels."""
    from sklearn.datasets import load_digits  # dev-only dependency, bundled data

    digits = load_digits()
    images = digits.images
    assert images.min() >= 0 and images.max() <= 16 and np.all(images == np.round(images))
    return images.astype(np.uint8), digits.target.astype(np.uint8)


def draw_split(labels, rng):
    """Pick disjoint per-class train/test indices, then shuffle each split's order."""
    train, test = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(labels == c))
        train.append(idx[:TRAIN_PER_CLASS])
        test.append(idx[TRAIN_PER_CLASS:TRAIN_PER_CLASS + TEST_PER_CLASS])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def npy_bytes(array):
    """Serialize one array in .npy format (what np.load expects inside an .npz)."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def write_npz(path, arrays):
    """Write an .npz with fixed timestamps and stored entries, so bytes are reproducible."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=FIXED_DATE)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            zf.writestr(info, npy_bytes(array))


def build():
    """Return the four TinyDigits arrays drawn with seed 42."""
    images, labels = load_uci_digits()
    train, test = draw_split(labels, np.random.default_rng(SEED))
    assert not set(train) & set(test)
    return {
        "x_train": images[train], "y_train": labels[train],
        "x_test": images[test], "y_test": labels[test],
    }


def main(argv):
    """Build the dataset, write it, print its size and sha256."""
    out = Path(argv[1]) if len(argv) > 1 else OUT
    write_npz(out, build())
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    print(f"sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
