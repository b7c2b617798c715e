"""The bundled UCI handwritten-digits data set (1,797 images, 8x8, 10 classes).

The images ship with the package as ``digits.npz`` (see ``README.md`` next to this
file for origin, licence and checksums) and are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np

DIGITS_FILE = "digits.npz"
NUM_CLASSES = 10
MAX_PIXEL = 16  # pixel values are integers 0..16 (counts of set bits in 4x4 blocks)


@functools.lru_cache(maxsize=1)
def _raw_digits() -> tuple[np.ndarray, np.ndarray]:
    """Read the bundled npz once per process; returns read-only uint8 arrays."""
    source = resources.files("tinygrad_conv.data").joinpath(DIGITS_FILE)
    with source.open("rb") as fh, np.load(fh, allow_pickle=False) as npz:
        images = np.array(npz["images"], dtype=np.uint8)
        labels = np.array(npz["labels"], dtype=np.uint8)
    if images.shape != (1797, 8, 8) or labels.shape != (1797,):
        raise ValueError(
            f"bundled {DIGITS_FILE} is damaged: images {images.shape}, labels {labels.shape}, "
            "expected (1797, 8, 8) and (1797,)"
        )
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified split of ``range(len(labels))`` into (train, test) indices.

    The test set holds exactly ``round(len(labels) * test_fraction)`` samples, shared
    between the classes in proportion to their sizes (largest-remainder rounding, ties
    going to the smaller class label). Within each class the held-out samples are picked
    by ``np.random.default_rng(seed).permutation``, classes handled in increasing label
    order with one generator. Both index arrays are returned sorted ascending.

    >>> import numpy as np
    >>> train, test = stratified_split(np.array([0, 0, 0, 0, 1, 1, 1, 1]), 0.5, seed=0)
    >>> len(train), len(test), sorted(set(train) | set(test)) == list(range(8))
    (4, 4, True)
    """
    labels = np.asarray(labels)
    n = labels.shape[0]
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction!r}")
    n_test = int(round(n * test_fraction))
    if n_test < 1 or n_test > n - 1:
        raise ValueError(
            f"test_fraction={test_fraction!r} of {n} samples gives {n_test} test samples; "
            "both train and test must be non-empty"
        )
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * (n_test / n)
    per_class = np.floor(exact).astype(np.int64)
    remainder = n_test - int(per_class.sum())
    if remainder > 0:
        # Largest fractional part first; a stable sort keeps ties in class order.
        order = np.argsort(-(exact - per_class), kind="stable")
        per_class[order[:remainder]] += 1

    rng = np.random.default_rng(seed)
    test_parts = []
    for cls, k in zip(classes, per_class):
        members = np.flatnonzero(labels == cls)
        test_parts.append(members[rng.permutation(members.shape[0])[:k]])
    test_idx = np.sort(np.concatenate(test_parts)).astype(np.int64)
    is_test = np.zeros(n, dtype=bool)
    is_test[test_idx] = True
    train_idx = np.flatnonzero(~is_test).astype(np.int64)
    return train_idx, test_idx


def load_digits(
    split: str | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    normalize: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load the bundled 8x8 handwritten digits as ``(images, labels)`` NumPy arrays.

    ``images`` is float32 of shape ``(N, 1, 8, 8)``; with ``normalize=True`` (default) the
    raw integer values 0..16 are divided by 16 so they lie in [0, 1], with
    ``normalize=False`` they stay 0..16 (still float32). ``labels`` is int64 in 0..9.

    ``split=None`` returns all 1,797 samples in the file's order. ``split="train"`` or
    ``"test"`` returns one side of a *stratified* held-out split: every class keeps its
    share, the test side has ``round(1797 * test_fraction)`` samples (359 at 0.2), the two
    sides are disjoint and together cover the data set, and the choice depends only on
    ``seed`` and ``test_fraction`` (``np.random.default_rng(seed)``), so it is the same
    on every run and machine. Samples keep their original relative order; shuffle with
    a ``DataLoader``.

    >>> from tinygrad_conv.data import load_digits
    >>> x, y = load_digits()
    >>> x.shape, x.dtype, y.shape, y.dtype
    ((1797, 1, 8, 8), dtype('float32'), (1797,), dtype('int64'))
    >>> xtr, ytr = load_digits("train")
    >>> xte, yte = load_digits("test")
    >>> len(ytr), len(yte)
    (1438, 359)
    """
    images, labels = _raw_digits()
    if split is None:
        index = None
    elif split in ("train", "test"):
        train_idx, test_idx = stratified_split(labels, test_fraction, seed)
        index = train_idx if split == "train" else test_idx
    else:
        raise ValueError(f"split must be None, 'train' or 'test', got {split!r}")

    if index is not None:
        images, labels = images[index], labels[index]
    x = images.astype(np.float32)[:, None, :, :]
    if normalize:
        x /= np.float32(MAX_PIXEL)
    return np.ascontiguousarray(x), labels.astype(np.int64)
