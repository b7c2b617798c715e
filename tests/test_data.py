"""Tests for tinygrad_conv.data: bundled digits, IDX files, MNIST loading, datasets and loaders."""

from __future__ import annotations

import doctest
import gzip
import hashlib
import importlib.util
import struct
from pathlib import Path

import numpy as np
import pytest

import tinygrad_conv.data as data
from tinygrad_conv.data import (
    DataLoader,
    TensorDataset,
    load_digits,
    load_mnist,
    read_idx,
    write_idx,
)
from tinygrad_conv.data import digits as digits_module
from tinygrad_conv.data import idx as idx_module
from tinygrad_conv.data import mnist as mnist_module

HAVE_TENSOR = importlib.util.find_spec("tinygrad_conv.tensor") is not None
needs_tensor = pytest.mark.skipif(not HAVE_TENSOR, reason="tinygrad_conv.tensor is not written yet")

DIGITS_CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


# --------------------------------------------------------------------------- digits


def test_digits_shapes_dtypes_ranges():
    x, y = load_digits()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    assert x.flags.c_contiguous and x.flags.writeable
    assert np.bincount(y, minlength=10).tolist() == DIGITS_CLASS_COUNTS
    assert sorted(set(y.tolist())) == list(range(10))


def test_digits_unnormalized_are_the_raw_integers():
    x_raw, y_raw = load_digits(normalize=False)
    x, y = load_digits()
    assert x_raw.dtype == np.float32
    assert np.array_equal(x_raw, np.round(x_raw)) and x_raw.min() == 0 and x_raw.max() == 16
    np.testing.assert_array_equal(x_raw / 16, x)
    np.testing.assert_array_equal(y_raw, y)


def test_bundled_npz_contents_match_readme_checksums():
    images, labels = digits_module._raw_digits()
    assert images.dtype == np.uint8 and labels.dtype == np.uint8
    assert sha256(images) == "8f26b2bd9d135c256808f68f14fdabddde6d9c7f869ae419704b051f0f14b3b3"
    assert sha256(labels) == "8ba4f891220f5e4c9c819638d1602d74b83618f167043c6da52a2a247841ddf0"
    npz = Path(digits_module.__file__).with_name("digits.npz")
    assert npz.stat().st_size < 100_000
    with np.load(npz, allow_pickle=False) as f:
        assert sorted(f.files) == ["images", "labels"]


def test_digits_results_are_private_copies():
    x, y = load_digits()
    x[:] = -1
    y[:] = -1
    x2, y2 = load_digits()
    assert x2.min() == 0.0 and y2.min() == 0


def test_digits_split_sizes_disjoint_and_complete():
    train_idx, test_idx = digits_module.stratified_split(digits_module._raw_digits()[1], 0.2, seed=0)
    assert len(test_idx) == round(1797 * 0.2) == 359
    assert len(train_idx) == 1797 - 359
    assert np.intersect1d(train_idx, test_idx).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train_idx, test_idx])), np.arange(1797))

    x_all, y_all = load_digits()
    x_tr, y_tr = load_digits("train")
    x_te, y_te = load_digits("test")
    np.testing.assert_array_equal(x_tr, x_all[train_idx])
    np.testing.assert_array_equal(y_te, y_all[test_idx])
    assert x_tr.shape == (1438, 1, 8, 8) and x_te.shape == (359, 1, 8, 8)
    assert y_tr.dtype == y_te.dtype == np.int64


def test_digits_split_is_stratified():
    _, y_te = load_digits("test")
    _, y_tr = load_digits("train")
    expected = np.array(DIGITS_CLASS_COUNTS) * 0.2
    assert np.all(np.abs(np.bincount(y_te, minlength=10) - expected) < 1)
    assert (np.bincount(y_te, minlength=10) + np.bincount(y_tr, minlength=10)).tolist() == DIGITS_CLASS_COUNTS


def test_digits_split_deterministic_and_seed_dependent():
    a = load_digits("test", seed=0)
    b = load_digits("test", seed=0)
    c = load_digits("test", seed=1)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    # Pinned: the seed-0 split must be the same on every machine and NumPy version.
    _, test_idx = digits_module.stratified_split(digits_module._raw_digits()[1], 0.2, seed=0)
    assert test_idx[:10].tolist() == [5, 9, 12, 14, 16, 17, 19, 23, 24, 34]
    assert (
        sha256(test_idx.astype("<i8")) == "f71c9ddf317ebe278f01acb013a7eed702a00236a3733c9eefc19ea0e7aefeee"
    )


def test_digits_split_other_fraction():
    _, y_te = load_digits("test", test_fraction=0.5, seed=3)
    _, y_tr = load_digits("train", test_fraction=0.5, seed=3)
    assert len(y_te) == round(1797 * 0.5) and len(y_tr) + len(y_te) == 1797


@pytest.mark.parametrize(
    "kwargs",
    [
        {"split": "valid"},
        {"split": "test", "test_fraction": 0.0},
        {"split": "train", "test_fraction": 1.0},
        {"split": "train", "test_fraction": 1e-6},
    ],
)
def test_digits_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        load_digits(**kwargs)


# --------------------------------------------------------------------------- IDX

IDX_CASES = [
    (np.uint8, (4, 5, 3)),
    (np.int8, (7,)),
    (np.int16, (3, 4)),
    (np.int32, (2, 3, 2, 2)),
    (np.float32, (6, 2)),
    (np.float64, (5,)),
    (np.uint8, (0, 28, 28)),
]


@pytest.mark.parametrize("dtype,shape", IDX_CASES)
@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, dtype, shape, gz):
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    if info is not None:
        array = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    else:
        array = rng.standard_normal(shape).astype(dtype)
    path = tmp_path / ("a.idx.gz" if gz else "a.idx")
    write_idx(path, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == gz
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    assert back.shape == shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable


def test_idx_gzip_detected_by_magic_not_suffix(tmp_path):
    array = np.arange(12, dtype=np.int16).reshape(3, 4)
    disguised = tmp_path / "plain-name-idx2"
    write_idx(disguised, array, compress=True)
    assert disguised.read_bytes()[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(read_idx(disguised), array)
    misnamed = tmp_path / "raw-but-named.gz"
    write_idx(misnamed, array, compress=False)
    np.testing.assert_array_equal(read_idx(misnamed), array)


def test_idx_reads_hand_made_big_endian_file(tmp_path):
    # Built by hand from the format description, independent of write_idx.
    values = [1, -2, 300, -40000, 5, 6]
    raw = bytes([0, 0, 0x0C, 2]) + struct.pack(">ii", 2, 3) + struct.pack(">6i", *values)
    path = tmp_path / "h-idx2-int"
    path.write_bytes(raw)
    out = read_idx(path)
    assert out.dtype == np.int32 and out.shape == (2, 3)
    assert out.ravel().tolist() == values
    # And write_idx produces exactly those bytes.
    write_idx(tmp_path / "w", np.array(values, dtype=np.int32).reshape(2, 3))
    assert (tmp_path / "w").read_bytes() == raw


def test_idx_gzip_output_is_deterministic(tmp_path):
    array = np.arange(100, dtype=np.uint8)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "b.gz", array)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


def test_idx_bad_magic(tmp_path):
    path = tmp_path / "bad-magic"
    path.write_bytes(bytes([1, 2, 8, 1]) + struct.pack(">i", 1) + b"\x00")
    with pytest.raises(ValueError, match="bad magic") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_idx_unknown_dtype_code(tmp_path):
    path = tmp_path / "bad-code"
    path.write_bytes(bytes([0, 0, 0x0A, 1]) + struct.pack(">i", 1) + b"\x00")
    with pytest.raises(ValueError, match="unknown IDX type code 0x0A") as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_truncated_data(tmp_path, gz):
    path = tmp_path / ("trunc.gz" if gz else "trunc")
    write_idx(path, np.zeros((10, 4), dtype=np.float32), compress=False)
    raw = path.read_bytes()[:-7]  # header 12 bytes + 160 data bytes, drop 7
    path.write_bytes(gzip.compress(raw) if gz else raw)
    with pytest.raises(ValueError, match="truncated data.*expected 160 bytes got 153") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_idx_truncated_header_and_tiny_file(tmp_path):
    path = tmp_path / "short-header"
    path.write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">i", 5))
    with pytest.raises(ValueError, match="truncated header"):
        read_idx(path)
    tiny = tmp_path / "tiny"
    tiny.write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tiny)


def test_idx_trailing_bytes(tmp_path):
    path = tmp_path / "long"
    write_idx(path, np.zeros(3, dtype=np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00\x00")
    with pytest.raises(ValueError, match="trailing bytes"):
        read_idx(path)


def test_idx_corrupt_gzip(tmp_path):
    path = tmp_path / "broken.gz"
    write_idx(path, np.arange(1000, dtype=np.int32))
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ValueError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("dtype", [np.int64, np.bool_, np.float16, np.uint16])
def test_write_idx_rejects_unsupported_dtypes(tmp_path, dtype):
    with pytest.raises(ValueError, match="IDX cannot store dtype"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=dtype))


# --------------------------------------------------------------------------- MNIST


def make_mnist(directory: Path, split: str, n: int, gz_images: bool, gz_labels: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    image_name, label_name = mnist_module.MNIST_FILES[split]
    write_idx(directory / (image_name + (".gz" if gz_images else "")), images)
    write_idx(directory / (label_name + (".gz" if gz_labels else "")), labels)
    return images, labels


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("gz_images,gz_labels", [(False, False), (True, True), (True, False)])
def test_load_mnist(tmp_path, split, gz_images, gz_labels):
    images, labels = make_mnist(tmp_path, split, 5, gz_images, gz_labels)
    x, y = load_mnist(tmp_path, split=split)
    assert x.shape == (5, 1, 28, 28) and x.dtype == np.float32
    assert y.shape == (5,) and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_allclose(x[:, 0], images / np.float32(255))
    np.testing.assert_array_equal(y, labels)
    x_raw, _ = load_mnist(str(tmp_path), split=split, normalize=False)
    np.testing.assert_array_equal(x_raw[:, 0], images)


def test_load_mnist_splits_are_separate_files(tmp_path):
    make_mnist(tmp_path, "train", 6, True, True, seed=1)
    make_mnist(tmp_path, "test", 3, False, False, seed=2)
    assert load_mnist(tmp_path, "train")[0].shape[0] == 6
    assert load_mnist(tmp_path, "test")[0].shape[0] == 3


def test_load_mnist_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(tmp_path, split="test")
    message = str(info.value)
    assert str(tmp_path) in message
    assert "t10k-images-idx3-ubyte" in message and "t10k-images-idx3-ubyte.gz" in message
    assert "http" in message and "fashion-mnist" in message.lower()

    # Images present, labels missing: the message names the labels file.
    make_mnist(tmp_path, "train", 2, False, False)
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte"):
        load_mnist(tmp_path, split="train")

    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_mnist(tmp_path / "nowhere")


def test_load_mnist_bad_contents(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match="3 images but .* 4 labels"):
        load_mnist(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((4, 784), np.uint8))
    with pytest.raises(ValueError, match="expected uint8 images"):
        load_mnist(tmp_path)
    with pytest.raises(ValueError, match="split"):
        load_mnist(tmp_path, split="validation")


# --------------------------------------------------------------------------- TensorDataset


def test_tensor_dataset_indexing():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10, dtype=np.int64)
    ds = TensorDataset(x, y)
    assert len(ds) == 10
    item = ds[3]
    assert isinstance(item, tuple) and len(item) == 2
    np.testing.assert_array_equal(item[0], x[3])
    assert item[1] == 3
    batch = ds[np.array([1, 4])]
    np.testing.assert_array_equal(batch[0], x[[1, 4]])


def test_tensor_dataset_shape_mismatch():
    with pytest.raises(ValueError, match=r"\(10, 2\).*\(9,\)"):
        TensorDataset(np.zeros((10, 2)), np.zeros(9))
    with pytest.raises(ValueError):
        TensorDataset()
    with pytest.raises(ValueError):
        TensorDataset(np.float32(1.0))


@needs_tensor
def test_tensor_dataset_accepts_tensors():
    from tinygrad_conv.tensor import Tensor

    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    ds = TensorDataset(Tensor(x), np.arange(3))
    np.testing.assert_array_equal(ds[1][0], x[1])
    assert isinstance(ds.arrays[0], np.ndarray)


# --------------------------------------------------------------------------- DataLoader


def make_dataset(n: int = 10) -> TensorDataset:
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n, dtype=np.int64)
    return TensorDataset(x, y)


def batch_labels(loader: DataLoader) -> list[list[int]]:
    return [yb.numpy().astype(np.int64).tolist() for _, yb in loader]


@pytest.mark.parametrize(
    "n,batch_size,drop_last,expected_len,last_size",
    [
        (10, 3, False, 4, 1),
        (10, 3, True, 3, 3),
        (10, 5, False, 2, 5),
        (10, 5, True, 2, 5),
        (10, 20, False, 1, 10),
        (10, 20, True, 0, None),
        (10, 1, False, 10, 1),
    ],
)
def test_loader_len(n, batch_size, drop_last, expected_len, last_size):
    loader = DataLoader(make_dataset(n), batch_size=batch_size, drop_last=drop_last)
    assert len(loader) == expected_len
    if HAVE_TENSOR:
        batches = list(loader)
        assert len(batches) == expected_len
        if last_size is not None:
            assert batches[-1][0].detach().numpy().shape == (last_size, 3)


@needs_tensor
def test_loader_batches_in_order_without_shuffle():
    from tinygrad_conv.tensor import Tensor

    ds = make_dataset(10)
    loader = DataLoader(ds, batch_size=4)
    batches = list(loader)
    assert [len(b) for b in batches] == [2, 2, 2]
    assert all(isinstance(t, Tensor) for b in batches for t in b)
    assert batch_labels(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    xb, _ = batches[-1]  # last partial batch
    np.testing.assert_array_equal(xb.numpy(), ds.arrays[0][8:])
    # Batches are copies: writing to one leaves the data set alone.
    xb.detach().numpy()[...] = -1
    assert ds.arrays[0].min() == 0


@needs_tensor
def test_loader_shuffle_covers_every_item_once_per_epoch():
    loader = DataLoader(make_dataset(23), batch_size=5, shuffle=True, seed=7)
    for _ in range(3):
        seen = sorted(i for batch in batch_labels(loader) for i in batch)
        assert seen == list(range(23))
    assert batch_labels(loader) != [list(range(i, min(i + 5, 23))) for i in range(0, 23, 5)]


@needs_tensor
def test_loader_features_follow_labels_when_shuffled():
    ds = make_dataset(17)
    for xb, yb in DataLoader(ds, batch_size=4, shuffle=True, seed=1):
        np.testing.assert_array_equal(xb.numpy(), ds.arrays[0][yb.numpy().astype(np.int64)])


@needs_tensor
def test_loader_shuffle_deterministic_per_seed_and_epoch():
    a = DataLoader(make_dataset(30), batch_size=4, shuffle=True, seed=123)
    b = DataLoader(make_dataset(30), batch_size=4, shuffle=True, seed=123)
    c = DataLoader(make_dataset(30), batch_size=4, shuffle=True, seed=124)
    a_epochs = [batch_labels(a) for _ in range(3)]
    b_epochs = [batch_labels(b) for _ in range(3)]
    assert a_epochs == b_epochs  # same seed, same batches, epoch by epoch
    assert a_epochs[0] != a_epochs[1] != a_epochs[2]  # reshuffled every epoch
    assert batch_labels(c) != a_epochs[0]  # other seed, other order
    a.set_epoch(1)
    assert batch_labels(a) == a_epochs[1]


@needs_tensor
def test_loader_epoch_advances_on_iter_not_on_first_batch():
    loader = DataLoader(make_dataset(8), batch_size=2, shuffle=True, seed=0)
    iter(loader)  # abandoned epoch still counts
    assert loader.epoch == 1


@needs_tensor
def test_loader_with_generator_and_unseeded():
    g1 = DataLoader(make_dataset(20), batch_size=6, shuffle=True, generator=np.random.default_rng(5))
    g2 = DataLoader(make_dataset(20), batch_size=6, shuffle=True, generator=np.random.default_rng(5))
    assert [batch_labels(g1) for _ in range(2)] == [batch_labels(g2) for _ in range(2)]
    unseeded = DataLoader(make_dataset(20), batch_size=6, shuffle=True)
    assert sorted(i for b in batch_labels(unseeded) for i in b) == list(range(20))


@needs_tensor
def test_loader_drop_last_with_shuffle():
    loader = DataLoader(make_dataset(10), batch_size=3, shuffle=True, drop_last=True, seed=0)
    batches = batch_labels(loader)
    assert len(batches) == len(loader) == 3 and all(len(b) == 3 for b in batches)


@needs_tensor
def test_loader_uses_vectorised_indexing_for_tensor_datasets():
    class NoItemAccess(TensorDataset):
        def __getitem__(self, index):
            raise AssertionError("DataLoader should index the arrays directly")

    ds = NoItemAccess(np.zeros((9, 2), np.float32), np.arange(9))
    assert sum(xb.detach().numpy().shape[0] for xb, _ in DataLoader(ds, batch_size=4, shuffle=True, seed=0)) == 9


@needs_tensor
def test_loader_generic_dataset():
    class Squares:
        def __len__(self):
            return 7

        def __getitem__(self, i):
            return np.full((2,), i, dtype=np.float32), i * i

    batches = list(DataLoader(Squares(), batch_size=3, shuffle=True, seed=0))
    assert [b[0].detach().numpy().shape for b in batches] == [(3, 2), (3, 2), (1, 2)]
    for xb, yb in batches:
        np.testing.assert_array_equal(xb.numpy()[:, 0] ** 2, yb.numpy())

    class Plain:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.float32(i)

    (only,) = next(iter(DataLoader(Plain(), batch_size=5)))
    np.testing.assert_array_equal(only.numpy(), np.arange(5, dtype=np.float32))


def test_loader_bad_arguments():
    ds = make_dataset(4)
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="batch_size"):
            DataLoader(ds, batch_size=bad)
    with pytest.raises(ValueError, match="not both"):
        DataLoader(ds, seed=0, generator=np.random.default_rng(0))
    with pytest.raises(ValueError, match="seed"):
        DataLoader(ds, seed=-3)
    with pytest.raises(TypeError):
        DataLoader(ds, generator=0)


# --------------------------------------------------------------------------- docs


def test_public_api():
    assert sorted(data.__all__) == sorted(
        ["load_digits", "read_idx", "write_idx", "load_mnist", "TensorDataset", "DataLoader"]
    )


@pytest.mark.parametrize("module", [digits_module, idx_module, mnist_module])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


@needs_tensor
@pytest.mark.parametrize("name", ["tinygrad_conv.data", "tinygrad_conv.data.loader"])
def test_docstring_examples_needing_tensor(name):
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
