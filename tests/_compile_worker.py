"""A process for tests/test_interrupt.py: `rmsjax.sweep` with a program that takes seconds to
compile. It prints "compiling" when XLA starts compiling, for the test to send SIGINT then."""

import signal
import sys

import jax
import jax.numpy as jnp

import rmsjax

compile_ = jax.stages.Lowered.compile


def announced_compile(self, *args, **kwargs):
    print("compiling", flush=True)
    return compile_(self, *args, **kwargs)


def train_fn(hparams, key):
    """A small MLP trained by RMSprop, its loop unrolled so that XLA takes seconds on it."""
    k1, k2 = jax.random.split(key)
    params = (0.1 * jax.random.normal(k1, (64, 128)), 0.1 * jax.random.normal(k2, (128, 10)))
    x, y = jnp.ones((32, 64)), jnp.zeros((32, 10))
    opt = rmsjax.rmsprop(hparams["learning_rate"])

    def loss(p):
        return jnp.mean((jnp.tanh(x @ p[0]) @ p[1] - y) ** 2)

    def step(carry, _):
        p, state = carry
        value, grads = jax.value_and_grad(loss)(p)
        updates, state = opt.update(grads, state, p)
        return (jax.tree.map(jnp.add, p, updates), state), value

    for _ in range(int(sys.argv[1])):
        (params, _), curve = jax.lax.scan(step, (params, opt.init(params)), length=5)
    return {"loss": curve[-1]}


if __name__ == "__main__":  # never on import (pytest imports this file for its doctests)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    jax.stages.Lowered.compile = announced_compile
    space = rmsjax.grid(learning_rate=[1e-3, 1e-2, 0.1])
    rmsjax.sweep(train_fn, space, key=jax.random.key(0), chunk_size=3, progress=False)
    print("finished", flush=True)
