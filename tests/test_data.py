"""Tests of rmsjax.data: the IDX reader, MNIST and review loaders, embedded data, tfds path."""

import gzip
import hashlib
import struct
import subprocess
import sys

import jax
import numpy as np
import pytest

from rmsjax import data as D
from rmsjax.data import IDXError

# ------------------------------------------------------------------------------------ helpers


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file's bytes for a uint8 array (magic 0x0000 08 ndim, big-endian sizes)."""
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(folder, name, images, labels, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    for kind, arr in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)):
        raw = idx_bytes(arr)
        path = folder / f"{name}-{kind}{'.gz' if gz else ''}"
        path.write_bytes(gzip.compress(raw) if gz else raw)


def fake_mnist(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


# -------------------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [True, False])
def test_idx_roundtrip(tmp_path, gz):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / ("a.idx.gz" if gz else "a.idx")
    raw = idx_bytes(arr)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    out = D.read_idx(path, expect_ndim=3)
    np.testing.assert_array_equal(out, arr)
    assert out.dtype == np.uint8


def test_idx_big_endian_types():
    raw = struct.pack(">I", 0x0C01) + struct.pack(">I", 2) + np.array([1, -2], ">i4").tobytes()
    out = D.parse_idx(raw)
    np.testing.assert_array_equal(out, [1, -2])
    assert out.dtype == np.dtype("int32")


def test_idx_truncated_plain_file_names_the_file(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(idx_bytes(np.zeros((3, 28, 28), np.uint8))[:-10])
    with pytest.raises(IDXError, match=f"{path}.*truncated.*shape \\(3, 28, 28\\)"):
        D.read_idx(path)


def test_idx_truncated_gzip_names_the_file(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(1000, np.uint8)))[:-20])
    with pytest.raises(IDXError, match=f"{path}.*gzip"):
        D.read_idx(path)


def test_idx_bad_magic_and_wrong_kind(tmp_path):
    path = tmp_path / "not-idx"
    path.write_bytes(b"PK\x03\x04" + bytes(100))  # a zip file, say
    with pytest.raises(IDXError, match=f"{path}: bad IDX magic number 0x504b0304"):
        D.read_idx(path)
    labels = tmp_path / "labels"
    labels.write_bytes(idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(IDXError, match=f"{labels}.*1 dimensions, expected 3"):
        D.read_idx(labels, expect_ndim=3)
    with pytest.raises(IDXError, match="too short"):
        D.parse_idx(b"\x00\x00", name="x")
    with pytest.raises(IDXError, match="trailing bytes"):
        D.parse_idx(idx_bytes(np.zeros(2, np.uint8)) + b"\x00", name="x")


# ------------------------------------------------------------------------------------ MNIST


def test_mnist_real_files(shared_data):
    folder = shared_data / "mnist"
    images_gz = folder / "t10k-images-idx3-ubyte.gz"
    labels_gz = folder / "t10k-labels-idx1-ubyte.gz"
    if not images_gz.is_file():
        pytest.skip(f"{images_gz} not found")
    # The official checksums (../shared/data/README.md): the reader sees the real files.
    assert hashlib.md5(images_gz.read_bytes()).hexdigest() == "9fb629c4189551a2d022fa330f9573f3"
    assert hashlib.md5(labels_gz.read_bytes()).hexdigest() == "ec29112dd5afa0611ce80d1b7f02629c"
    images, labels = D.read_idx(images_gz), D.read_idx(labels_gz)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and set(np.unique(labels)) == set(range(10))
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the well-known first digits

    ds = D.load_mnist(shared_data)  # the parent folder works too (mnist/ subfolder)
    assert (ds.num_train, ds.num_test) == (8000, 2000)
    assert ds.x_train.shape == (8000, 784) and ds.x_train.dtype == np.float32
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    # Deterministic: the first 8,000 train, the last 2,000 evaluate, in file order.
    np.testing.assert_array_equal(ds.y_train, labels[:8000])
    np.testing.assert_array_equal(ds.y_test, labels[8000:])
    np.testing.assert_allclose(ds.x_test[0] * 255, images[8000].reshape(-1), atol=1e-3)
    assert "first 8,000 train / last 2,000 eval" in ds.source and "not the official" in ds.source
    raw = D.load_mnist(folder, dtype=np.uint8, flatten=False)
    assert raw.x_train.shape == (8000, 28, 28) and raw.x_train.dtype == np.uint8


def test_mnist_official_split_when_train_files_exist(tmp_path):
    write_mnist(tmp_path, "train", *fake_mnist(30, seed=1))
    write_mnist(tmp_path, "t10k", *fake_mnist(12, seed=2), gz=False)
    ds = D.load_mnist(tmp_path)
    assert (ds.num_train, ds.num_test) == (30, 12)
    assert "official split" in ds.source
    np.testing.assert_array_equal(ds.y_test, fake_mnist(12, seed=2)[1])


def test_mnist_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        D.load_mnist(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no MNIST IDX files in"):
        D.load_mnist(tmp_path)
    images, labels = fake_mnist(9000)
    write_mnist(tmp_path, "t10k", images, labels[:8999])
    with pytest.raises(IDXError, match="t10k-labels-idx1-ubyte.gz: 8999 labels for 9000 images"):
        D.load_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"garbage, not gzip, not idx")
    with pytest.raises(IDXError, match="t10k-labels-idx1-ubyte.gz: bad IDX magic"):
        D.load_mnist(tmp_path)
    with pytest.raises(ValueError, match="`source` must be one of"):
        D.load_mnist(tmp_path, source="internet")


# ---------------------------------------------------------------------------------- reviews


def test_tokenize_and_vocab():
    assert D.tokenize(b"A <br />b!") == ["a", "b", "!"]
    docs = [["good", "film", "good"], ["bad", "film"], ["good"]]
    vocab = D.build_vocab(docs, max_size=4)
    assert vocab == ["<pad>", "<unk>", "good", "film"]  # "bad" (count 1) cut by size
    assert D.build_vocab(docs, max_size=10, min_count=2) == ["<pad>", "<unk>", "good", "film"]
    ids = D.encode([["good", "bad"], ["film"] * 5], vocab, max_len=3, keep="last")
    np.testing.assert_array_equal(ids, [[2, 1, 0], [3, 3, 3]])
    with pytest.raises(ValueError, match="`keep` must be"):
        D.encode(docs, vocab, 3, keep="middle")


def make_corpus(root, n_per_class=10):
    for label in ("pos", "neg"):
        (root / label).mkdir(parents=True)
        for i in range(n_per_class):
            word = "great" if label == "pos" else "awful"
            (root / label / f"cv{i:03d}.txt").write_text(f"this film is {word} {label}word{i}\n")


def test_reviews_split_is_seeded_and_vocab_is_train_only(tmp_path):
    make_corpus(tmp_path / "txt_sentoken")
    ds = D.load_reviews(tmp_path, num_train=16, max_len=6)
    assert (ds.num_train, ds.num_test) == (16, 4)
    assert ds.x_train.shape == (16, 6) and ds.x_train.dtype == np.int32
    vocab = ds.info["vocab"]
    # Each review has a unique word posword<i>/negword<i>; only the training ones are in vocab.
    train_ids = ds.x_train[:, 4]
    test_ids = ds.x_test[:, 4]
    assert (train_ids > 1).all() and (test_ids == 1).all()  # held-out unique words are UNK
    shared = {"<pad>", "<unk>", "this", "film", "is", "great", "awful"}
    assert set(vocab) == shared | {vocab[i] for i in train_ids} and len(vocab) == 7 + 16
    # Same seed, same split; another seed, another split.
    again = D.load_reviews(tmp_path, num_train=16, max_len=6)
    np.testing.assert_array_equal(again.x_train, ds.x_train)
    other = D.load_reviews(tmp_path, num_train=16, max_len=6, seed=1)
    assert not np.array_equal(other.y_test, ds.y_test) or not np.array_equal(
        other.x_train, ds.x_train
    )
    assert "seeded split (seed 0) 16 train / 4 held out" in ds.source


def test_reviews_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no review folder in"):
        D.load_reviews(tmp_path)
    make_corpus(tmp_path)
    with pytest.raises(ValueError, match="`num_train` must be between 1 and 19"):
        D.load_reviews(tmp_path, num_train=20)


def test_reviews_real_corpus(shared_data):
    if D.reviews.find_reviews_dir(shared_data) is None:
        pytest.skip(f"no movie_reviews/txt_sentoken under {shared_data}")
    ds = D.load_reviews(shared_data, max_len=50, vocab_size=2000)
    assert (ds.num_train, ds.num_test) == (1600, 400)
    assert ds.x_train.shape == (1600, 50) and len(ds.info["vocab"]) == 2000
    # Both classes are present in both splits in roughly equal shares (1,000 each overall).
    assert 0.4 < ds.y_train.mean() < 0.6 and 0.4 < ds.y_test.mean() < 0.6
    assert "1,600 train / 400 held out" in ds.source
    # The vocabulary counts training reviews only: rebuild it by hand and compare.
    texts, labels = D.reviews.read_review_folder(D.reviews.find_reviews_dir(shared_data))
    perm = np.random.default_rng(0).permutation(len(texts))
    train_docs = [D.tokenize(texts[i]) for i in perm[:1600]]
    assert ds.info["vocab"] == D.build_vocab(train_docs, 2000)
    np.testing.assert_array_equal(ds.y_train, labels[perm[:1600]])


# ------------------------------------------------------------------------------ embedded data


def test_digits_and_xor():
    pytest.importorskip("sklearn", reason="digits come with scikit-learn")
    d = D.load_digits()
    assert (d.num_train, d.num_test) == (1438, 359) and d.x_train.shape[1] == 64
    assert d.x_train.max() <= 1.0 and d.num_classes == 10
    np.testing.assert_array_equal(D.load_digits().y_test, d.y_test)
    assert not np.array_equal(D.load_digits(seed=1).y_test, d.y_test)
    x = D.load_xor()
    np.testing.assert_array_equal(x.y_train, np.logical_xor(x.x_train[:, 0], x.x_train[:, 1]))


def test_problems_and_their_gradients():
    rosen = D.get_problem("rosenbrock")
    assert rosen.start == (-1.5, 2.5) and float(rosen.fn(np.array([1.0, 1.0]))) == 0.0
    x, y = rosen.start
    # The seed's hand-written gradient of Rosenbrock.
    expected = [-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)]
    np.testing.assert_allclose(jax.grad(rosen.fn)(np.array(rosen.start)), expected, rtol=1e-5)
    quad = D.get_problem("quadratic")
    np.testing.assert_allclose(jax.grad(quad.fn)(np.array(quad.start)), 2 * np.array(quad.start))
    X, Y, Z = quad.grid(7)
    np.testing.assert_allclose(Z, X**2 + Y**2, rtol=1e-5)
    with pytest.raises(ValueError, match="unknown 2-D problem 'beale'"):
        D.get_problem("beale")


# --------------------------------------------------------------------------- light imports


def test_import_is_light():
    code = (
        "import sys, rmsjax.data, rmsjax.tasks; "
        "heavy = [m for m in ('tensorflow', 'tensorflow_datasets', 'sklearn', 'torch') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------------------------- tfds


def test_tfds_path_with_mock_data():
    tfds = pytest.importorskip(
        "tensorflow_datasets",
        reason="tensorflow-datasets not installed (pip install tensorflow-datasets); "
        "its mock_data drives the tfds path without TensorFlow",
    )
    with tfds.testing.mock_data(num_examples=12):
        mnist = D.load_mnist(source="tfds")
        reviews = D.load_reviews(source="tfds", max_len=8, vocab_size=50)
    assert mnist.x_train.shape == (12, 784) and mnist.x_test.shape == (12, 784)
    assert mnist.x_train.dtype == np.float32 and mnist.y_train.dtype == np.int32
    assert mnist.source.startswith("tensorflow-datasets 'mnist'")
    assert reviews.x_train.shape == (12, 8) and set(np.unique(reviews.y_train)) <= {0, 1}
    assert reviews.source.startswith("tensorflow-datasets 'imdb_reviews'")
    assert len(reviews.info["vocab"]) <= 50


def test_no_data_dir_without_tfds_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(D.mnist, "tfds_installed", lambda: False)
    monkeypatch.setattr(D.reviews, "tfds_installed", lambda: False)
    with pytest.raises(FileNotFoundError, match="no `data_dir` given and tensorflow-datasets"):
        D.load_mnist()
    with pytest.raises(FileNotFoundError, match="no `data_dir` given and tensorflow-datasets"):
        D.load_reviews()


def test_reviews_min_count_counts_the_training_split_only(tmp_path):
    make_corpus(tmp_path / "txt_sentoken")
    base = D.load_reviews(tmp_path, num_train=16, max_len=6)
    ds = D.load_reviews(tmp_path, num_train=16, max_len=6, min_count=2)
    # Each review's own word (posword<i>/negword<i>) occurs once: min_count 2 drops them all.
    assert set(ds.info["vocab"]) == {"<pad>", "<unk>", "this", "film", "is", "great", "awful"}
    assert ds.info["min_count"] == 2 and base.info["min_count"] == 1
    assert (ds.x_train[:, 4] == 1).all() and (base.x_train[:, 4] > 1).all()
    # A word frequent in the held-out reviews only is not counted.
    folder = tmp_path / "txt_sentoken"
    perm = np.random.default_rng(0).permutation(20)
    order = [("neg", i) for i in range(10)] + [("pos", i) for i in range(10)]
    held_out = [order[j] for j in perm[16:]]
    assert len(held_out) == 4
    for label, i in held_out:
        path = folder / label / f"cv{i:03d}.txt"
        path.write_text(path.read_text() + " heldoutword heldoutword heldoutword\n")
    again = D.load_reviews(tmp_path, num_train=16, max_len=8, min_count=2)
    assert "heldoutword" not in again.info["vocab"]


def test_digits_are_read_as_scikit_learn_loads_them_without_importing_it():
    pytest.importorskip("sklearn", reason="digits come with scikit-learn")
    script = (
        "import sys; from rmsjax.data import toy; toy.load_digits(); "
        "assert 'sklearn' not in sys.modules, 'load_digits imported scikit-learn'"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    from sklearn.datasets import load_digits

    from rmsjax.data import toy

    pixels, target = toy._digits_arrays()
    bunch = load_digits()
    np.testing.assert_array_equal(pixels, bunch.data)
    np.testing.assert_array_equal(target, bunch.target)
