"""The training machinery of the tasks: a classifier's model and loss built from its
declaration, training one configuration, the pure ``train_fn`` and the ``Trainer`` of a sweep;
the cosine schedule and the tfds check every task shares. (A 2-D objective's few lines of
training are in ``objective.py``.)"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rmsjax import training
from rmsjax.models import (
    binary_correct,
    correct,
    mlp,
    rnn,
    sigmoid_binary_cross_entropy,
    softmax_cross_entropy,
)

# Evaluation runs in chunks of this many examples, so a large held-out or training set (IMDB's
# 25,000 reviews of 600 tokens) never materialises all its activations at once.
EVAL_BATCH_SIZE = 1000

# loss name -> (per-example loss, per-example hits, whether the model has one output)
LOSSES: dict[str, tuple[Callable, Callable, bool]] = {
    "softmax_cross_entropy": (softmax_cross_entropy, correct, False),
    "sigmoid_binary_cross_entropy": (sigmoid_binary_cross_entropy, binary_correct, True),
}


def _mlp(settings: Mapping[str, Any], data, outputs: int) -> tuple[Callable, Callable]:
    sizes = (int(np.prod(data.x_train.shape[1:])), *settings["hidden"], outputs)
    activation = settings["activation"]

    def init_fn(key):
        return mlp.init(key, sizes, activation=activation)

    def apply_fn(params, x):
        return mlp.apply(params, x.reshape(x.shape[0], -1), activation=activation)

    return init_fn, apply_fn


def _rnn(settings: Mapping[str, Any], data, outputs: int) -> tuple[Callable, Callable]:
    m = settings

    def init_fn(key):
        return rnn.init(
            key,
            vocab_size=len(data.info["vocab"]),
            embed_dim=m["embed_dim"],
            hidden_size=m["hidden_size"],
            num_classes=outputs,
            cell=m["cell"],
            pooling=m["pooling"],
            bidirectional=bool(m.get("bidirectional", False)),
            pool_inputs=bool(m.get("pool_inputs", False)),
        )

    def apply_fn(params, tokens, key=None):
        train = key is not None  # dropout and word dropout only when training
        return rnn.apply(
            params,
            tokens,
            cell=m["cell"],
            pooling=m["pooling"],
            dropout=m.get("dropout", 0.0) if train else 0.0,
            word_dropout=m.get("word_dropout", 0.0) if train else 0.0,
            key=key,
            pool_inputs=bool(m.get("pool_inputs", False)),
        )

    return init_fn, apply_fn


# model["type"] -> builder(settings, data, outputs) -> (init_fn, apply_fn)
MODELS: dict[str, Callable] = {"mlp": _mlp, "rnn": _rnn}


def needs_key(model: Mapping[str, Any]) -> bool:
    """Whether the model's training loss draws random numbers (dropout, word dropout)."""
    return bool(model.get("dropout") or model.get("word_dropout"))


def model_fns(task, data) -> tuple[Callable, Callable]:
    init_fn_builder = MODELS[task.model["type"]]
    outputs = 1 if LOSSES[task.loss][2] else data.num_classes
    return init_fn_builder(task.model, data, outputs)


def loss_and_metrics(task, apply_fn: Callable) -> tuple[Callable, Callable]:
    loss, hits, _ = LOSSES[task.loss]

    if needs_key(task.model):

        def loss_fn(params, batch, key):
            x, y = batch
            return jnp.mean(loss(apply_fn(params, x, key), y))

    else:

        def loss_fn(params, batch):
            x, y = batch
            return jnp.mean(loss(apply_fn(params, x), y))

    def metrics_fn(params, batch):
        x, y = batch
        logits = apply_fn(params, x)
        return {"accuracy": hits(logits, y), "loss": loss(logits, y)}

    return loss_fn, metrics_fn


def _classifier_parts(task, data) -> dict[str, Any]:
    """The keyword arguments of rmsjax.training's loops that the task's declaration fixes."""
    init_fn, apply_fn = model_fns(task, data)
    loss_fn, metrics_fn = loss_and_metrics(task, apply_fn)
    return {
        "init_fn": init_fn,
        "loss_fn": loss_fn,
        "train_data": data.train,
        "eval_data": data.test,
        "validation_data": data.validation,
        "metrics_fn": metrics_fn,
        "eval_batch_size": EVAL_BATCH_SIZE,
        "loss_takes_key": needs_key(task.model),
    }


def make_train_fn(task, data, epochs: int, batch_size: int, factory) -> Callable:
    return training.make_train_fn(
        **_classifier_parts(task, data),
        optimizer_factory=factory,
        epochs=epochs,
        batch_size=batch_size,
    )


def make_trainer(task, data, batch_size: int, factory):
    return training.make_trainer(
        **_classifier_parts(task, data), optimizer_factory=factory, batch_size=batch_size
    )


def train_classifier(task, data, opt, epochs, batch_size, key, progress, eval_every):
    """``(params, history, metrics)`` of one configuration of a classification task."""
    parts = _classifier_parts(task, data)
    init_key, shuffle_key = jax.random.split(key)
    fitted = training.fit(
        parts["init_fn"](init_key),
        opt,
        parts["loss_fn"],
        data.train,
        epochs=epochs,
        batch_size=batch_size,
        key=shuffle_key,
        eval_data=data.test,
        metrics_fn=parts["metrics_fn"],
        eval_every=eval_every,
        eval_batch_size=EVAL_BATCH_SIZE,
        progress=progress,
        loss_takes_key=parts["loss_takes_key"],
    )
    history = fitted.history
    metrics_fn = parts["metrics_fn"]
    train_metrics = jax.jit(
        lambda p, d: training.evaluate(p, d, metrics_fn, batch_size=EVAL_BATCH_SIZE)
    )(fitted.params, tuple(jnp.asarray(a) for a in data.train))
    metrics = {
        "loss": history.train_loss[-1] if history.train_loss else float("nan"),
        "test_accuracy": history.eval["accuracy"][-1] if history.eval else float("nan"),
        "test_loss": history.eval["loss"][-1] if history.eval else float("nan"),
        "train_accuracy": float(train_metrics["accuracy"]),
        "examples_per_second": history.examples_per_second,
    }
    return fitted.params, history, metrics


def cosine_factory(base: Callable, total_steps: int) -> Callable:
    """``base`` with ``learning_rate`` as the peak of a cosine decay to 0 over the run."""

    def factory(hparams: Mapping[str, Any]) -> optax.GradientTransformation:
        hp = dict(hparams)
        hp["learning_rate"] = optax.cosine_decay_schedule(hp["learning_rate"], total_steps)
        return base(hp)

    return factory


def _tfds_prepared(name: str) -> bool:
    root = os.environ.get("TFDS_DATA_DIR") or os.path.join(
        os.path.expanduser("~"), "tensorflow_datasets"
    )
    folder = os.path.join(root, name)
    if not os.path.isdir(folder):
        return False
    return any(
        os.path.isfile(os.path.join(folder, version, "dataset_info.json"))
        for version in os.listdir(folder)
    )


def check_tfds_download(task: str, name: str, host: str, timeout: float = 3.0) -> None:
    """Fail fast, writing nothing, when ``name`` would have to be downloaded and cannot be."""
    if _tfds_prepared(name):
        return
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError as err:
        raise RuntimeError(
            f"{task}: tensorflow-datasets could not load {name!r} (it is not in its cache and "
            f"{host} cannot be reached: {type(err).__name__}: {err}); pass `data_dir`, a folder "
            "holding the files, to use local files"
        ) from None
