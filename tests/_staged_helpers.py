"""A toy `rmsjax.Trainer` shared by the staged-search tests (and their multi-device script)."""

import collections

import jax
import jax.numpy as jnp

import rmsjax

TARGET = jnp.array([1.0, -2.0, 0.5])
TRACES = collections.Counter()  # how often init / advance were traced (or called eagerly)


def init(hparams, key):
    TRACES["init"] += 1
    x = jax.random.normal(key, (3,))
    opt = rmsjax.rmsprop(
        hparams["learning_rate"], decay=hparams["decay"], centered=hparams.get("centered", False)
    )
    return x, opt.init(x)


def advance(carry, hparams, key):
    """Five RMSprop steps on a noisy quadratic (the unit key draws the noise)."""
    TRACES["advance"] += 1
    opt = rmsjax.rmsprop(
        hparams["learning_rate"], decay=hparams["decay"], centered=hparams.get("centered", False)
    )
    noise = 0.01 * jax.random.normal(key, (5, 3))

    def step(carry, eps):
        x, state = carry
        updates, state = opt.update(2 * (x - TARGET) + eps, state)
        return (x + updates, state), None

    (x, state), _ = jax.lax.scan(step, carry, noise)
    loss = jnp.sum((x - TARGET) ** 2)
    return (x, state), {"loss": loss, "score": -loss, "x": x}


TRAINER = rmsjax.Trainer(init, advance)


def reference(hparams, key, units):
    """The same run unit by unit in Python, without vmap: per-unit losses and final metrics."""
    carry = init(hparams, key)
    losses = []
    for u in range(units):
        carry, metrics = advance(carry, hparams, jax.random.fold_in(key, u))
        losses.append(float(metrics["loss"]))
    return losses, metrics
