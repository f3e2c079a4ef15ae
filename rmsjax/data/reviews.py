"""Movie-review sentiment: the polarity corpus from a folder, or IMDB through tensorflow-datasets.

Text becomes fixed-length rows of token ids: :func:`tokenize`, a vocabulary built from the
training split only (:func:`build_vocab`), then :func:`encode` (pad with id 0, unknown words id 1).
"""

from __future__ import annotations

import collections
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from rmsjax._checks import positive_int
from rmsjax.data.base import Dataset, check_source, tfds_examples, tfds_installed

__all__ = [
    "PAD",
    "UNK",
    "build_vocab",
    "encode",
    "find_reviews_dir",
    "load_reviews",
    "read_review_folder",
    "tokenize",
]

PAD, UNK = "<pad>", "<unk>"  # ids 0 and 1
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[!?]")
_TAG = re.compile(r"<[^>]{0,20}>")  # IMDB's "<br />"


def tokenize(text: str | bytes) -> list[str]:
    """Lower-case word tokens (apostrophes kept inside words, "!" and "?" kept), HTML tags dropped.

    >>> from rmsjax.data import tokenize
    >>> tokenize("It's GREAT!<br />Not bad, 10/10.")
    ["it's", 'great', '!', 'not', 'bad', '10', '10']
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return _TOKEN.findall(_TAG.sub(" ", text.lower()))


def build_vocab(docs: Iterable[Sequence[str]], max_size: int, *, min_count: int = 1) -> list[str]:
    """The ``max_size`` most frequent tokens of ``docs``, after ``PAD`` (id 0) and ``UNK`` (id 1).

    Ties in frequency are broken alphabetically, so the vocabulary is deterministic. Build it
    from the training split only.

    >>> from rmsjax.data import build_vocab
    >>> build_vocab([["b", "a", "b"], ["c", "a", "b"]], max_size=4)
    ['<pad>', '<unk>', 'b', 'a']
    """
    if not isinstance(max_size, int) or max_size < 3:
        raise ValueError(
            f"`max_size` must be an integer >= 3 (PAD, UNK and a word), got {max_size!r}"
        )
    counts = collections.Counter(t for doc in docs for t in doc)
    words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return [PAD, UNK, *words[: max_size - 2]]


def encode(
    docs: Sequence[Sequence[str]], vocab: Sequence[str], max_len: int, *, keep: str = "first"
) -> np.ndarray:
    """Token lists to an int32 ``[len(docs), max_len]`` array of ids, padded with 0 at the end.

    Longer documents are truncated, keeping their ``"first"`` or ``"last"`` ``max_len`` tokens.
    Words outside ``vocab`` get id 1 (``UNK``).

    >>> from rmsjax.data import encode
    >>> encode([["a", "zzz"], ["b", "a", "b"]], ["<pad>", "<unk>", "a", "b"], max_len=2)
    array([[2, 1],
           [3, 2]], dtype=int32)
    """
    if keep not in ("first", "last"):
        raise ValueError(f"`keep` must be 'first' or 'last', got {keep!r}")
    positive_int("max_len", max_len)
    index = {w: i for i, w in enumerate(vocab)}
    out = np.zeros((len(docs), max_len), np.int32)
    for row, doc in enumerate(docs):
        ids = [index.get(t, 1) for t in doc]
        ids = ids[:max_len] if keep == "first" else ids[-max_len:]
        out[row, : len(ids)] = ids
    return out


def find_reviews_dir(data_dir: str | os.PathLike) -> Path | None:
    """The folder holding ``pos/`` and ``neg/``: ``data_dir`` itself, ``data_dir/txt_sentoken``
    or ``data_dir/movie_reviews/txt_sentoken`` (None if none of them)."""
    base = Path(data_dir)
    for folder in (base, base / "txt_sentoken", base / "movie_reviews" / "txt_sentoken"):
        if (folder / "pos").is_dir() and (folder / "neg").is_dir():
            return folder
    return None


def read_review_folder(folder: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """Texts and labels (neg 0, pos 1) from ``folder/neg/*`` and ``folder/pos/*``, in sorted
    file-name order (negatives first)."""
    texts, labels = [], []
    for label, sub in enumerate(("neg", "pos")):
        for path in sorted((Path(folder) / sub).iterdir()):
            if path.is_file() and not path.name.startswith("."):
                texts.append(path.read_text(encoding="utf-8", errors="replace"))
                labels.append(label)
    return texts, np.asarray(labels, np.int32)


def _make(
    name, train_texts, y_train, test_texts, y_test, *, max_len, vocab_size, keep, min_count, source
):
    train_docs = [tokenize(t) for t in train_texts]
    test_docs = [tokenize(t) for t in test_texts]
    vocab = build_vocab(train_docs, vocab_size, min_count=min_count)
    return Dataset(
        name,
        encode(train_docs, vocab, max_len, keep=keep),
        np.asarray(y_train, np.int32),
        encode(test_docs, vocab, max_len, keep=keep),
        np.asarray(y_test, np.int32),
        num_classes=2,
        source=source,
        info={
            "vocab": vocab,
            "max_len": max_len,
            "keep": keep,
            "min_count": min_count,
            "train_lengths": np.asarray([len(d) for d in train_docs]),
            "test_lengths": np.asarray([len(d) for d in test_docs]),
        },
    )


def load_reviews(
    data_dir: str | os.PathLike | None = None,
    *,
    source: str = "auto",
    max_len: int = 400,
    vocab_size: int = 10000,
    keep: str = "first",
    num_train: int = 1600,
    seed: int = 0,
    tfds_data_dir: str | None = None,
    min_count: int = 1,
) -> Dataset:
    """Movie reviews as padded token ids, labels 0 (negative) / 1 (positive).

    Sources:
      - ``"local"``: a folder with one review per file in ``pos/`` and ``neg/`` (``data_dir`` or
        its ``txt_sentoken`` or ``movie_reviews/txt_sentoken`` subfolder), such as the 2,000-review
        polarity corpus v2.0 (Pang and Lee, 2004). A seeded permutation of the files (sorted by
        name) puts the first ``num_train`` (1,600) in train and the rest (400) in the held-out set.
      - ``"tfds"``: tensorflow-datasets' ``imdb_reviews`` (its 25,000 train / 25,000 test split).
      - ``"auto"`` (default): ``"local"`` when ``data_dir`` is given, else ``"tfds"``.

    The vocabulary (``info["vocab"]``, ids 0 = PAD, 1 = UNK) has the ``vocab_size`` most frequent
    tokens of the training split only, among those seen at least ``min_count`` times there;
    held-out words outside it map to UNK.

    Args:
      data_dir: the review folder (see above).
      source: ``"auto"``, ``"local"`` or ``"tfds"``.
      max_len: tokens per review after padding/truncation.
      vocab_size: vocabulary size including PAD and UNK.
      keep: truncation keeps the ``"first"`` or ``"last"`` ``max_len`` tokens.
      num_train: size of the training split (local source).
      seed: seed of the split's permutation (local source).
      tfds_data_dir: tensorflow-datasets' own cache folder.
      min_count: a word enters the vocabulary only if it occurs at least this many times in the
        training split (counted there only).
    """
    check_source(source)
    if source == "auto":
        source = "local" if data_dir is not None else "tfds"
    common = dict(max_len=max_len, vocab_size=vocab_size, keep=keep, min_count=min_count)
    if source == "local":
        if data_dir is None:
            raise ValueError("`data_dir` is required with source='local'")
        folder = find_reviews_dir(data_dir)
        if folder is None:
            raise FileNotFoundError(
                f"no review folder in {str(data_dir)!r}: need pos/ and neg/ subfolders there or "
                "in txt_sentoken/ or movie_reviews/txt_sentoken/"
            )
        texts, labels = read_review_folder(folder)
        if not 0 < num_train < len(texts):
            raise ValueError(
                f"`num_train` must be between 1 and {len(texts) - 1} for {folder}, got {num_train}"
            )
        perm = np.random.default_rng(seed).permutation(len(texts))
        train_idx, test_idx = perm[:num_train], perm[num_train:]
        return _make(
            "reviews",
            [texts[i] for i in train_idx],
            labels[train_idx],
            [texts[i] for i in test_idx],
            labels[test_idx],
            source=(
                f"local review folder {folder}: {len(texts):,} reviews, seeded split (seed {seed}) "
                f"{len(train_idx):,} train / {len(test_idx):,} held out"
            ),
            **common,
        )
    if not tfds_installed():
        raise FileNotFoundError(
            "reviews: no `data_dir` given and tensorflow-datasets is not installed; pass a folder "
            "with pos/ and neg/ (e.g. ../shared/data/movie_reviews/txt_sentoken) or "
            "`pip install tensorflow-datasets importlib_resources`"
        )
    try:
        train = tfds_examples("imdb_reviews", "train", tfds_data_dir)
        test = tfds_examples("imdb_reviews", "test", tfds_data_dir)
    except Exception as err:  # network, missing extras, ... : say why and what to do instead
        raise RuntimeError(
            f"reviews: tensorflow-datasets could not load 'imdb_reviews' ({type(err).__name__}: "
            f"{err}); pass `data_dir`, a folder with pos/ and neg/, to use local files"
        ) from err
    return _make(
        "reviews",
        [e["text"] for e in train],
        [int(e["label"]) for e in train],
        [e["text"] for e in test],
        [int(e["label"]) for e in test],
        source=(f"tensorflow-datasets 'imdb_reviews': {len(train):,} train / {len(test):,} test"),
        **common,
    )
