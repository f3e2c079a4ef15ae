"""Data loaders returning :class:`Dataset` (NumPy arrays plus a ``source`` sentence).

- :func:`load_mnist` (tensorflow-datasets, or IDX files in ``data_dir``; offline only the
  10,000-image test set exists, split first 8,000 train / last 2,000 eval),
- :func:`load_reviews` (tensorflow-datasets ``imdb_reviews``, or a ``pos/`` + ``neg/`` folder,
  seeded 1,600 / 400 split, vocabulary from the training split only),
- embedded, offline: :func:`load_digits` (scikit-learn), :func:`load_xor`, and the 2-D problems
  :func:`quadratic` and :func:`rosenbrock` (:func:`get_problem` adds start points and bounds).

tensorflow-datasets and scikit-learn are optional and imported only by the loaders that use
them; ``import rmsjax.data`` imports neither.

>>> from rmsjax.data import load_xor
>>> load_xor().source
'embedded XOR truth table (4 points; the test set is the training set)'
"""

from rmsjax.data.base import Dataset, tfds_installed
from rmsjax.data.idx import IDXError, parse_idx, read_idx
from rmsjax.data.mnist import load_mnist
from rmsjax.data.reviews import build_vocab, encode, load_reviews, tokenize
from rmsjax.data.toy import (
    PROBLEMS,
    Problem,
    get_problem,
    load_digits,
    load_xor,
    quadratic,
    rosenbrock,
)

__all__ = [
    "PROBLEMS",
    "Dataset",
    "IDXError",
    "Problem",
    "build_vocab",
    "encode",
    "get_problem",
    "load_digits",
    "load_mnist",
    "load_reviews",
    "load_xor",
    "parse_idx",
    "quadratic",
    "read_idx",
    "rosenbrock",
    "tfds_installed",
    "tokenize",
]
