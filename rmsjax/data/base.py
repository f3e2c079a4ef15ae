"""The container every loader returns, and the optional tensorflow-datasets bridge."""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["Dataset", "tfds_installed"]

SOURCES = ("auto", "tfds", "local")


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test pair of NumPy arrays and where they came from.

    Attributes:
      name: the data set (``"mnist"``, ``"reviews"``, ``"digits"``, ``"xor"``).
      x_train, y_train, x_test, y_test: arrays with the examples on the leading axis.
      num_classes: number of classes of the integer labels.
      source: a sentence saying which source was used (tfds, local files, embedded) and how
        the split was made; report it next to any figure measured on this data.
      info: extra facts (e.g. the vocabulary for reviews).
      x_val, y_val: a validation split carved from the training examples (None: none), for
        choosing among configurations while the test split is only reported (see
        :meth:`rmsjax.tasks.Task.sweep_data`).

    >>> import numpy as np
    >>> from rmsjax.data import Dataset
    >>> d = Dataset("toy", np.zeros((3, 2)), np.zeros(3, int), np.zeros((1, 2)), np.zeros(1, int),
    ...             num_classes=2, source="made up")
    >>> d.num_train, d.num_test
    (3, 1)
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    source: str
    info: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    @property
    def train(self) -> tuple[np.ndarray, np.ndarray]:
        """``(x_train, y_train)``."""
        return self.x_train, self.y_train

    @property
    def test(self) -> tuple[np.ndarray, np.ndarray]:
        """``(x_test, y_test)``."""
        return self.x_test, self.y_test

    @property
    def validation(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(x_val, y_val)``, or None without a validation split."""
        return None if self.x_val is None else (self.x_val, self.y_val)

    @property
    def num_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def num_test(self) -> int:
        return int(self.x_test.shape[0])

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={self.x_train.shape} {self.x_train.dtype}, "
            f"test={self.x_test.shape}, num_classes={self.num_classes}, source={self.source!r})"
        )


def tfds_installed() -> bool:
    """Whether ``tensorflow_datasets`` can be imported (checked without importing it)."""
    return importlib.util.find_spec("tensorflow_datasets") is not None


def check_source(source: str) -> None:
    if source not in SOURCES:
        raise ValueError(f"`source` must be one of {list(SOURCES)}, got {source!r}")


def tfds_examples(name: str, split: str, tfds_data_dir: str | None = None) -> list[dict]:
    """All examples of a tfds split as a list of dicts of NumPy values.

    Uses ``tfds.data_source`` (random access over ArrayRecord files), which needs no TensorFlow.
    tensorflow_datasets is imported here, never at package import.
    """
    import tensorflow_datasets as tfds  # optional and heavy: imported only here

    ds = tfds.data_source(name, split=split, data_dir=tfds_data_dir)
    return [ds[i] for i in range(len(ds))]
