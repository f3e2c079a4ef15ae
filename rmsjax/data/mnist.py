"""MNIST: through tensorflow-datasets, or from the original IDX files in a folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rmsjax.data.base import Dataset, check_source, tfds_examples, tfds_installed
from rmsjax.data.idx import IDXError, read_idx

__all__ = ["OFFLINE_NUM_TRAIN", "find_idx_file", "load_mnist"]

#: With only the 10,000-image test set on disk: the first 8,000 train, the last 2,000 evaluate.
OFFLINE_NUM_TRAIN = 8000

_TRAIN = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
_TEST = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def find_idx_file(data_dir: str | os.PathLike, stem: str) -> Path | None:
    """The file ``stem`` or ``stem.gz`` in ``data_dir`` or ``data_dir/mnist`` (None if absent).

    Also accepts the ``stem.idx3-ubyte`` spelling some mirrors use (``t10k-images.idx3-ubyte``).
    """
    base = Path(data_dir)
    dotted = stem.replace("-idx", ".idx")
    for folder in (base, base / "mnist"):
        for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def _read_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(images_path, expect_ndim=3)
    labels = read_idx(labels_path, expect_ndim=1)
    if images.dtype != np.uint8 or images.shape[1:] != (28, 28):
        raise IDXError(
            f"{images_path}: expected uint8 images of 28x28, got {images.dtype} {images.shape[1:]}"
        )
    if labels.shape[0] != images.shape[0]:
        raise IDXError(
            f"{labels_path}: {labels.shape[0]} labels for {images.shape[0]} images in {images_path}"
        )
    if labels.size and int(labels.max()) > 9:
        raise IDXError(f"{labels_path}: labels must be 0..9, found {int(labels.max())}")
    return images, labels


def _finish(images: np.ndarray, flatten: bool, dtype) -> np.ndarray:
    x = images.reshape(images.shape[0], -1) if flatten else images
    if np.dtype(dtype) == np.uint8:
        return np.ascontiguousarray(x, dtype=np.uint8)
    return x.astype(dtype) / np.asarray(255.0, dtype)


def _load_local(data_dir, flatten, dtype) -> Dataset:
    base = Path(data_dir)
    if not base.is_dir():
        raise FileNotFoundError(f"MNIST data_dir {str(base)!r} is not a directory")
    test_paths = [find_idx_file(base, s) for s in _TEST]
    if None in test_paths:
        raise FileNotFoundError(
            f"no MNIST IDX files in {str(base)!r} (or its mnist/ subfolder): need "
            f"{_TEST[0]}[.gz] and {_TEST[1]}[.gz]"
        )
    x_test, y_test = _read_pair(*test_paths)
    train_paths = [find_idx_file(base, s) for s in _TRAIN]
    if None not in train_paths:
        x_train, y_train = _read_pair(*train_paths)
        source = (
            f"local IDX files in {test_paths[0].parent}: official split, "
            f"{len(x_train):,} train / {len(x_test):,} test"
        )
    else:
        if len(x_test) <= OFFLINE_NUM_TRAIN:
            raise IDXError(
                f"{test_paths[0]}: {len(x_test)} images, need more than {OFFLINE_NUM_TRAIN} to "
                "split into train and eval"
            )
        x_train, y_train = x_test[:OFFLINE_NUM_TRAIN], y_test[:OFFLINE_NUM_TRAIN]
        x_test, y_test = x_test[OFFLINE_NUM_TRAIN:], y_test[OFFLINE_NUM_TRAIN:]
        source = (
            f"local IDX files in {test_paths[0].parent}: only the 10,000-image MNIST test set, "
            f"split first {len(x_train):,} train / last {len(x_test):,} eval "
            "(not the official split)"
        )
    return Dataset(
        "mnist",
        _finish(x_train, flatten, dtype),
        y_train.astype(np.int32),
        _finish(x_test, flatten, dtype),
        y_test.astype(np.int32),
        num_classes=10,
        source=source,
    )


def _load_tfds(flatten, dtype, tfds_data_dir) -> Dataset:
    arrays = {}
    for split in ("train", "test"):
        examples = tfds_examples("mnist", split, tfds_data_dir)
        images = np.stack([np.asarray(e["image"]).reshape(28, 28) for e in examples])
        labels = np.asarray([int(e["label"]) for e in examples], np.int32)
        arrays[split] = (_finish(images.astype(np.uint8), flatten, dtype), labels)
    return Dataset(
        "mnist",
        *arrays["train"],
        *arrays["test"],
        num_classes=10,
        source=(
            f"tensorflow-datasets 'mnist': official split, {len(arrays['train'][1]):,} train / "
            f"{len(arrays['test'][1]):,} test"
        ),
    )


def load_mnist(
    data_dir: str | os.PathLike | None = None,
    *,
    source: str = "auto",
    flatten: bool = True,
    dtype=np.float32,
    tfds_data_dir: str | None = None,
) -> Dataset:
    """Load MNIST, saying in ``.source`` where it came from and how it was split.

    Sources:
      - ``"local"``: IDX files (gzipped or not) in ``data_dir`` or ``data_dir/mnist``. With the
        training files present, the official split; with only the 10,000-image test set (the
        offline copy in ``../shared/data/mnist``), its first 8,000 images train and its last
        2,000 evaluate. Magic numbers and sizes are checked: a truncated or wrong file raises
        :class:`~rmsjax.data.idx.IDXError` naming the file.
      - ``"tfds"``: tensorflow-datasets' ``mnist`` (60,000 / 10,000), via ``tfds.data_source``
        (no TensorFlow needed; downloads on first use, e.g. on Colab).
      - ``"auto"`` (default): ``"local"`` when ``data_dir`` is given, else ``"tfds"``.

    Args:
      data_dir: folder with the IDX files.
      source: ``"auto"``, ``"local"`` or ``"tfds"``.
      flatten: return images as ``[N, 784]`` (True) or ``[N, 28, 28]``.
      dtype: ``np.float32`` (default: pixels scaled to [0, 1]) or ``np.uint8`` (raw pixels).
      tfds_data_dir: tensorflow-datasets' own cache folder (its default when None).

    Returns:
      A :class:`~rmsjax.data.Dataset` with int32 labels and ``num_classes=10``.
    """
    check_source(source)
    if source == "auto":
        source = "local" if data_dir is not None else "tfds"
    if source == "local":
        if data_dir is None:
            raise ValueError("`data_dir` is required with source='local'")
        return _load_local(data_dir, flatten, dtype)
    if not tfds_installed():
        raise FileNotFoundError(
            "MNIST: no `data_dir` given and tensorflow-datasets is not installed; pass a folder "
            "holding the IDX files (e.g. ../shared/data/mnist) or "
            "`pip install tensorflow-datasets importlib_resources`"
        )
    try:
        return _load_tfds(flatten, dtype, tfds_data_dir)
    except Exception as err:  # network, missing extras, ... : say why and what to do instead
        raise RuntimeError(
            f"MNIST: tensorflow-datasets could not load 'mnist' ({type(err).__name__}: {err}); "
            "pass `data_dir`, a folder holding the IDX files, to use local files"
        ) from err
