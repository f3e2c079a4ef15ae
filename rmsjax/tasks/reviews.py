"""Movie-review sentiment with a GRU (review folders in ``data_dir``, or tfds's IMDB)."""

from rmsjax import data
from rmsjax.tasks.base import Task

TASK = Task(
    name="reviews",
    description=(
        "movie-review sentiment, GRU over the last 600 tokens, masked mean pooling, "
        "word dropout 0.5"
    ),
    loader=data.load_reviews,
    data_options={"max_len": 600, "vocab_size": 20000, "keep": "last", "seed": 0},
    needs_data_dir=True,
    tfds=("imdb_reviews", "ai.stanford.edu"),
    model={
        "type": "rnn",
        "cell": "gru",
        "pooling": "mean",
        "embed_dim": 32,
        "hidden_size": 32,
        "word_dropout": 0.5,
    },
    loss="softmax_cross_entropy",
    # Chosen by experiment on the default split (seed 0; 1,600 train / 400 held out), trained
    # with seeds 0, 1, 2, 3: held-out accuracy 0.8375, 0.825, 0.8125, 0.7975 (target 0.80;
    # bench/accuracy.py). eps 1e-4 (not 1e-8) damps the large normalised steps RMSprop gives
    # rarely-seen word embeddings; word dropout 0.5 skips half the words of each training review
    # (lr 1e-2 then fits). Without them (lr 3e-3, eps 1e-8): 0.7975 / 0.775 (seeds 0 / 1).
    validation=0.2,
    defaults={"learning_rate": 1e-2, "decay": 0.9, "eps": 1e-4},
    epochs=10,
    batch_size=32,
    schedule="cosine",
    sweep_space={"learning_rate": (3e-3, 1e-2), "decay": (0.9, 0.99)},
)
