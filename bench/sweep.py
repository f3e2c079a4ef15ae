"""Wall time of a learning-rate sweep on MNIST: four ways to run it, in one run.

The seed's network (784-128-10 MLP, ReLU, softmax cross-entropy, batch 128) trained with RMSprop
(decay 0.9, eps 1e-8 inside the root, as optax) for ``--epochs`` epochs at ``--configs`` learning
rates (log-spaced, 1e-4 to 1e-1), on the first 8,000 images of the MNIST test set (the offline
copy; batches in file order, 62 per epoch). Every way starts from the same parameters and
computes the same trajectories; the table gives each wall time *including compilation*:

  (a) a Python loop that builds ``optax.rmsprop(lr)`` for each float lr and jits its own step;
  (b) a Python loop over one jitted epoch function (a ``lax.scan`` over batches) taking lr as an
      argument (compiled once);
  (c) one ``jit(vmap(...))`` of the whole training over all learning rates;
  (d) ``rmsjax.sweep`` with its defaults (chunk_size="auto", all devices, progress bar).

Targets (issue 4): (d) <= 0.55 x (a), and (d) <= 1.1 x min((b), (c)). ``--gpu-scaling`` instead
times ``rmsjax.sweep`` on 1 and on 64 configurations (target on a GPU: 64 in <= 2 x the time of 1).

Timing protocol (bench/_harness.py): each round runs the ways forward and then backward (ABBA),
and (d) runs once more as "(d') again", an A/A pair with (d). Ratios are medians over rounds of
per-round ratios; the A/A interval (a bootstrap interval of the median of the per-round ratios
(d')/(d), and how far from 1 it reaches) is printed beside them, and a ratio is judged against a
target only where it lies farther from it than that.

    python bench/sweep.py                           # 16 learning rates x 3 epochs
    python bench/sweep.py --configs 4 --epochs 1    # quick
    python bench/sweep.py --repeats 3               # medians of 3 interleaved rounds
    python bench/sweep.py --gpu-scaling
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import _harness  # bench/_harness.py (the script's folder is on sys.path)
import _machine
import _record
import jax
import jax.numpy as jnp
import numpy as np
import optax

import rmsjax
from rmsjax.data import load_mnist
from rmsjax.models import mlp, softmax_cross_entropy

BATCH = 128
NUM_TRAIN = 8000
SIZES = (784, 128, 10)
# ../shared/data next to the repository, or $RMSJAX_DATA_DIR (as the tests find it)
DEFAULT_DATA_DIR = (
    Path(os.environ.get("RMSJAX_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
    / "mnist"
)


def load_batches(data_dir: str) -> tuple[np.ndarray, np.ndarray]:
    """(num_batches, 128, 784) float32 images in [0, 1] and (num_batches, 128) int32 labels."""
    try:
        data = load_mnist(data_dir, source="local")
    except (FileNotFoundError, ValueError) as e:
        sys.exit(
            f"bench/sweep.py needs the MNIST IDX files (t10k-images-idx3-ubyte.gz and "
            f"t10k-labels-idx1-ubyte.gz) in --data-dir {data_dir!r}: {e}"
        )
    x, y = data.x_train[:NUM_TRAIN], data.y_train[:NUM_TRAIN]
    n = (len(x) // BATCH) * BATCH
    return (
        x[:n].reshape(-1, BATCH, SIZES[0]).astype(np.float32),
        y[:n].reshape(-1, BATCH).astype(np.int32),
    )


def loss_fn(params, x, y):
    return jnp.mean(softmax_cross_entropy(mlp.apply(params, x), y))


def make_epoch(opt):
    """One epoch: a lax.scan of RMSprop steps over the batches; returns the mean loss."""

    def step(carry, batch):
        params, state = carry
        loss, grads = jax.value_and_grad(loss_fn)(params, *batch)
        updates, state = opt.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), loss

    def epoch(params, state, xs, ys):
        (params, state), losses = jax.lax.scan(step, (params, state), (xs, ys))
        return params, state, jnp.mean(losses)

    return epoch


def train_all(lr, params, xs, ys, epochs):
    """Every epoch for one learning rate, traced (for (c) and (d)); returns per-epoch losses."""
    opt = rmsjax.rmsprop(lr, decay=0.9, eps=1e-8, eps_in_sqrt=True)  # = optax.rmsprop(lr)
    epoch = make_epoch(opt)

    def body(carry, _):
        params, state = carry
        params, state, loss = epoch(params, state, xs, ys)
        return (params, state), loss

    _, losses = jax.lax.scan(body, (params, opt.init(params)), None, length=epochs)
    return losses


def way_a(lrs, params0, xs, ys, epochs):
    batches = [(jnp.asarray(x), jnp.asarray(y)) for x, y in zip(xs, ys, strict=True)]
    jax.block_until_ready(batches)
    start = time.perf_counter()
    out = []
    for lr in lrs:
        opt = optax.rmsprop(float(lr))

        @jax.jit
        def step(params, state, x, y, opt=opt):
            loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
            updates, state = opt.update(grads, state, params)
            return optax.apply_updates(params, updates), state, loss

        params, state = params0, opt.init(params0)
        losses = []
        for _ in range(epochs):
            epoch_losses = []
            for x, y in batches:
                params, state, loss = step(params, state, x, y)
                epoch_losses.append(loss)
            losses.append(jnp.mean(jnp.stack(epoch_losses)))
        out.append(np.asarray(jnp.stack(losses)))
    return time.perf_counter() - start, np.stack(out)


def way_b(lrs, params0, xs, ys, epochs):
    xs, ys = jax.block_until_ready((jnp.asarray(xs), jnp.asarray(ys)))
    start = time.perf_counter()

    @jax.jit
    def epoch(lr, params, state, xs, ys):
        opt = rmsjax.rmsprop(lr, decay=0.9, eps=1e-8, eps_in_sqrt=True)
        return make_epoch(opt)(params, state, xs, ys)

    init = rmsjax.rmsprop(0.0, decay=0.9, eps=1e-8, eps_in_sqrt=True).init  # lr-free state
    out = []
    for lr in lrs:
        params, state = params0, init(params0)
        losses = []
        for _ in range(epochs):
            params, state, loss = epoch(jnp.float32(lr), params, state, xs, ys)
            losses.append(loss)
        out.append(np.asarray(jnp.stack(losses)))
    return time.perf_counter() - start, np.stack(out)


def way_c(lrs, params0, xs, ys, epochs):
    xs, ys = jax.block_until_ready((jnp.asarray(xs), jnp.asarray(ys)))
    start = time.perf_counter()
    run = jax.jit(
        jax.vmap(lambda lr, p, x, y: train_all(lr, p, x, y, epochs), in_axes=(0, None, None, None))
    )
    out = np.asarray(run(jnp.asarray(lrs, jnp.float32), params0, xs, ys))
    return time.perf_counter() - start, out


def way_d(lrs, params0, xs, ys, epochs, **sweep_kwargs):
    xs, ys = jax.block_until_ready((jnp.asarray(xs), jnp.asarray(ys)))
    start = time.perf_counter()

    def train_fn(hparams, key):
        del key  # every way starts from the same parameters
        return {"loss": train_all(hparams["learning_rate"], params0, xs, ys, epochs)}

    space = rmsjax.grid(learning_rate=[float(lr) for lr in lrs])
    result = rmsjax.sweep(train_fn, space, key=jax.random.key(0), **sweep_kwargs)
    return time.perf_counter() - start, result.metrics["loss"][:, 0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR.resolve()))
    parser.add_argument("--configs", type=int, default=16, help="number of learning rates")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="ABBA rounds of all the ways (for a shared, noisy machine); medians shown",
    )
    parser.add_argument(
        "--gpu-scaling", action="store_true", help="time rmsjax.sweep on 1 vs 64 configurations"
    )
    parser.add_argument(
        "--json",
        default=_record.default_path("sweep"),
        help="where to write the results (per-round seconds, the printed table) as JSON",
    )
    args = parser.parse_args(argv)
    if args.configs < 1 or args.epochs < 1 or args.repeats < 1:
        parser.error("--configs, --epochs and --repeats must be >= 1")
    record = _record.Record("sweep", sys.argv[1:] if argv is None else argv)
    with record.printing():
        run_benchmark(args, record)
    record.write(args.json)


def run_benchmark(args, record):
    xs, ys = load_batches(args.data_dir)
    params0 = jax.block_until_ready(mlp.init(jax.random.key(0), SIZES))
    print(f"machine: {_machine.describe()}")
    # Warm up JAX itself (backend start-up, tiny helper programs) outside every timing.
    jax.block_until_ready(jax.jit(lambda x: x + 1)(jnp.ones(3)))
    if args.gpu_scaling:
        sizes = {"1": np.array([1e-3]), "1 again": np.array([1e-3]), "64": np.logspace(-4, -1, 64)}
        measures = {
            name: lambda lrs=lrs: way_d(lrs, params0, xs, ys, args.epochs, progress=False)[0]
            for name, lrs in sizes.items()
        }
        way_d(sizes["1"], params0, xs, ys, 1, progress=False)  # untimed: one-time costs
        samples = _harness.abba(measures, args.repeats)
        spread = _harness.Spread.of(_harness.round_ratios(samples, "1 again", "1"))
        scaling = _harness.ratio(samples, "64", "1")
        print(f"MNIST MLP, {args.epochs} epochs, {len(xs)} batches of {BATCH} per epoch")
        for name in ("1", "64"):
            seconds = statistics.median(samples[name])
            print(f"rmsjax.sweep, {name:>2} configuration(s): {seconds:8.2f} s")
        print(
            f"ratio 64 / 1: {scaling:.2f}  (A/A interval {spread.describe()}; target on a GPU: "
            f"<= 2: {spread.judge(scaling, 2.0)})"
        )
        record.data = {"mode": "gpu-scaling", "epochs": args.epochs, "seconds": samples}
        return

    lrs = np.logspace(-4, -1, args.configs)
    ways = {
        "(a) loop: optax.rmsprop(lr) per lr, own jitted step": way_a,
        "(b) loop over one jitted epoch fn (lr argument)": way_b,
        "(c) one jit(vmap(...)) over all lrs": way_c,
        "(d) rmsjax.sweep, defaults": way_d,
        "(d') rmsjax.sweep again (A/A pair with (d))": way_d,
    }
    # One untimed call of each way at one learning rate and one epoch first: the process's
    # one-time costs (lowering rules, thread pools, caches) would otherwise all fall on whichever
    # way runs first (an A/A pair read 24% apart without this).
    for fn in ways.values():
        fn(lrs[:1], params0, xs, ys, 1)
    losses = {}

    def measure(name, fn):
        def run():
            seconds, losses[name[:4].strip()] = fn(lrs, params0, xs, ys, args.epochs)
            return seconds

        return run

    samples = _harness.abba(
        {name[:4].strip(): measure(name, fn) for name, fn in ways.items()}, args.repeats
    )
    spread = _harness.Spread.of(_harness.round_ratios(samples, "(d')", "(d)"))
    print(
        f"MNIST MLP {'-'.join(map(str, SIZES))}, {args.configs} learning rates x {args.epochs} "
        f"epochs, {len(xs)} batches of {BATCH} per epoch; wall time including compilation, "
        f"{args.repeats} ABBA round(s), medians"
    )
    print(f"{'way':<54}{'seconds':>9}{'vs (a)':>8}")
    for name in ways:
        key = name[:4].strip()
        seconds = statistics.median(samples[key])
        print(f"{name:<54}{seconds:>9.2f}{_harness.ratio(samples, key, '(a)'):>8.2f}")
    samples["min(b, c)"] = [min(b, c) for b, c in zip(samples["(b)"], samples["(c)"], strict=True)]
    d_a = _harness.ratio(samples, "(d)", "(a)")
    d_bc = _harness.ratio(samples, "(d)", "min(b, c)")
    print(f"A/A interval, (d') against (d): {spread.describe()}")
    print(f"(d)/(a)        = {d_a:.2f}  ({spread.judge(d_a, 0.55)})")
    print(f"(d)/min(b, c)  = {d_bc:.2f}  ({spread.judge(d_bc, 1.1)})")
    record.data = {
        "mode": "ways",
        "configs": args.configs,
        "epochs": args.epochs,
        "ways": {name[:4].strip(): name for name in ways},
        "seconds": samples,  # per way, one figure per ABBA round; "min(b, c)" per round too
        "targets": {"(d)/(a)": 0.55, "(d)/min(b, c)": 1.1},
    }
    # Same trajectories up to float32 rounding (jit, vmap and scan may order sums differently),
    # which training amplifies from lr ~1e-2 on (there even (a) and (b) differ by ~1e-2), so
    # compare where lr <= 1e-3.
    small = lrs <= 1.001e-3
    if small.any():
        gap = max(float(np.max(np.abs(losses[k][small] - losses["(a)"][small]))) for k in losses)
        print(f"largest difference of per-epoch mean losses from (a) at lr <= 1e-3: {gap:.1e}")
        record.data["largest_loss_gap_lr_le_1e-3"] = gap


if __name__ == "__main__":
    main()
