"""Tests of rmsjax.models: shapes, masking, gradients, losses, and equivalence with torch cells."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from rmsjax.models import (
    accuracy,
    binary_accuracy,
    correct,
    mlp,
    rnn,
    sigmoid_binary_cross_entropy,
    softmax_cross_entropy,
)

# ---------------------------------------------------------------------------------------- MLP


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_mlp_shapes_and_jit(activation):
    params = mlp.init(jax.random.key(0), (5, 7, 6, 3), activation=activation)
    assert [p["w"].shape for p in params] == [(5, 7), (7, 6), (6, 3)]
    assert all(p["b"].dtype == jnp.float32 and not p["b"].any() for p in params)
    x = jax.random.normal(jax.random.key(1), (4, 5))
    out = jax.jit(mlp.apply, static_argnames="activation")(params, x, activation=activation)
    assert out.shape == (4, 3)
    # The same layers written out by hand.
    act = {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh}[activation]
    h = act(x @ params[0]["w"] + params[0]["b"])
    h = act(h @ params[1]["w"] + params[1]["b"])
    np.testing.assert_allclose(out, h @ params[2]["w"] + params[2]["b"], rtol=1e-5, atol=1e-6)


def test_mlp_init_scale():
    # He initialisation: std sqrt(2 / fan_in); 784 * 512 samples estimate it to well under 1%.
    params = mlp.init(jax.random.key(0), (784, 512, 10))
    np.testing.assert_allclose(np.std(params[0]["w"]), np.sqrt(2 / 784), rtol=0.02)


def test_mlp_uint8_input_is_cast():
    params = mlp.init(jax.random.key(0), (3, 2))
    x = jnp.array([[1, 2, 3]], jnp.uint8)
    np.testing.assert_allclose(mlp.apply(params, x), mlp.apply(params, x.astype(jnp.float32)))


def test_mlp_errors():
    with pytest.raises(ValueError, match="`activation` must be one of .* got 'gelu'"):
        mlp.init(jax.random.key(0), (2, 2), activation="gelu")
    with pytest.raises(ValueError, match="`sizes` must be at least two"):
        mlp.init(jax.random.key(0), (2,))
    with pytest.raises(ValueError, match="`sizes`"):
        mlp.init(jax.random.key(0), (2, 0, 3))


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_mlp_gradients_match_finite_differences(activation):
    params = mlp.init(jax.random.key(0), (3, 4, 2), activation=activation)
    x = jax.random.normal(jax.random.key(1), (5, 3))
    y = jnp.array([0, 1, 1, 0, 1])

    def loss(p):
        return jnp.mean(softmax_cross_entropy(mlp.apply(p, x, activation=activation), y))

    # float32 central differences: check_grads' float32 tolerance (~1e-2 relative) is the bound.
    check_grads(jax.jit(loss), (params,), order=1, modes=["rev"], eps=1e-3)


# ---------------------------------------------------------------------------------------- RNN

# Jitted once per shape: much faster than op-by-op dispatch, and what users run.
encode = jax.jit(rnn.encode, static_argnames=("cell", "unroll"))
apply = jax.jit(rnn.apply, static_argnames=("cell", "pooling", "unroll"))


def _rnn_params(cell, vocab=20, embed=5, hidden=6, classes=3, seed=0):
    return rnn.init(
        jax.random.key(seed),
        vocab_size=vocab,
        embed_dim=embed,
        hidden_size=hidden,
        num_classes=classes,
        cell=cell,
    )


@pytest.mark.parametrize("cell", ["elman", "gru"])
def test_rnn_shapes(cell):
    p = _rnn_params(cell)
    gates = 3 if cell == "gru" else 1
    assert p["cell"]["w_in"].shape == (5, 6 * gates)
    assert p["cell"]["w_rec"].shape == (6, 6 * gates)
    tokens = jax.random.randint(jax.random.key(1), (4, 9), 0, 20)
    for pooling in ["mean", "last"]:
        out = apply(p, tokens, cell=cell, pooling=pooling)
        assert out.shape == (4, 3) and out.dtype == jnp.float32


@pytest.mark.parametrize("cell", ["elman", "gru"])
def test_padding_changes_neither_state_nor_mean(cell):
    p = _rnn_params(cell)
    seq = jnp.array([[3, 7, 2, 9, 4]])
    last_ref, mean_ref = encode(p, seq, cell=cell)
    padded = {
        "end": jnp.array([[3, 7, 2, 9, 4, 0, 0, 0]]),
        "front": jnp.array([[0, 0, 3, 7, 2, 9, 4]]),
        "middle": jnp.array([[3, 7, 0, 0, 0, 2, 9, 4]]),
    }
    for where, tokens in padded.items():
        last, mean = encode(p, tokens, cell=cell)
        np.testing.assert_allclose(last, last_ref, rtol=1e-6, atol=1e-7, err_msg=where)
        np.testing.assert_allclose(mean, mean_ref, rtol=1e-6, atol=1e-7, err_msg=where)
    # And it matters: a padding id that were read as a token would change the state.
    last_unmasked, _ = encode(p, padded["end"], jnp.ones((1, 8), bool), cell=cell)
    assert not np.allclose(last_unmasked, last_ref)


@pytest.mark.parametrize("cell", ["elman", "gru"])
def test_batch_with_different_lengths(cell):
    # Each row of a padded batch gives what it gives alone.
    p = _rnn_params(cell)
    batch = jnp.array([[1, 2, 3, 4], [5, 6, 0, 0], [7, 0, 0, 0]])
    logits = apply(p, batch, cell=cell)
    for i, n in enumerate([4, 2, 1]):
        alone = apply(p, batch[i : i + 1, :n], cell=cell)
        np.testing.assert_allclose(logits[i], alone[0], rtol=1e-5, atol=1e-6)


def test_all_padding_gives_zero_state():
    p = _rnn_params("gru")
    last, mean = encode(p, jnp.zeros((2, 5), jnp.int32), cell="gru")
    assert not last.any() and not mean.any()


@pytest.mark.parametrize("cell", ["elman", "gru"])
def test_padding_gets_no_gradient(cell):
    # The PAD embedding row never influences the loss, so its gradient is exactly zero.
    p = _rnn_params(cell)
    tokens = jnp.array([[3, 7, 2, 0, 0], [4, 0, 0, 0, 0]])

    def loss(params):
        return jnp.mean(softmax_cross_entropy(apply(params, tokens, cell=cell), jnp.array([0, 2])))

    g = jax.jit(jax.grad(loss))(p)
    assert not g["embed"][rnn.PAD_ID].any()
    assert g["embed"][3].any()


@pytest.mark.parametrize("cell", ["elman", "gru"])
@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_rnn_gradients_match_finite_differences(cell, pooling):
    p = _rnn_params(cell, vocab=8, embed=3, hidden=4, classes=2)
    tokens = jnp.array([[1, 5, 2, 0], [7, 3, 0, 0]])
    y = jnp.array([1, 0])

    def loss(params):
        logits = apply(params, tokens, cell=cell, pooling=pooling)
        return jnp.mean(softmax_cross_entropy(logits, y))

    check_grads(jax.jit(loss), (p,), order=1, modes=["rev"], eps=1e-3)


def test_unroll_gives_the_same_result():
    p = _rnn_params("gru")
    tokens = jax.random.randint(jax.random.key(3), (3, 11), 0, 20)
    np.testing.assert_allclose(apply(p, tokens, unroll=4), apply(p, tokens), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell", ["elman", "gru"])
def test_cells_match_torch(cell):
    torch = pytest.importorskip("torch", reason="torch is needed for the cell-equivalence test")
    p = _rnn_params(cell, vocab=30, embed=5, hidden=7)
    tokens = np.asarray(jax.random.randint(jax.random.key(4), (3, 6), 1, 30))
    layer = (torch.nn.GRU if cell == "gru" else torch.nn.RNN)(5, 7, batch_first=True)
    with torch.no_grad():
        c = p["cell"]
        layer.weight_ih_l0.copy_(torch.tensor(np.array(c["w_in"]).T))
        layer.weight_hh_l0.copy_(torch.tensor(np.array(c["w_rec"]).T))
        layer.bias_ih_l0.copy_(torch.tensor(np.array(c["b_in"])))
        layer.bias_hh_l0.copy_(torch.tensor(np.array(c["b_rec"])))
        emb = torch.tensor(np.array(p["embed"])[tokens])
        out, h_n = layer(emb)
    last, mean = encode(p, jnp.asarray(tokens), cell=cell)
    # Same float32 arithmetic in a different order: agreement to ~1e-6, tolerance 1e-5.
    np.testing.assert_allclose(last, h_n[0].numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mean, out.mean(1).numpy(), rtol=1e-5, atol=1e-5)


def test_rnn_errors():
    with pytest.raises(ValueError, match="`cell` must be one of .* got 'lstm'"):
        _rnn_params("lstm")
    p = _rnn_params("elman")
    with pytest.raises(ValueError, match="does not match parameters"):
        apply(p, jnp.ones((1, 3), jnp.int32), cell="gru")
    with pytest.raises(ValueError, match="`pooling` must be one of"):
        apply(p, jnp.ones((1, 3), jnp.int32), cell="elman", pooling="median")
    with pytest.raises(ValueError, match="`pooling` must be one of"):
        rnn.init(
            jax.random.key(0),
            vocab_size=3,
            embed_dim=2,
            hidden_size=2,
            num_classes=2,
            pooling="sum",
        )
    with pytest.raises(ValueError, match=r"`tokens` must be \[batch, time\]"):
        apply(p, jnp.ones((3,), jnp.int32), cell="elman")
    with pytest.raises(ValueError, match="`hidden_size` must be a positive integer"):
        rnn.init(jax.random.key(0), vocab_size=3, embed_dim=2, hidden_size=0, num_classes=2)


# ------------------------------------------------------------------------------------- losses


def test_softmax_cross_entropy_matches_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 4)).astype(np.float32) * 3
    labels = rng.integers(0, 4, size=6)
    shifted = logits - logits.max(1, keepdims=True)
    expected = -(shifted - np.log(np.exp(shifted).sum(1, keepdims=True)))[np.arange(6), labels]
    np.testing.assert_allclose(softmax_cross_entropy(logits, labels), expected, rtol=1e-5)
    # Stable where a naive softmax overflows.
    big = softmax_cross_entropy(jnp.array([[1000.0, 0.0]]), jnp.array([1]))
    np.testing.assert_allclose(big, [1000.0])


def test_sigmoid_binary_cross_entropy_matches_formula():
    z = np.linspace(-5, 5, 11).astype(np.float32)
    y = (np.arange(11) % 2).astype(np.float32)
    s = 1 / (1 + np.exp(-z.astype(np.float64)))
    expected = -(y * np.log(s) + (1 - y) * np.log(1 - s))
    np.testing.assert_allclose(sigmoid_binary_cross_entropy(z[:, None], y), expected, rtol=1e-5)
    assert np.isfinite(
        sigmoid_binary_cross_entropy(jnp.array([-1e4, 1e4]), jnp.array([1, 0]))
    ).all()


def test_accuracy_metrics():
    logits = jnp.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    labels = jnp.array([1, 1, 1])
    np.testing.assert_array_equal(correct(logits, labels), [1.0, 0.0, 1.0])
    np.testing.assert_allclose(accuracy(logits, labels), 2 / 3)
    np.testing.assert_allclose(binary_accuracy(jnp.array([[1.0], [-1.0]]), jnp.array([1, 1])), 0.5)


def test_embedding_dropout():
    p = _rnn_params("gru")
    tokens = jnp.array([[3, 7, 2, 0]])
    base = apply(p, tokens)
    np.testing.assert_array_equal(rnn.apply(p, tokens, dropout=0.0), rnn.apply(p, tokens))
    dropped = rnn.apply(p, tokens, dropout=0.5, key=jax.random.key(0))
    assert dropped.shape == base.shape and not np.allclose(dropped, base)
    with pytest.raises(ValueError, match="`dropout`=0.5 needs a PRNG `key`"):
        rnn.apply(p, tokens, dropout=0.5)


@pytest.mark.parametrize("cell", ["elman", "gru"])
@pytest.mark.parametrize("pooling", ["max", "mean_max"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_new_poolings_and_bidirectional_ignore_padding(cell, pooling, bidirectional):
    p = rnn.init(
        jax.random.key(0),
        vocab_size=20,
        embed_dim=5,
        hidden_size=6,
        num_classes=3,
        cell=cell,
        pooling=pooling,
        bidirectional=bidirectional,
    )
    features = 6 * (2 if pooling == "mean_max" else 1) * (2 if bidirectional else 1)
    assert p["head"]["w"].shape == (features, 3)
    assert ("cell_bwd" in p) == bidirectional
    ref = apply(p, jnp.array([[3, 7, 2, 9, 4]]), cell=cell, pooling=pooling)
    for padded in ([[3, 7, 2, 9, 4, 0, 0, 0]], [[0, 0, 3, 7, 2, 9, 4]], [[3, 7, 0, 0, 2, 9, 4]]):
        out = apply(p, jnp.array(padded), cell=cell, pooling=pooling)
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    # An all-padding row gives zero features, so the logits are the head's bias.
    empty = apply(p, jnp.zeros((1, 4), jnp.int32), cell=cell, pooling=pooling)
    np.testing.assert_allclose(empty, p["head"]["b"][None], atol=1e-6)


def test_pool_inputs_adds_the_mean_embedding_of_the_unpadded_words():
    kw = dict(vocab_size=20, embed_dim=5, hidden_size=6, num_classes=2)
    p = rnn.init(jax.random.key(0), pool_inputs=True, **kw)
    assert p["head"]["w"].shape == (6 + 5, 2)
    # The rest of the parameters are those of the model without it, from the same key.
    plain = rnn.init(jax.random.key(0), **kw)
    np.testing.assert_array_equal(plain["cell"]["w_rec"], p["cell"]["w_rec"])
    tokens = jnp.array([[3, 7, 2, 0, 0]])
    _, mean_state = rnn.encode(p, tokens)
    mean_embed = p["embed"][jnp.array([3, 7, 2])].mean(axis=0)[None]
    features = jnp.concatenate([mean_state, mean_embed], -1)
    expected = features @ p["head"]["w"] + p["head"]["b"]
    out = rnn.apply(p, tokens, pool_inputs=True)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    padded = rnn.apply(p, jnp.array([[0, 3, 7, 0, 2, 0]]), pool_inputs=True)
    np.testing.assert_allclose(padded, out, rtol=1e-5, atol=1e-6)
    # Dropped words leave both paths: as evaluating with them masked out.
    key = jax.random.key(3)
    dropped = rnn.apply(p, tokens, word_dropout=0.5, key=key, pool_inputs=True)
    keep = jax.random.bernoulli(jax.random.split(key)[1], 0.5, tokens.shape) & (tokens != 0)
    masked = rnn.apply(p, tokens, mask=keep, pool_inputs=True)
    np.testing.assert_allclose(dropped, masked, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"`pool_inputs`=False gives 6 features, but the head"):
        rnn.apply(p, tokens)
    with pytest.raises(ValueError, match=r"`pool_inputs`=True gives 11 features, but the head"):
        rnn.apply(plain, tokens, pool_inputs=True)


def test_max_pooling_is_the_max_of_the_states():
    p = rnn.init(
        jax.random.key(0),
        vocab_size=20,
        embed_dim=5,
        hidden_size=6,
        num_classes=2,
        cell="gru",
        pooling="max",
    )
    tokens = jnp.array([[3, 7, 2, 0]])
    states = [rnn.encode(p, tokens[:, : t + 1])[0] for t in range(3)]
    top = jnp.max(jnp.stack(states), axis=0)
    expected = top @ p["head"]["w"] + p["head"]["b"]
    np.testing.assert_allclose(apply(p, tokens, pooling="max"), expected, rtol=1e-5, atol=1e-6)


def test_bidirectional_backward_cell_reads_the_reversed_sequence():
    p = rnn.init(
        jax.random.key(0),
        vocab_size=20,
        embed_dim=5,
        hidden_size=6,
        num_classes=2,
        pooling="last",
        bidirectional=True,
    )
    tokens = jnp.array([[3, 7, 2, 0, 0]])
    fwd_last, _ = rnn.encode(p, tokens)
    bwd_last, _ = rnn.encode({**p, "cell": p["cell_bwd"]}, jnp.array([[2, 7, 3]]))
    expected = jnp.concatenate([fwd_last, bwd_last], -1) @ p["head"]["w"] + p["head"]["b"]
    np.testing.assert_allclose(apply(p, tokens, pooling="last"), expected, rtol=1e-5, atol=1e-6)
    # The forward parameters are those of the unidirectional model with the same key.
    uni = rnn.init(jax.random.key(0), vocab_size=20, embed_dim=5, hidden_size=6, num_classes=2)
    np.testing.assert_array_equal(uni["cell"]["w_rec"], p["cell"]["w_rec"])


def test_word_dropout_skips_words_in_training_only():
    p = _rnn_params("gru")
    tokens = jnp.array([[3, 7, 2, 5, 9, 4, 0]])
    np.testing.assert_array_equal(rnn.apply(p, tokens, word_dropout=0.0), apply(p, tokens))
    with pytest.raises(ValueError, match="`word_dropout`=0.5 needs a PRNG `key`"):
        rnn.apply(p, tokens, word_dropout=0.5)
    key = jax.random.key(3)
    dropped = rnn.apply(p, tokens, word_dropout=0.5, key=key)
    # Same as evaluating with the dropped words masked out (skipped, like padding).
    _, k_word = jax.random.split(key)
    keep = jax.random.bernoulli(k_word, 0.5, tokens.shape) & (tokens != 0)
    assert 0 < int(keep.sum()) < 6
    np.testing.assert_allclose(dropped, apply(p, tokens, keep), rtol=1e-5, atol=1e-6)
