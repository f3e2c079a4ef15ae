"""Small training functions shared by tests/test_sweep.py and its multi-device subprocess."""

import jax
import jax.numpy as jnp
import numpy as np

import rmsjax

STEPS = 20


def quadratic(hparams, key):
    """RMSprop on sum(a * x**2) from a random start (static ``centered`` optional).

    Metrics: the final loss and the loss curve.
    """
    x0 = jax.random.normal(key, (3,))
    a = jnp.array([1.0, 2.0, 3.0])
    opt = rmsjax.rmsprop(
        hparams["learning_rate"], decay=hparams["decay"], centered=hparams.get("centered", False)
    )

    def step(carry, _):
        x, state = carry
        updates, state = opt.update(2 * a * x, state)
        return (x + updates, state), jnp.sum(a * x**2)

    (x, _), curve = jax.lax.scan(step, (x0, opt.init(x0)), length=STEPS)
    return {"loss": jnp.sum(a * x**2), "curve": curve}


def sgd_quadratic(hparams, key):
    """Gradient descent x <- x - lr * 2x: diverges (to inf, then NaN) for lr > 1."""
    x0 = jax.random.normal(key, (2,)) + 3.0

    def step(x, _):
        x = x - hparams["learning_rate"] * 2 * x * jnp.abs(x)
        return x, jnp.sum(x**2)

    x, curve = jax.lax.scan(step, x0, length=STEPS)
    return {"loss": jnp.sum(x**2), "accuracy": -jnp.sum(x**2), "curve": curve}


def _logistic_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5)).astype(np.float32)
    y = (x @ np.arange(1, 6, dtype=np.float32) > 0).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(y)


X, Y = _logistic_data()


def logistic(hparams, key):
    """Tiny logistic regression (closes over its data); ``decay``, static ``centered`` optional."""
    w0 = 0.1 * jax.random.normal(key, (5,))
    opt = rmsjax.rmsprop(
        hparams["learning_rate"],
        decay=hparams.get("decay", 0.9),
        centered=hparams.get("centered", False),
    )

    def loss(w):
        logits = X @ w
        return jnp.mean(jnp.logaddexp(0.0, logits) - Y * logits)

    def step(carry, _):
        w, state = carry
        value, grad = jax.value_and_grad(loss)(w)
        updates, state = opt.update(grad, state)
        return (w + updates, state), value

    (w, _), curve = jax.lax.scan(step, (w0, opt.init(w0)), length=STEPS)
    accuracy = jnp.mean(((X @ w) > 0) == (Y > 0.5))
    return {"loss": loss(w), "accuracy": accuracy, "curve": curve}
