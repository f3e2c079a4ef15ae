"""Training throughput of rmsjax's loop against a hand-written optax loop, PyTorch and NumPy.

In one run:

- MNIST MLP 784-128-10 (ReLU, batch 128, RMSprop lr 1e-3 decay 0.9): examples/second of
  ``rmsjax.training`` (``fit``), a hand-written jitted ``lax.scan`` epoch with optax, PyTorch eager
  with ``torch.optim.RMSprop``, and a NumPy loop with hand-written backpropagation.
- The review RNN (the ``rmsjax.tasks`` "reviews" sizes when it runs, printed and recorded: e.g.
  vocabulary 20,000, embedding 32, hidden 32, 600 tokens, batch 32, masked mean pooling):
  tokens/second of training with rmsjax's GRU and Elman cells against ``torch.nn.GRU`` /
  ``torch.nn.RNN`` of the same sizes (PyTorch also computes the masked mean; neither skips
  padded steps).

Both JAX loops use ``rmsjax.rmsprop`` so the comparison isolates the loop. The data are real
(../shared/data) when present, else random arrays of the same shapes (throughput does not depend
on the values). Timings exclude compilation and the first (warm-up) epoch.

Timing protocol (bench/_harness.py): each round runs the loops forward and then backward
(ABBA), and rmsjax's loop runs a second time as an A/A pair with itself; ratios are medians over
rounds of per-round ratios, shown with a bootstrap interval of that median; the A/A interval
(the same for the A/A pair) is printed above them, and a ratio is judged against a target only
where it lies farther from it than that. The throughput column is each loop's median over
rounds: rounds differ, so ratios of those medians need not equal the medians of the ratios.

    python bench/train.py                   # full run (a few minutes on 2 CPU cores)
    python bench/train.py --quick           # fewer repetitions
    python bench/train.py --quick --examples 256   # smoke test (used by the test suite)
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
from rmsjax import data as data_lib
from rmsjax import tasks, training
from rmsjax.models import mlp, rnn, softmax_cross_entropy

# ../shared/data next to the repository, or $RMSJAX_DATA_DIR (as the tests find it)
SHARED = Path(
    os.environ.get("RMSJAX_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data")
)
LR, DECAY, BATCH = 1e-3, 0.9, 128
# PyTorch's OpenMP threads keep spinning for a moment after its work (GOMP_SPINCOUNT); pausing
# this long after a PyTorch run keeps them from slowing whatever is timed next.
TORCH_SPIN_SECONDS = 0.5
TORCH_THREADS = os.cpu_count() or 1  # --torch-threads


def mnist_arrays():
    try:
        ds = data_lib.load_mnist(SHARED)
        return ds.x_train, ds.y_train, "MNIST offline split (8,000 train)"
    except (FileNotFoundError, ValueError):
        rng = np.random.default_rng(0)
        x = rng.random((8000, 784), dtype=np.float32)
        return x, rng.integers(0, 10, 8000).astype(np.int32), "random 8,000 x 784 (no MNIST)"


def timed(run_epoch, epochs, examples_per_epoch):
    run_epoch()  # warm-up: compilation, caches
    t0 = time.perf_counter()
    for _ in range(epochs):
        run_epoch()
    return epochs * examples_per_epoch / (time.perf_counter() - t0)


# ------------------------------------------------------------------------------------ MLP


def mlp_loss(params, batch):
    x, y = batch
    return jnp.mean(softmax_cross_entropy(mlp.apply(params, x), y))


def bench_rmsjax_mlp(x, y, epochs):
    """``fit`` compiles ahead of time and times each epoch (each ends with a host sync); the
    first epoch is the warm-up, as for the other loops."""
    params = mlp.init(jax.random.key(0), (784, 128, 10))
    result = training.fit(
        params,
        rmsjax.rmsprop(LR, DECAY),
        mlp_loss,
        (x, y),
        epochs=epochs + 1,
        batch_size=BATCH,
        key=jax.random.key(1),
    )
    return epochs * (len(x) // BATCH) * BATCH / sum(result.history.epoch_seconds[1:])


def bench_optax_mlp(x, y, epochs):
    """A hand-written jitted epoch: permute, reshape into batches, lax.scan an optax step."""
    opt = rmsjax.rmsprop(LR, DECAY)
    params = mlp.init(jax.random.key(0), (784, 128, 10))
    x, y = jnp.asarray(x), jnp.asarray(y)
    nb = len(x) // BATCH

    @jax.jit
    def epoch(params, opt_state, key):
        idx = jax.random.permutation(key, len(x))[: nb * BATCH].reshape(nb, BATCH)

        def step(carry, i):
            p, s = carry
            loss, g = jax.value_and_grad(mlp_loss)(p, (x[i], y[i]))
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), loss

        (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), idx)
        return params, opt_state, losses

    state = [params, opt.init(params), 0]

    def run():
        p, s, losses = epoch(state[0], state[1], jax.random.key(state[2]))
        float(jnp.mean(losses))
        state[:] = [p, s, state[2] + 1]

    return timed(run, epochs, nb * BATCH)


def bench_torch_mlp(x, y, epochs):
    import torch

    torch.set_num_threads(TORCH_THREADS)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)
    )
    opt = torch.optim.RMSprop(model.parameters(), lr=LR, alpha=DECAY, eps=1e-8)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.tensor(np.array(x)), torch.tensor(np.array(y), dtype=torch.long)
    nb = len(x) // BATCH

    def run():
        perm = torch.randperm(len(xt))
        for b in range(nb):
            i = perm[b * BATCH : (b + 1) * BATCH]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xt[i]), yt[i])
            loss.backward()
            opt.step()

    return timed(run, epochs, nb * BATCH)


def bench_numpy_mlp(x, y, epochs):
    """The seed's algorithm, written for this benchmark: float32 NumPy, manual backprop."""
    rng = np.random.default_rng(0)
    w1 = (rng.normal(size=(784, 128)) * np.sqrt(2 / 784)).astype(np.float32)
    b1 = np.zeros(128, np.float32)
    w2 = (rng.normal(size=(128, 10)) * np.sqrt(2 / 128)).astype(np.float32)
    b2 = np.zeros(10, np.float32)
    params = [w1, b1, w2, b2]
    cache = [np.zeros_like(p) for p in params]
    x, y = np.asarray(x), np.asarray(y)
    nb = len(x) // BATCH

    def run():
        perm = rng.permutation(len(x))
        for b in range(nb):
            i = perm[b * BATCH : (b + 1) * BATCH]
            xb, yb = x[i], y[i]
            w1, b1, w2, b2 = params
            h = np.maximum(xb @ w1 + b1, 0)
            z = h @ w2 + b2
            z -= z.max(1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(1, keepdims=True)
            dz = p
            dz[np.arange(BATCH), yb] -= 1
            dz /= BATCH
            dh = (dz @ w2.T) * (h > 0)
            grads = [xb.T @ dh, dh.sum(0), h.T @ dz, dz.sum(0)]
            for k, g in enumerate(grads):
                cache[k] *= DECAY
                cache[k] += (1 - DECAY) * g * g
                params[k] -= LR * g / (np.sqrt(cache[k]) + 1e-8)

    return timed(run, epochs, nb * BATCH)


# ------------------------------------------------------------------------------------ RNN


def review_arrays(task):
    opts = task.data_options
    try:
        ds = data_lib.load_reviews(SHARED, **opts)
        return ds.x_train, ds.y_train, len(ds.info["vocab"]), "real reviews (1,600 train)"
    except (FileNotFoundError, ValueError):
        rng = np.random.default_rng(0)
        n, t, v = 1600, opts["max_len"], opts["vocab_size"]
        lengths = rng.integers(t // 2, t + 1, n)
        x = rng.integers(2, v, (n, t)).astype(np.int32) * (np.arange(t) < lengths[:, None])
        return x.astype(np.int32), rng.integers(0, 2, n).astype(np.int32), v, "random tokens"


def bench_rmsjax_rnn(x, y, vocab, cell, model, batch, epochs):
    params = rnn.init(
        jax.random.key(0),
        vocab_size=vocab,
        embed_dim=model["embed_dim"],
        hidden_size=model["hidden_size"],
        num_classes=2,
        cell=cell,
    )

    def loss_fn(p, b):
        return jnp.mean(softmax_cross_entropy(rnn.apply(p, b[0], cell=cell), b[1]))

    result = training.fit(
        params,
        rmsjax.rmsprop(3e-3, DECAY),
        loss_fn,
        (x, y),
        epochs=epochs + 1,
        batch_size=batch,
        key=jax.random.key(1),
    )
    seconds = sum(result.history.epoch_seconds[1:])  # the first epoch is the warm-up
    return epochs * (len(x) // batch) * batch * x.shape[1] / seconds


def bench_torch_rnn(x, y, vocab, cell, model, batch, epochs):
    import torch

    torch.set_num_threads(TORCH_THREADS)
    torch.manual_seed(0)
    e, h = model["embed_dim"], model["hidden_size"]
    emb = torch.nn.Embedding(vocab, e)
    layer = (torch.nn.GRU if cell == "gru" else torch.nn.RNN)(e, h, batch_first=True)
    head = torch.nn.Linear(h, 2)
    params = [*emb.parameters(), *layer.parameters(), *head.parameters()]
    opt = torch.optim.RMSprop(params, lr=3e-3, alpha=DECAY, eps=1e-8)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt = torch.tensor(np.array(x), dtype=torch.long)
    yt = torch.tensor(np.array(y), dtype=torch.long)
    nb = len(x) // batch

    def run():
        perm = torch.randperm(len(xt))
        for b in range(nb):
            i = perm[b * batch : (b + 1) * batch]
            tokens = xt[i]
            mask = (tokens != 0).unsqueeze(-1).float()
            out, _ = layer(emb(tokens))
            pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(head(pooled), yt[i])
            loss.backward()
            opt.step()

    return timed(run, epochs, nb * batch) * x.shape[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs and rounds (noisier)")
    parser.add_argument("--only", choices=["mlp", "rnn"], help="run one half only")
    parser.add_argument(
        "--examples", type=int, help="train on the first N examples only (smoke tests)"
    )
    parser.add_argument(
        "--rounds", type=int, help="ABBA rounds (default: 5 for the MLP and 2 for the RNN; 1 quick)"
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=os.cpu_count() or 1,
        help="PyTorch's intra-op threads (default: one per core). On a machine shared with other "
        "jobs, 1 keeps its OpenMP threads from waiting on each other",
    )
    parser.add_argument(
        "--json",
        default=_record.default_path("train"),
        help="where to write the results (per-round throughputs, the printed tables) as JSON",
    )
    args = parser.parse_args(argv)
    if args.examples is not None and args.examples < BATCH:
        parser.error(f"--examples must be at least the batch size, {BATCH}")
    if args.rounds is not None and args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")
    if args.torch_threads < 1:
        parser.error(f"--torch-threads must be >= 1, got {args.torch_threads}")
    mlp_epochs, rnn_epochs = (2, 1) if args.quick else (3, 2)
    mlp_rounds, rnn_rounds = (1, 1) if args.quick else (5, 2)
    if args.rounds is not None:
        mlp_rounds = rnn_rounds = args.rounds

    import torch

    global TORCH_THREADS
    TORCH_THREADS = args.torch_threads
    record = _record.Record("train", sys.argv[1:] if argv is None else argv)
    with record.printing():
        print(f"machine: {_machine.describe()}")
        print(
            f"jax {jax.__version__} on {jax.devices()[0].platform}, torch {torch.__version__} "
            f"({TORCH_THREADS} threads), numpy {np.__version__}"
        )
        if args.only != "rnn":
            record.data["mlp"] = bench_mlp(mlp_epochs, mlp_rounds, args.examples)
        if args.only != "mlp":
            record.data["rnn"] = bench_rnn(rnn_epochs, rnn_rounds, args.examples)
        print(
            "\nTargets: rmsjax >= 0.95x the optax loop and >= 2.5x PyTorch eager on the MLP; "
            ">= 1x PyTorch on the RNN. Shared machines make timings noisy: rerun to compare."
        )
    record.write(args.json)


def pause_after_torch(measure):
    """PyTorch's OpenMP threads keep spinning for a moment after its work (GOMP_SPINCOUNT):
    wait that out, so it does not slow whatever is timed next."""

    def run():
        value = measure()
        time.sleep(TORCH_SPIN_SECONDS)
        return value

    return run


def report(samples, base, names, spread, targets, unit):
    """One line per loop: its median throughput and base/loop with the bootstrap interval of
    that median ratio, judged against the A/A interval."""
    print(f"A/A interval: {spread.describe()}")
    print(f"{'loop':40s} {unit:>14s} {'rmsjax / this':>14s} {'interval':>13s}  verdict")
    for name in names:
        per_round = _harness.round_ratios(samples, base, name)
        r = statistics.median(per_round)
        low, high = _harness.median_interval(per_round)
        # Throughputs: rmsjax / this > 1 means rmsjax is faster; judge this / rmsjax as a time.
        target = targets.get(name)
        verdict = spread.judge(1 / r, 1 / target, f">= {target:g}x") if target else ""
        print(
            f"{name:40s} {statistics.median(samples[name]):14,.0f} {r:13.2f}x "
            f"{low:6.2f}-{high:<6.2f}  {verdict}"
        )


def bench_mlp(mlp_epochs, rounds, examples=None):
    x, y, what = mnist_arrays()
    x, y = x[:examples], y[:examples]
    print(
        f"\nMLP 784-128-10 ReLU, batch {BATCH}, RMSprop: {what}, {len(x)} examples, "
        f"{mlp_epochs} timed epochs, {rounds} ABBA round(s), medians"
    )
    loops = {
        "rmsjax.training.fit": bench_rmsjax_mlp,
        "hand-written optax lax.scan": bench_optax_mlp,
        "PyTorch eager (torch.optim.RMSprop)": bench_torch_mlp,
        "NumPy loop (manual backprop)": bench_numpy_mlp,
        "rmsjax.training.fit again (A/A)": bench_rmsjax_mlp,
    }
    measures = {name: lambda fn=fn: fn(x, y, mlp_epochs) for name, fn in loops.items()}
    measures = {
        name: pause_after_torch(m) if "PyTorch" in name else m for name, m in measures.items()
    }
    samples = _harness.abba(measures, rounds)
    base = "rmsjax.training.fit"
    spread = _harness.Spread.of(
        _harness.round_ratios(samples, "rmsjax.training.fit again (A/A)", base)
    )
    targets = {"hand-written optax lax.scan": 0.95, "PyTorch eager (torch.optim.RMSprop)": 2.5}
    report(samples, base, list(loops), spread, targets, "examples/s")
    return {"examples_per_second": samples, "base": base, "aa": "rmsjax.training.fit again (A/A)",
            "targets": targets}  # fmt: skip


def bench_rnn(rnn_epochs, rounds, examples=None):
    task = tasks.get("reviews")
    xr, yr, vocab, what = review_arrays(task)
    model, batch = task.model, task.batch_size
    xr, yr = xr[:examples], yr[:examples]
    print(
        f"\nreview RNN: vocab {vocab:,}, embed {model['embed_dim']}, hidden "
        f"{model['hidden_size']}, {xr.shape[1]} tokens, batch {batch}, masked mean: {what}, "
        f"{len(xr)} examples, {rounds} ABBA round(s), medians"
    )
    out = {}
    for cell in ("gru", "elman"):
        args = (xr, yr, vocab, cell, model, batch, rnn_epochs)
        measures = {
            "rmsjax": lambda args=args: bench_rmsjax_rnn(*args),
            "torch": pause_after_torch(lambda args=args: bench_torch_rnn(*args)),
            "rmsjax again (A/A)": lambda args=args: bench_rmsjax_rnn(*args),
        }
        samples = _harness.abba(measures, rounds)
        spread = _harness.Spread.of(_harness.round_ratios(samples, "rmsjax again (A/A)", "rmsjax"))
        print(f"{cell}:")
        report(samples, "rmsjax", list(measures), spread, {"torch": 1.0}, "tokens/s")
        out[cell] = {"tokens_per_second": samples, "base": "rmsjax", "aa": "rmsjax again (A/A)",
                     "targets": {"torch": 1.0}}  # fmt: skip
    return out


if __name__ == "__main__":
    main()
