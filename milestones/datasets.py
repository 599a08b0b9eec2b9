"""Dataset loaders for the milestones: TinyDigits (ships with the book), MNIST, CIFAR-10.

All loaders return a `Splits` named tuple of float32 images in [0, 1], int64 labels and
class names, and check every file against a pinned checksum before trusting it. Nothing
here downloads unless a reader runs `python -m milestones.datasets download mnist|cifar10`.

Checksum policy: each loader takes a `checksums` mapping {file name: hex digest}; a file
whose name is in the mapping must match it, a file whose name is not is only checked
structurally; `checksums=None` skips hashing. Defaults are the published digests (MD5 of
the canonical MNIST .gz files and CIFAR-10 batch files, as torchvision pins them).
Un-gzipped MNIST files have no published digest: they are parsed strictly instead
(magic number, dimensions, exact length, image/label counts).
"""

import argparse
import gzip
import hashlib
import os
import pickle
import shutil
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent

TINYDIGITS_SHA256 = "c71c6bbf634f1cd5dae48f9720934b01797d6d917cea9dad422ae24586cbe421"

MNIST_FILES = {  # role -> canonical file name (without .gz)
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_URLS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049

CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST = "test_batch"
CIFAR10_META = "batches.meta"
CIFAR10_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"

DOWNLOAD_COMMAND = "python -m milestones.datasets download {name}"
MAKE_COMMAND = "make download-{name}"


class DatasetError(Exception):
    """A dataset is missing, corrupt or malformed; the message says which file and what to do."""


class Splits(NamedTuple):
    """Train/test arrays of one dataset: float32 images in [0, 1], int64 labels, class names."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple


# ---------------------------------------------------------------- paths and checksums

def data_dir():
    """Folder holding downloaded datasets: $TINYTORCH_DATA_DIR, else <repo>/data."""
    env = os.environ.get("TINYTORCH_DATA_DIR")
    return Path(env).expanduser() if env else REPO_ROOT / "data"


def mnist_dir(root=None):
    """MNIST folder: the argument, else $TINYTORCH_MNIST_DIR, else <data dir>/mnist."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("TINYTORCH_MNIST_DIR")
    return Path(env).expanduser() if env else data_dir() / "mnist"


def cifar10_dir(root=None):
    """CIFAR-10 batches folder: the argument, else $TINYTORCH_CIFAR10_DIR, else <data dir>/cifar-10-batches-py."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("TINYTORCH_CIFAR10_DIR")
    return Path(env).expanduser() if env else data_dir() / CIFAR10_FOLDER


def file_digest(path, algorithm):
    """Hex digest of a file's bytes, read in chunks so large files stay cheap on memory."""
    h = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_file(path, expected, algorithm, remedy):
    """Raise DatasetError naming the file, expected and actual digest when they differ."""
    if expected is None:
        return
    actual = file_digest(path, algorithm)
    if actual != expected.lower():
        raise DatasetError(
            f"checksum mismatch for {path}\n  expected {algorithm} {expected}\n"
            f"  actual   {algorithm} {actual}\n"
            f"The file is corrupt, truncated or not the published version. {remedy}"
        )


def expected_digest(checksums, name):
    """Digest pinned for a file name, or None when the mapping (or the name) is absent."""
    return None if checksums is None else checksums.get(name)


# ---------------------------------------------------------------- TinyDigits

def tinydigits_path(path=None):
    """TinyDigits archive path: the argument, else <repo>/data/tinydigits.npz (ships with the book)."""
    return Path(path).expanduser() if path is not None else REPO_ROOT / "data" / "tinydigits.npz"


def load_tinydigits(path=None, sha256=TINYDIGITS_SHA256):
    """Load TinyDigits (1000 train / 200 test 8x8 digits) after checking its sha256."""
    path = tinydigits_path(path)
    remedy = "Regenerate it with `python data/make_tinydigits.py` (needs scikit-learn) or restore it from git."
    if not path.is_file():
        raise DatasetError(f"TinyDigits not found at {path}. {remedy}")
    verify_file(path, sha256, "sha256", remedy)
    arrays = read_npz(path, ("x_train", "y_train", "x_test", "y_test"), remedy)
    splits = Splits(
        x_train=scale_digits(arrays["x_train"], path, remedy),
        y_train=check_labels(arrays["y_train"], len(arrays["x_train"]), 10, path),
        x_test=scale_digits(arrays["x_test"], path, remedy),
        y_test=check_labels(arrays["y_test"], len(arrays["x_test"]), 10, path),
        classes=tuple(str(d) for d in range(10)),
    )
    return splits


def read_npz(path, keys, remedy):
    """Read the named arrays from an .npz (pickles refused), as DatasetError if unreadable."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise DatasetError(f"{path} lacks arrays {missing}. {remedy}")
            return {k: npz[k] for k in keys}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DatasetError(f"{path} is not a readable .npz archive ({exc}). {remedy}") from exc


def scale_digits(images, path, remedy):
    """Check 8x8 uint8 pixels in 0..16 and scale them to float32 in [0, 1]."""
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (8, 8) or images.max() > 16:
        raise DatasetError(
            f"{path}: expected uint8 images (N, 8, 8) with values 0..16, "
            f"got {images.dtype} {images.shape}. {remedy}"
        )
    return images.astype(np.float32) / np.float32(16.0)


def check_labels(labels, count, n_classes, path):
    """Check labels are 1-D, one per image and in range; return them as int64."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != count:
        raise DatasetError(f"{path}: {len(labels)} labels for {count} images (shape {labels.shape}).")
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise DatasetError(f"{path}: labels outside 0..{n_classes - 1}.")
    return labels.astype(np.int64)


# ---------------------------------------------------------------- toy problems (generated)

TWO_CLUSTER_CENTRES = ((0.5, 1.0), (3.0, 3.5))


def two_clusters(n_per_class=100, seed=42, spread=0.7, centres=TWO_CLUSTER_CENTRES):
    """Two Gaussian clusters in 2-D (labels 0 and 1), the perceptron's classic task.

    The clusters sit away from the origin, so the separating line needs its bias too. Drawn
    from NumPy's seeded generator: every run of a chapter sees the same points.
    Returns float32 points (2n, 2) and int64 labels (2n,), shuffled.
    """
    rng = np.random.default_rng(seed)
    points = np.concatenate([rng.normal(c, spread, size=(n_per_class, 2)) for c in centres])
    labels = np.repeat(np.arange(len(centres)), n_per_class)
    order = rng.permutation(len(labels))
    return points[order].astype(np.float32), labels[order].astype(np.int64)


XOR_POINTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR_LABELS = np.array([0, 1, 1, 0], dtype=np.int64)


def xor():
    """The four XOR points and their labels: the problem one linear unit cannot solve."""
    return XOR_POINTS.copy(), XOR_LABELS.copy()


# ---------------------------------------------------------------- MNIST (IDX files)

def mnist_instructions(root=None):
    """How to get MNIST: the folder it is read from, the download command and the URLs."""
    target = mnist_dir(root)
    names = "\n".join(f"    {n}.gz" for n in MNIST_FILES.values())
    return (
        f"MNIST is not bundled with the book. Put the four IDX files (gzipped or not) in\n"
        f"  {target}\n"
        f"(or point $TINYTORCH_MNIST_DIR at another folder). To fetch them, run:\n"
        f"  {MAKE_COMMAND.format(name='mnist')}   (or: {DOWNLOAD_COMMAND.format(name='mnist')})\n"
        f"or download these files by hand from {MNIST_URLS[0]} (mirror) or {MNIST_URLS[1]} (original):\n"
        f"{names}"
    )


def find_mnist_file(root, base):
    """Return the .gz file for a role if present (it has a published checksum), else the plain one, else None."""
    for candidate in (root / (base + ".gz"), root / base):
        if candidate.is_file():
            return candidate
    return None


def mnist_available(root=None):
    """True when all four MNIST files are present (they are verified only when loaded)."""
    root = mnist_dir(root)
    return all(find_mnist_file(root, base) is not None for base in MNIST_FILES.values())


def read_maybe_gzip(path):
    """Return a file's bytes, decompressing it when its name ends in .gz."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"cannot read {path}: {exc}. The file is corrupt or truncated; download it again.") from exc


def parse_idx(raw, path, magic, ndim):
    """Parse IDX bytes (big-endian magic, dims, then uint8 data) into an array, strictly."""
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path} is truncated: {len(raw)} bytes, shorter than its {header}-byte IDX header.")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise DatasetError(
            f"{path} has IDX magic number {found}, expected {magic} "
            f"({'images' if magic == IDX_IMAGES_MAGIC else 'labels'}). Wrong or corrupt file."
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        state = "truncated" if len(raw) < expected else "longer than its header says"
        raise DatasetError(f"{path} is {state}: {len(raw)} bytes, header {dims} implies {expected}. Download it again.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def load_idx_pair(root, split, checksums):
    """Load one split's images and labels, verified and consistent in count."""
    paths = {}
    for kind in ("images", "labels"):
        base = MNIST_FILES[f"{split}_{kind}"]
        path = find_mnist_file(root, base)
        if path is None:
            raise DatasetError(f"MNIST file {base}(.gz) missing from {root}.\n{mnist_instructions(root)}")
        remedy = f"Delete it and run `{DOWNLOAD_COMMAND.format(name='mnist')}`."
        verify_file(path, expected_digest(checksums, path.name), "md5", remedy)
        paths[kind] = path
    images = parse_idx(read_maybe_gzip(paths["images"]), paths["images"], IDX_IMAGES_MAGIC, 3)
    labels = parse_idx(read_maybe_gzip(paths["labels"]), paths["labels"], IDX_LABELS_MAGIC, 1)
    if len(images) != len(labels):
        raise DatasetError(
            f"MNIST {split} split mismatch: {paths['images']} holds {len(images)} images "
            f"but {paths['labels']} holds {len(labels)} labels. Mixed or corrupt files; download them again."
        )
    return images.astype(np.float32) / np.float32(255.0), check_labels(labels, len(images), 10, paths["labels"])


def load_mnist(root=None, checksums=MNIST_MD5):
    """Load MNIST from IDX files (plain or .gz), verifying the published MD5s of the .gz files."""
    root = mnist_dir(root)
    if not root.is_dir():
        raise DatasetError(f"MNIST folder {root} does not exist.\n{mnist_instructions(root)}")
    x_train, y_train = load_idx_pair(root, "train", checksums)
    x_test, y_test = load_idx_pair(root, "test", checksums)
    return Splits(x_train, y_train, x_test, y_test, tuple(str(d) for d in range(10)))


# ---------------------------------------------------------------- CIFAR-10 (python pickles)

def numpy_reconstruct():
    """numpy's array-unpickling helper, under its NumPy 2 name or its NumPy 1 name."""
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # NumPy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


SAFE_GLOBALS = {
    # the real batches (Python 2 pickles) name numpy.core.*; NumPy 2 writes numpy._core.*
    ("numpy.core.multiarray", "_reconstruct"): numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): numpy_reconstruct,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    # Python 3 protocol-2 pickles encode bytes as _codecs.encode(str, 'latin1')
    ("_codecs", "encode"): lambda: __import__("codecs").encode,
}


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds plain containers and numpy arrays, never arbitrary callables."""

    def find_class(self, module, name):
        """Allow only the numpy array reconstruction globals; refuse everything else."""
        factory = SAFE_GLOBALS.get((module, name))
        if factory is None:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR-10 batch")
        return factory()


def unpickle(path):
    """Safely unpickle a CIFAR batch (latin1 decodes Python 2 strings as str, like torchvision)."""
    try:
        with open(path, "rb") as f:
            return SafeUnpickler(f, encoding="latin1").load()
    except Exception as exc:  # any failure on untrusted bytes means a bad file
        raise DatasetError(f"cannot unpickle {path}: {exc}. The file is corrupt or not a CIFAR-10 batch.") from exc


def field(batch, key, path):
    """Return batch[key], accepting str or bytes keys (Python 2/3 pickles differ)."""
    if not isinstance(batch, dict):
        raise DatasetError(f"{path} does not hold a dict (found {type(batch).__name__}); not a CIFAR-10 batch.")
    for k in (key, key.encode()):
        if k in batch:
            return batch[k]
    raise DatasetError(f"{path} lacks the '{key}' entry; not a CIFAR-10 batch.")


def read_batch(path):
    """Read one batch file: uint8 images (N, 3, 32, 32) and int64 labels."""
    batch = unpickle(path)
    data = field(batch, "data", path)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DatasetError(f"{path}: 'data' must be a uint8 array (N, 3072), got {type(data).__name__} "
                           f"{getattr(data, 'dtype', '')} {getattr(data, 'shape', '')}.")
    labels = check_labels(np.asarray(field(batch, "labels", path)), len(data), 10, path)
    return data.reshape(-1, 3, 32, 32), labels


def read_label_names(path):
    """Read the ten class names from batches.meta."""
    names = field(unpickle(path), "label_names", path)
    names = [n.decode() if isinstance(n, bytes) else n for n in names]
    if len(names) != 10 or not all(isinstance(n, str) for n in names):
        raise DatasetError(f"{path}: expected 10 label names, got {names!r}.")
    return tuple(names)


def cifar10_instructions(root=None):
    """How to get CIFAR-10: the folder it is read from, the download command and the URL."""
    target = cifar10_dir(root)
    return (
        f"CIFAR-10 is not bundled with the book. Put the python-version batches folder at\n"
        f"  {target}\n"
        f"(data_batch_1..5, test_batch, batches.meta; or point $TINYTORCH_CIFAR10_DIR at it). To fetch it, run:\n"
        f"  {MAKE_COMMAND.format(name='cifar10')}   (or: {DOWNLOAD_COMMAND.format(name='cifar10')})\n"
        f"or download and extract {CIFAR10_URL} (about 163 MB) by hand."
    )


def cifar10_available(root=None):
    """True when every CIFAR-10 batch file is present (they are verified only when loaded)."""
    root = cifar10_dir(root)
    return all((root / n).is_file() for n in (*CIFAR10_TRAIN, CIFAR10_TEST, CIFAR10_META))


def load_cifar10(root=None, checksums=CIFAR10_MD5):
    """Load CIFAR-10 from the python batches, verifying each file's published MD5."""
    root = cifar10_dir(root)
    if not root.is_dir():
        raise DatasetError(f"CIFAR-10 folder {root} does not exist.\n{cifar10_instructions(root)}")
    remedy = f"Delete the folder and run `{DOWNLOAD_COMMAND.format(name='cifar10')}`."
    for name in (*CIFAR10_TRAIN, CIFAR10_TEST, CIFAR10_META):
        path = root / name
        if not path.is_file():
            raise DatasetError(f"CIFAR-10 file {name} missing from {root}.\n{cifar10_instructions(root)}")
        verify_file(path, expected_digest(checksums, name), "md5", remedy)
    train = [read_batch(root / n) for n in CIFAR10_TRAIN]
    x_test, y_test = read_batch(root / CIFAR10_TEST)
    scale = np.float32(255.0)
    return Splits(
        x_train=np.concatenate([x for x, _ in train]).astype(np.float32) / scale,
        y_train=np.concatenate([y for _, y in train]),
        x_test=x_test.astype(np.float32) / scale,
        y_test=y_test,
        classes=read_label_names(root / CIFAR10_META),
    )


# ---------------------------------------------------------------- opt-in downloader

def fetch(url, dest):
    """Download url to dest (via a temporary file), printing progress to stderr."""
    print(f"downloading {url}", file=sys.stderr)
    tmp = dest.with_name(dest.name + ".part")
    with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        done = 0
        for chunk in iter(lambda: response.read(1 << 20), b""):
            out.write(chunk)
            done += len(chunk)
            pct = f" {100 * done / total:5.1f}%" if total else ""
            print(f"\r  {done / 1e6:8.1f} MB{pct}", end="", file=sys.stderr)
    print(file=sys.stderr)
    tmp.replace(dest)


def download_mnist(root=None):
    """Fetch the four MNIST .gz files (mirror first, then the original site) and verify them."""
    root = mnist_dir(root)
    root.mkdir(parents=True, exist_ok=True)
    for base in MNIST_FILES.values():
        name = base + ".gz"
        dest = root / name
        if dest.is_file() and file_digest(dest, "md5") == MNIST_MD5[name]:
            print(f"{dest} already present and verified", file=sys.stderr)
            continue
        errors = []
        for mirror in MNIST_URLS:
            try:
                fetch(mirror + name, dest)
                break
            except OSError as exc:
                errors.append(f"{mirror}{name}: {exc}")
        else:
            raise DatasetError("could not download MNIST:\n  " + "\n  ".join(errors))
        verify_file(dest, MNIST_MD5[name], "md5", "Run the download again.")
    return root


def download_cifar10(root=None):
    """Fetch the CIFAR-10 python archive, verify it, and extract the batch files into root."""
    root = cifar10_dir(root)
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        archive = Path(tmp) / "cifar-10-python.tar.gz"
        try:
            fetch(CIFAR10_URL, archive)
        except OSError as exc:
            raise DatasetError(f"could not download {CIFAR10_URL}: {exc}") from exc
        verify_file(archive, CIFAR10_ARCHIVE_MD5, "md5", "Run the download again.")
        extract_batches(archive, root)
    load_cifar10(root)  # verifies every extracted file
    return root


def extract_batches(archive, root):
    """Copy only the known batch files out of the archive (no arbitrary paths are written)."""
    wanted = {f"{CIFAR10_FOLDER}/{n}": n for n in CIFAR10_MD5}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            name = wanted.pop(member.name, None)
            if name is None or not member.isfile():
                continue
            with tar.extractfile(member) as src, open(root / name, "wb") as dst:
                shutil.copyfileobj(src, dst)
    if wanted:
        raise DatasetError(f"{archive} lacks {sorted(wanted)}; not the CIFAR-10 python archive.")


DOWNLOADERS = {"mnist": download_mnist, "cifar10": download_cifar10}


def download(name, root=None):
    """Explicitly download a dataset by name ('mnist' or 'cifar10'); never called by builds or tests."""
    if name not in DOWNLOADERS:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {sorted(DOWNLOADERS)}.")
    return DOWNLOADERS[name](root)


def main(argv=None):
    """Command line: `python -m milestones.datasets download mnist|cifar10 [--root DIR]`."""
    parser = argparse.ArgumentParser(prog="python -m milestones.datasets", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    dl = sub.add_parser("download", help="download a dataset (opt-in, needs network)")
    dl.add_argument("name", help="mnist or cifar10")
    dl.add_argument("--root", default=None, help="target folder (default: see the env vars in data/README.md)")
    args = parser.parse_args(argv)
    if args.name not in DOWNLOADERS:
        print(f"unknown dataset {args.name!r}: choose one of {', '.join(sorted(DOWNLOADERS))}", file=sys.stderr)
        return 2
    try:
        print(f"{args.name} ready in {download(args.name, args.root)}")
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())


# ================================================================ TinyTalks and TinyTales (text, generated)
#
# Two small text corpora written for the book by deterministic generators in data/ (see
# data/README.md): TinyTalks, short question-and-answer dialogues with train/validation/test
# splits that share no question, and TinyTales, short stories for character-level language
# models. The command line above does not use them, so they sit after it.

TINYTALKS_SHA256 = "78d56195ef3763b4f8fc92ac0f50c92711d99c3fcaffeb2281eae198b2f5d1aa"
TINYTALKS_SPLITS = ("train", "validation", "test")
TINYTALKS_CATEGORIES = ("greeting", "world", "arithmetic", "comparison", "spelling", "reversal", "recall")
TINYTALKS_MAX_CHARS = 64  # every formatted dialogue "Q: ...\nA: ...\n" fits in this many characters
TINYTALKS_HEADER = "split\tcategory\tquestion\tanswer"
TINYTALKS_REMEDY = "regenerate it with `python data/make_tinytalks.py` (or restore it from git)"


class Dialogue(NamedTuple):
    """One TinyTalks exchange: a question, its exact expected answer, and its category."""

    question: str
    answer: str
    category: str


class TinyTalks(NamedTuple):
    """The three TinyTalks splits, each a tuple of Dialogue; no question appears in two splits."""

    train: tuple
    validation: tuple
    test: tuple


def format_dialogue(d):
    """The text a model reads and writes for one dialogue: "Q: <question>\\nA: <answer>\\n".

    >>> format_dialogue(Dialogue("What is 2 + 3?", "5", "arithmetic"))
    'Q: What is 2 + 3?\\nA: 5\\n'
    """
    return f"Q: {d.question}\nA: {d.answer}\n"


def dialogue_prompt(d):
    """The prompt that asks a model for the answer: format_dialogue(d) cut after "A: ".

    Greedy generation from this prompt until a newline should reproduce d.answer.

    >>> dialogue_prompt(Dialogue("What is 2 + 3?", "5", "arithmetic"))
    'Q: What is 2 + 3?\\nA: '
    """
    return f"Q: {d.question}\nA: "


def tinytalks_path(path=None):
    """TinyTalks file path: the argument, else <repo>/data/tinytalks.tsv (ships with the book)."""
    return Path(path).expanduser() if path is not None else REPO_ROOT / "data" / "tinytalks.tsv"


def read_checked_text(path, sha256, name, remedy):
    """Read a shipped ASCII text file after checking its sha256; one-line DatasetError otherwise."""
    if not path.is_file():
        raise DatasetError(f"{name} file {path} is missing; {remedy}.")
    raw = path.read_bytes()
    if sha256 is not None:
        actual = hashlib.sha256(raw).hexdigest()
        if actual != sha256.lower():
            raise DatasetError(
                f"{name} file {path} is corrupt or modified: sha256 {actual} differs from the pinned {sha256}; {remedy}."
            )
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{name} file {path} is not ASCII text (byte {exc.start}); {remedy}.") from exc


def parse_tinytalks(text, path):
    """Parse TinyTalks TSV text into a TinyTalks of Dialogue tuples, checking every line strictly."""
    lines = text.split("\n")
    if lines[0] != TINYTALKS_HEADER or lines[-1] != "":
        raise DatasetError(f"TinyTalks file {path} has a wrong header or no final newline; {TINYTALKS_REMEDY}.")
    splits = {name: [] for name in TINYTALKS_SPLITS}
    seen = set()
    for number, line in enumerate(lines[1:-1], start=2):
        fields = line.split("\t")
        problem = None
        if len(fields) != 4:
            problem = f"{len(fields)} tab-separated fields instead of 4"
        elif fields[0] not in splits:
            problem = f"unknown split {fields[0]!r}"
        elif fields[1] not in TINYTALKS_CATEGORIES:
            problem = f"unknown category {fields[1]!r}"
        elif not fields[2] or not fields[3] or not all(" " <= ch <= "~" for ch in fields[2] + fields[3]):
            problem = "an empty or non-printable question or answer"
        elif fields[2] in seen:
            problem = f"the question {fields[2]!r} appears twice"
        if problem is None:
            d = Dialogue(question=fields[2], answer=fields[3], category=fields[1])
            if len(format_dialogue(d)) > TINYTALKS_MAX_CHARS:
                problem = f"a dialogue longer than {TINYTALKS_MAX_CHARS} characters"
        if problem is not None:
            raise DatasetError(f"TinyTalks file {path}, line {number}: {problem}; {TINYTALKS_REMEDY}.")
        seen.add(d.question)
        splits[fields[0]].append(d)
    return TinyTalks(**{name: tuple(ds) for name, ds in splits.items()})


def load_tinytalks(path=None, sha256=TINYTALKS_SHA256):
    """Load TinyTalks (2,011 dialogues: train/validation/test) after checking its sha256.

    Returns TinyTalks(train, validation, test), each a tuple of Dialogue(question, answer,
    category) in the file's (shuffled, fixed) order. A missing, corrupt or malformed file
    raises DatasetError in one line naming the file, the problem and the fix;
    sha256=None skips the checksum (the lines are still checked).

    >>> talks = load_tinytalks()
    >>> len(talks.train) > len(talks.validation) > 0
    True
    """
    path = tinytalks_path(path)
    return parse_tinytalks(read_checked_text(path, sha256, "TinyTalks", TINYTALKS_REMEDY), path)


def tinytalks_text(split, path=None):
    """All dialogues of one split ("train", "validation" or "test"), formatted and concatenated.

    >>> tinytalks_text("train").startswith("Q: ")
    True
    """
    if split not in TINYTALKS_SPLITS:
        raise ValueError(f"tinytalks_text: unknown split {split!r}; choose one of {TINYTALKS_SPLITS}")
    return "".join(format_dialogue(d) for d in getattr(load_tinytalks(path), split))


TINYTALES_SHA256 = "7adaeaad6de18a352c6e2ad8593b6480e9b2bf1ce8c51673dd7822ee390e6a5a"
TINYTALES_VALIDATION_STORIES = 40  # the last 40 stories; the first 360 are for training
TINYTALES_ENTROPY_NATS_PER_CHAR = 0.1128  # the generator's own cross-entropy on the validation stories
TINYTALES_REMEDY = "regenerate it with `python data/make_tinytales.py` (or restore it from git)"


class TextCorpus(NamedTuple):
    """A text corpus for character-level language models: training and validation text.

    `entropy_nats_per_char` is the generator's own cross-entropy on the validation text,
    the floor a model's validation loss (in nats per character) approaches but cannot beat
    on average; perplexity floor = exp(entropy_nats_per_char).
    """

    train: str
    validation: str
    entropy_nats_per_char: float


def tinytales_path(path=None):
    """TinyTales file path: the argument, else <repo>/data/tinytales.txt (ships with the book)."""
    return Path(path).expanduser() if path is not None else REPO_ROOT / "data" / "tinytales.txt"


def load_text_corpus(path=None, sha256=TINYTALES_SHA256):
    """Load TinyTales (400 short generated stories, about 125 KB) after checking its sha256.

    Each story is one line followed by a blank line ("\\n\\n"). The first 360 stories are
    the training text, the last 40 the validation text (train + validation is the whole
    file); both hold only printable ASCII and newlines. A missing, corrupt or malformed file
    raises DatasetError in one line naming the file, the problem and the fix.

    >>> corpus = load_text_corpus()
    >>> len(corpus.train) > len(corpus.validation) > 0 and corpus.validation.endswith(".\\n\\n")
    True
    """
    path = tinytales_path(path)
    text = read_checked_text(path, sha256, "TinyTales", TINYTALES_REMEDY)
    stories = text[:-2].split("\n\n") if text.endswith("\n\n") else []
    if len(stories) <= TINYTALES_VALIDATION_STORIES or any(not s or not s.isprintable() for s in stories):
        raise DatasetError(
            f"TinyTales file {path} is malformed: expected more than {TINYTALES_VALIDATION_STORIES} "
            f"one-line stories separated by blank lines; {TINYTALES_REMEDY}."
        )
    cut = len(stories) - TINYTALES_VALIDATION_STORIES
    return TextCorpus(
        train="".join(s + "\n\n" for s in stories[:cut]),
        validation="".join(s + "\n\n" for s in stories[cut:]),
        entropy_nats_per_char=TINYTALES_ENTROPY_NATS_PER_CHAR,
    )
