"""Tests for milestones.datasets: TinyDigits, MNIST (IDX) and CIFAR-10 (pickles), offline."""

import gzip
import hashlib
import os
import pickle
import shutil

import numpy as np
import pytest

from milestones import datasets as ds
from milestones.datasets import DatasetError


def md5(path):
    """MD5 hex digest of a file, as the loaders' checksum mappings expect."""
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def no_dataset_env(monkeypatch):
    """Keep a developer's dataset env vars from leaking into the tests."""
    for var in ("TINYTORCH_DATA_DIR", "TINYTORCH_MNIST_DIR", "TINYTORCH_FASHION_MNIST_DIR", "TINYTORCH_CIFAR10_DIR"):
        monkeypatch.delenv(var, raising=False)


# ---------------------------------------------------------------- TinyDigits

def test_tinydigits_shapes_dtypes_ranges():
    d = ds.load_tinydigits()
    assert d.x_train.shape == (1000, 8, 8) and d.x_test.shape == (200, 8, 8)
    assert d.x_train.dtype == np.float32 and d.x_test.dtype == np.float32
    assert d.y_train.dtype == np.int64 and d.y_test.dtype == np.int64
    assert d.x_train.min() == 0.0 and d.x_train.max() == 1.0
    assert 0.0 <= d.x_test.min() and d.x_test.max() <= 1.0
    assert d.classes == tuple("0123456789")


def test_tinydigits_class_balance_and_disjoint():
    d = ds.load_tinydigits()
    assert np.bincount(d.y_train, minlength=10).tolist() == [100] * 10
    assert np.bincount(d.y_test, minlength=10).tolist() == [20] * 10
    train = {x.tobytes() for x in d.x_train}
    assert not any(x.tobytes() in train for x in d.x_test)


def test_tinydigits_checksum_pinned():
    path = ds.tinydigits_path()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == ds.TINYDIGITS_SHA256


def test_tinydigits_regeneration_is_byte_identical(tmp_path):
    pytest.importorskip("sklearn")
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_tinydigits", ds.REPO_ROOT / "data" / "make_tinydigits.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    out = tmp_path / "regen.npz"
    make.write_npz(out, make.build())
    assert out.read_bytes() == ds.tinydigits_path().read_bytes()


def test_tinydigits_missing_file(tmp_path):
    missing = tmp_path / "nope.npz"
    with pytest.raises(DatasetError) as err:
        ds.load_tinydigits(missing)
    assert str(missing) in str(err.value) and "python data/make_tinydigits.py" in str(err.value)


def corrupt_copy(tmp_path):
    """Copy TinyDigits into tmp_path and flip some bytes in the middle."""
    path = tmp_path / "tinydigits.npz"
    shutil.copy(ds.tinydigits_path(), path)
    raw = bytearray(path.read_bytes())
    for i in range(len(raw) // 2, len(raw) // 2 + 8):
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))
    return path


def test_tinydigits_corrupt_file_checksum(tmp_path):
    path = corrupt_copy(tmp_path)
    with pytest.raises(DatasetError) as err:
        ds.load_tinydigits(path)
    msg = str(err.value)
    assert str(path) in msg and ds.TINYDIGITS_SHA256 in msg
    assert hashlib.sha256(path.read_bytes()).hexdigest() in msg


def test_tinydigits_corrupt_file_unverified_still_detected(tmp_path):
    path = corrupt_copy(tmp_path)
    with pytest.raises(DatasetError, match="not a readable .npz"):
        ds.load_tinydigits(path, sha256=None)


@pytest.mark.parametrize("garbage", [b"garbage " * 40, b"", b"\x80\x04K\x01."])
def test_tinydigits_garbage_file_unverified_is_a_dataset_error(tmp_path, garbage):
    """Not a zip at all (np.load would try it as a pickle): a DatasetError, never NumPy's allow_pickle advice."""
    path = tmp_path / "tinydigits.npz"
    path.write_bytes(garbage)
    with pytest.raises(DatasetError, match="not a readable .npz archive") as err:
        ds.load_tinydigits(path, sha256=None)
    assert "allow_pickle" not in str(err.value) and str(path) in str(err.value)


# ---------------------------------------------------------------- MNIST

def idx_bytes(array, magic):
    """Encode a uint8 array in the IDX format (big-endian magic and dims, then data)."""
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_mnist(root, n_train=5, n_test=3, gz=False, seed=0):
    """Write four tiny real-format MNIST files; return the arrays and their md5 checksums."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    checksums = {}
    for role, array in arrays.items():
        magic = ds.IDX_IMAGES_MAGIC if role.endswith("images") else ds.IDX_LABELS_MAGIC
        raw = idx_bytes(array, magic)
        name = ds.MNIST_FILES[role] + (".gz" if gz else "")
        path = root / name
        path.write_bytes(gzip.compress(raw, mtime=0) if gz else raw)
        checksums[name] = md5(path)
    return arrays, checksums


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_loads_end_to_end(tmp_path, gz):
    arrays, checksums = write_mnist(tmp_path, gz=gz)
    d = ds.load_mnist(tmp_path, checksums=checksums)
    assert d.x_train.shape == (5, 28, 28) and d.x_test.shape == (3, 28, 28)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
    np.testing.assert_allclose(d.x_train * 255, arrays["train_images"], atol=1e-4)
    assert d.y_test.tolist() == arrays["test_labels"].tolist()
    assert ds.mnist_available(tmp_path)


def test_mnist_env_var_root(tmp_path, monkeypatch):
    write_mnist(tmp_path / "elsewhere")
    monkeypatch.setenv("TINYTORCH_MNIST_DIR", str(tmp_path / "elsewhere"))
    assert ds.load_mnist(checksums=None).x_train.shape == (5, 28, 28)


def test_mnist_data_dir_env_var(tmp_path, monkeypatch):
    write_mnist(tmp_path / "mnist")
    monkeypatch.setenv("TINYTORCH_DATA_DIR", str(tmp_path))
    assert ds.mnist_dir() == tmp_path / "mnist" and ds.mnist_available()


def test_mnist_plain_files_pass_default_policy(tmp_path):
    write_mnist(tmp_path)  # no published digest for raw bytes: structure checks only
    assert len(ds.load_mnist(tmp_path).y_train) == 5


def test_mnist_gz_checked_against_published_md5(tmp_path):
    write_mnist(tmp_path, gz=True)
    with pytest.raises(DatasetError) as err:
        ds.load_mnist(tmp_path)
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz" in msg and ds.MNIST_MD5["train-images-idx3-ubyte.gz"] in msg


def test_mnist_wrong_checksum(tmp_path):
    _, checksums = write_mnist(tmp_path)
    name = "t10k-labels-idx1-ubyte"
    actual = checksums[name]
    checksums[name] = "0" * 32
    with pytest.raises(DatasetError) as err:
        ds.load_mnist(tmp_path, checksums=checksums)
    msg = str(err.value)
    assert name in msg and "0" * 32 in msg and actual in msg


def test_mnist_bad_magic(tmp_path):
    write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    raw = bytearray(path.read_bytes())
    raw[3] = 0x01  # 2049: a labels magic number in an images file
    path.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match="magic number 2049, expected 2051") as err:
        ds.load_mnist(tmp_path, checksums=None)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("keep", [6, 100])
def test_mnist_truncated(tmp_path, keep):
    write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(DatasetError, match="truncated") as err:
        ds.load_mnist(tmp_path, checksums=None)
    assert str(path) in str(err.value)


def test_mnist_truncated_gz(tmp_path):
    write_mnist(tmp_path, gz=True)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DatasetError, match="corrupt or truncated"):
        ds.load_mnist(tmp_path, checksums=None)


def test_idx_header_whose_dimensions_overflow_int64_is_a_dataset_error(tmp_path):
    """2^22 * 2^22 * 2^20 = 2^64 wraps to 0 in int64: the 16-byte header alone looked complete."""
    write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    header = ds.IDX_IMAGES_MAGIC.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (2**22, 2**22, 2**20))
    path.write_bytes(header)
    with pytest.raises(DatasetError, match="truncated") as err:
        ds.load_mnist(tmp_path, checksums=None)
    assert str(path) in str(err.value) and "(4194304, 4194304, 1048576)" in str(err.value)


def test_mnist_count_mismatch(tmp_path):
    write_mnist(tmp_path)
    labels = np.zeros(4, dtype=np.uint8)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(labels, ds.IDX_LABELS_MAGIC))
    with pytest.raises(DatasetError, match="5 images but .* 4 labels"):
        ds.load_mnist(tmp_path, checksums=None)


def test_mnist_missing_folder(tmp_path):
    root = tmp_path / "absent"
    assert not ds.mnist_available(root)
    with pytest.raises(DatasetError) as err:
        ds.load_mnist(root)
    msg = str(err.value)
    assert str(root) in msg and "python -m milestones.datasets download mnist" in msg
    assert "ossci-datasets.s3.amazonaws.com/mnist" in msg and "yann.lecun.com/exdb/mnist" in msg


def test_mnist_missing_one_file(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    assert not ds.mnist_available(tmp_path)
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte"):
        ds.load_mnist(tmp_path)


def test_mnist_instructions_text(tmp_path):
    text = ds.mnist_instructions(tmp_path)
    assert str(tmp_path) in text and "download mnist" in text and "TINYTORCH_MNIST_DIR" in text


# ---------------------------------------------------------------- Fashion-MNIST

def sha256(data):
    return hashlib.sha256(data).hexdigest()


def write_fashion(root, n_train=6, n_test=4, gz=True, compresslevel=9, seed=1):
    """Four tiny real-format Fashion-MNIST files; return the arrays and the SHA-256 of each decompressed file."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    checksums = {}
    for role, array in arrays.items():
        magic = ds.IDX_IMAGES_MAGIC if role.endswith("images") else ds.IDX_LABELS_MAGIC
        raw = idx_bytes(array, magic)
        base = ds.FASHION_MNIST_FILES[role]
        if gz:
            (root / (base + ".gz")).write_bytes(gzip.compress(raw, compresslevel=compresslevel, mtime=0))
        else:
            (root / base).write_bytes(raw)
        checksums[base] = sha256(raw)
    return arrays, checksums


@pytest.fixture
def no_system_fashion(monkeypatch, tmp_path):
    """Point the Debian location at an empty folder, so a machine's installed package stays out of the test."""
    monkeypatch.setattr(ds, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "usr-share-datasets-fashion-mnist")
    monkeypatch.setenv("TINYTORCH_DATA_DIR", str(tmp_path / "data"))
    return ds.FASHION_MNIST_SYSTEM_DIR


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_loads_end_to_end(tmp_path, gz):
    arrays, checksums = write_fashion(tmp_path, gz=gz)
    d = ds.load_fashion_mnist(tmp_path, checksums=checksums)
    assert d.x_train.shape == (6, 28, 28) and d.x_test.shape == (4, 28, 28)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
    np.testing.assert_allclose(d.x_test * 255, arrays["test_images"], atol=1e-4)
    assert d.y_train.tolist() == arrays["train_labels"].tolist()
    assert d.classes == ds.FASHION_MNIST_CLASSES and d.classes[9] == "Ankle boot"


def test_fashion_mnist_checksums_are_of_the_decompressed_bytes(tmp_path):
    """The same content recompressed differently (as Debian did) has other .gz bytes and still validates."""
    _, checksums = write_fashion(tmp_path / "authors", compresslevel=9)
    write_fashion(tmp_path / "debian", compresslevel=1)
    name = "train-images-idx3-ubyte.gz"
    assert md5(tmp_path / "authors" / name) != md5(tmp_path / "debian" / name)
    a = ds.load_fashion_mnist(tmp_path / "authors", checksums=checksums)
    b = ds.load_fashion_mnist(tmp_path / "debian", checksums=checksums)
    assert np.array_equal(a.x_train, b.x_train)


def test_fashion_mnist_wrong_content_is_named(tmp_path):
    _, checksums = write_fashion(tmp_path)
    base = "t10k-labels-idx1-ubyte"
    actual, checksums[base] = checksums[base], "0" * 64
    with pytest.raises(DatasetError) as err:
        ds.load_fashion_mnist(tmp_path, checksums=checksums)
    msg = str(err.value)
    assert "decompressed contents" in msg and base + ".gz" in msg and "0" * 64 in msg and actual in msg


def test_fashion_mnist_pinned_checksums_reject_other_files(tmp_path):
    write_fashion(tmp_path)
    with pytest.raises(DatasetError, match="sha256 " + ds.FASHION_MNIST_SHA256["train-images-idx3-ubyte"]):
        ds.load_fashion_mnist(tmp_path)


def test_fashion_mnist_search_order(tmp_path, monkeypatch, no_system_fashion):
    local = tmp_path / "data" / "fashion-mnist"
    assert ds.fashion_mnist_dir() == local and not ds.fashion_mnist_available()
    write_fashion(no_system_fashion)  # only the system copy: it is found
    assert ds.fashion_mnist_dir() == no_system_fashion and ds.fashion_mnist_available()
    write_fashion(local)  # a copy under data/ wins over the system one
    assert ds.fashion_mnist_dir() == local
    monkeypatch.setenv("TINYTORCH_FASHION_MNIST_DIR", str(tmp_path / "mine"))  # the env var wins, even empty
    assert ds.fashion_mnist_dir() == tmp_path / "mine" and not ds.fashion_mnist_available()
    assert ds.fashion_mnist_dir(tmp_path / "arg") == tmp_path / "arg"


def test_fashion_mnist_incomplete_local_copy_falls_back_to_the_system_one(tmp_path, no_system_fashion):
    write_fashion(no_system_fashion)
    local = tmp_path / "data" / "fashion-mnist"
    write_fashion(local)
    (local / "t10k-labels-idx1-ubyte.gz").unlink()
    assert ds.fashion_mnist_dir() == no_system_fashion


def test_fashion_mnist_missing_folder_says_how_to_get_it(tmp_path, no_system_fashion):
    root = tmp_path / "absent"
    with pytest.raises(DatasetError) as err:
        ds.load_fashion_mnist(root)
    msg = str(err.value)
    assert str(root) in msg and "apt-get install dataset-fashion-mnist" in msg
    assert "make download-fashion-mnist" in msg and "download fashion-mnist" in msg
    assert "TINYTORCH_FASHION_MNIST_DIR" in msg and ds.FASHION_MNIST_URLS[0] in msg


def test_fashion_mnist_missing_one_file(tmp_path):
    _, checksums = write_fashion(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    assert not ds.fashion_mnist_available(tmp_path)
    with pytest.raises(DatasetError, match="Fashion-MNIST file train-labels-idx1-ubyte"):
        ds.load_fashion_mnist(tmp_path, checksums=checksums)


def test_fashion_mnist_download_verifies_what_it_fetched(tmp_path, monkeypatch):
    """The opt-in downloader, with the network replaced by a local folder: good files land, bad ones raise."""
    server = tmp_path / "server"
    _, checksums = write_fashion(server)
    monkeypatch.setattr(ds, "FASHION_MNIST_SHA256", checksums)
    fetched = []

    def fake_fetch(url, dest):
        fetched.append(url)
        dest.write_bytes((server / url.rsplit("/", 1)[1]).read_bytes())

    monkeypatch.setattr(ds, "fetch", fake_fetch)
    target = ds.download_fashion_mnist(tmp_path / "target")
    assert len(fetched) == 4 and all(u.startswith(ds.FASHION_MNIST_URLS[0]) for u in fetched)
    assert ds.load_fashion_mnist(target, checksums=checksums).x_train.shape == (6, 28, 28)
    ds.download_fashion_mnist(tmp_path / "target")  # already there and verified: nothing fetched
    assert len(fetched) == 4

    write_fashion(server, seed=99)  # the server now serves other bytes
    with pytest.raises(DatasetError, match="checksum mismatch"):
        ds.download_fashion_mnist(tmp_path / "elsewhere")


def test_fashion_mnist_download_goes_to_data_dir_never_the_system_folder(tmp_path, no_system_fashion):
    assert ds.fashion_mnist_download_dir() == tmp_path / "data" / "fashion-mnist"


@pytest.mark.skipif(not ds.idx_files_present(ds.FASHION_MNIST_SYSTEM_DIR, ds.FASHION_MNIST_FILES),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_the_installed_debian_copy_matches_the_pinned_checksums():
    d = ds.load_fashion_mnist(ds.FASHION_MNIST_SYSTEM_DIR)
    assert d.x_train.shape == (60000, 28, 28) and d.x_test.shape == (10000, 28, 28)
    assert np.bincount(d.y_train).tolist() == [6000] * 10 and np.bincount(d.y_test).tolist() == [1000] * 10


# ---------------------------------------------------------------- CIFAR-10

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def cifar_pickle(obj, old_numpy_names=True):
    """Pickle like the real batches (protocol 2, NumPy 1 global names as in the 2009 files)."""
    raw = pickle.dumps(obj, protocol=2)
    if old_numpy_names:
        raw = raw.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    return raw


def write_cifar(root, n=2, bytes_keys=False, seed=0, old_numpy_names=True):
    """Write tiny real-layout CIFAR-10 batches into root; return images, labels, md5s."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    key = (lambda k: k.encode()) if bytes_keys else (lambda k: k)
    images, labels, checksums = {}, {}, {}
    for name in (*ds.CIFAR10_TRAIN, ds.CIFAR10_TEST):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        lab = [int(v) for v in rng.integers(0, 10, n)]
        batch = {key("batch_label"): f"{name} of 5", key("labels"): lab, key("data"): data,
                 key("filenames"): [f"img_{i}.png" for i in range(n)]}
        (root / name).write_bytes(cifar_pickle(batch, old_numpy_names))
        images[name], labels[name] = data, lab
    meta = {key("num_cases_per_batch"): n, key("label_names"): CLASSES, key("num_vis"): 3072}
    (root / ds.CIFAR10_META).write_bytes(cifar_pickle(meta, old_numpy_names))
    for name in ds.CIFAR10_MD5:
        checksums[name] = md5(root / name)
    return images, labels, checksums


@pytest.mark.parametrize("bytes_keys,old_names", [(False, True), (True, False)])
def test_cifar10_loads_end_to_end(tmp_path, bytes_keys, old_names):
    images, labels, checksums = write_cifar(tmp_path, bytes_keys=bytes_keys, old_numpy_names=old_names)
    d = ds.load_cifar10(tmp_path, checksums=checksums)
    assert d.x_train.shape == (10, 3, 32, 32) and d.x_test.shape == (2, 3, 32, 32)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    np.testing.assert_allclose(d.x_test.reshape(2, -1) * 255, images["test_batch"], atol=1e-3)
    assert d.y_train[:2].tolist() == labels["data_batch_1"]
    assert d.classes == tuple(CLASSES)
    assert ds.cifar10_available(tmp_path)


def test_cifar10_env_var_root(tmp_path, monkeypatch):
    write_cifar(tmp_path / "c10")
    monkeypatch.setenv("TINYTORCH_CIFAR10_DIR", str(tmp_path / "c10"))
    assert ds.load_cifar10(checksums=None).x_test.shape == (2, 3, 32, 32)


def test_cifar10_published_md5_by_default(tmp_path):
    write_cifar(tmp_path)
    with pytest.raises(DatasetError) as err:
        ds.load_cifar10(tmp_path)
    assert ds.CIFAR10_MD5["data_batch_1"] in str(err.value)


def test_cifar10_wrong_checksum(tmp_path):
    _, _, checksums = write_cifar(tmp_path)
    actual = checksums["test_batch"]
    checksums["test_batch"] = "f" * 32
    with pytest.raises(DatasetError) as err:
        ds.load_cifar10(tmp_path, checksums=checksums)
    msg = str(err.value)
    assert "test_batch" in msg and "f" * 32 in msg and actual in msg


class Evil:
    """Pickles as a call to os.system: the unpickler must refuse the global, never call it."""

    def __reduce__(self):
        return (os.system, ("exit 0",))


def test_cifar10_refuses_disallowed_global(tmp_path):
    write_cifar(tmp_path)
    path = tmp_path / "data_batch_3"
    path.write_bytes(pickle.dumps({"data": Evil(), "labels": []}, protocol=2))
    with pytest.raises(DatasetError, match="is not allowed") as err:
        ds.load_cifar10(tmp_path, checksums=None)
    assert "system" in str(err.value) and str(path) in str(err.value)


def test_cifar10_garbage_pickle(tmp_path):
    write_cifar(tmp_path)
    (tmp_path / "test_batch").write_bytes(b"\x80\x02}q\x00(not a pickle")
    with pytest.raises(DatasetError, match="cannot unpickle"):
        ds.load_cifar10(tmp_path, checksums=None)


def test_cifar10_bad_layout(tmp_path):
    write_cifar(tmp_path)
    bad = {"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}
    (tmp_path / "data_batch_2").write_bytes(pickle.dumps(bad, protocol=2))
    with pytest.raises(DatasetError, match=r"\(N, 3072\)"):
        ds.load_cifar10(tmp_path, checksums=None)


def test_cifar10_missing_folder(tmp_path):
    root = tmp_path / "absent"
    assert not ds.cifar10_available(root)
    with pytest.raises(DatasetError) as err:
        ds.load_cifar10(root)
    msg = str(err.value)
    assert str(root) in msg and "python -m milestones.datasets download cifar10" in msg
    assert ds.CIFAR10_URL in msg


# ---------------------------------------------------------------- CLI (no network)

def test_cli_bad_name_exits_2(capsys):
    assert ds.main(["download", "imagenet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "imagenet" in err and "mnist" in err


def test_download_unknown_name_raises():
    with pytest.raises(DatasetError, match="unknown dataset"):
        ds.download("imagenet")


def py2_batch_bytes(data, labels):
    """Hand-written Python 2 cPickle (protocol 2) bytes of a batch, as in the 2009 files."""
    import struct

    n = len(data)
    return (
        b"\x80\x02}q\x00(U\x04dataq\x01cnumpy.core.multiarray\n_reconstruct\nq\x02cnumpy\nndarray\nq\x03"
        b"K\x00\x85U\x01b\x87Rq\x04(K\x01K" + bytes([n]) + b"M\x00\x0c\x86cnumpy\ndtype\nq\x05U\x02u1K\x00K\x01"
        b"\x87Rq\x06(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89T"
        + struct.pack("<i", data.size) + data.tobytes() + b"tbU\x06labels]q\x07("
        + b"".join(b"K" + bytes([v]) for v in labels) + b"eu."
    )


def test_cifar10_reads_python2_pickle(tmp_path):
    data = np.arange(2 * 3072, dtype=np.int64).reshape(2, 3072).astype(np.uint8)
    path = tmp_path / "data_batch_1"
    path.write_bytes(py2_batch_bytes(data, [3, 7]))
    images, labels = ds.read_batch(path)
    assert images.shape == (2, 3, 32, 32) and labels.tolist() == [3, 7]
    assert np.array_equal(images.reshape(2, -1), data)


def test_extract_batches_writes_only_known_files(tmp_path):
    import io
    import tarfile

    archive = tmp_path / "cifar.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in [*ds.CIFAR10_MD5, "../escape", "readme.html"]:
            info = tarfile.TarInfo(f"{ds.CIFAR10_FOLDER}/{name}")
            info.size = len(name)
            tar.addfile(info, io.BytesIO(name.encode()))
    out = tmp_path / "out"
    out.mkdir()
    ds.extract_batches(archive, out)
    assert sorted(p.name for p in out.iterdir()) == sorted(ds.CIFAR10_MD5)
    assert not (tmp_path / "escape").exists()
