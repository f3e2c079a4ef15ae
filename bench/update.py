"""Seconds per RMSprop update step: rmsjax against optax and PyTorch, and the memory roofline.

One RMSprop step (no momentum) must read the parameters, the gradients and the second moment and
write the parameters and the second moment: 5 x 4 bytes per float32 parameter (4.5 x 4 with the
second moment stored in bfloat16). The roofline is that byte count over the memory bandwidth,
measured in the same run by a jitted triad ``a = b + s * c`` (3 x 4 bytes per element) on the
same backend. Every configuration is timed in interleaved rounds (so drift on a shared machine
hits all of them alike) and the median round is reported.

    python bench/update.py            # full table: 1M and 16M parameters, 1/100/1000 leaves
    python bench/update.py --quick    # small smoke run (used by the test suite)
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import _machine  # bench/_machine.py (the script's folder is on sys.path)
import jax
import jax.numpy as jnp
import numpy as np
import optax

import rmsjax


def make_tree(n_params: int, n_leaves: int, seed: int = 0) -> dict:
    sizes = [n_params // n_leaves] * n_leaves
    sizes[-1] += n_params - sum(sizes)
    rng = np.random.default_rng(seed)
    return {f"p{i:04d}": rng.standard_normal(s, dtype=np.float32) for i, s in enumerate(sizes)}


def jax_stepper(tx: optax.GradientTransformation, tree: dict) -> Callable[[], None]:
    """A timed step: jitted update + apply with the params and state buffers donated."""
    params = jax.tree.map(jnp.asarray, tree)
    grads = jax.tree.map(lambda x: jnp.asarray(0.1 * x), tree)
    state = tx.init(params)

    @jax.jit
    def _step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    step = jax.jit(_step, donate_argnums=(0, 1))
    box = [params, state]

    def run():
        box[0], box[1] = step(box[0], box[1], grads)

    def sync():
        jax.block_until_ready(box)

    run()
    sync()
    run.sync = sync
    return run


def torch_stepper(tree: dict, foreach: bool) -> Callable[[], None]:
    import torch

    params = [torch.from_numpy(v.copy()) for v in tree.values()]
    for p in params:
        p.grad = 0.1 * p.detach().clone()
    opt = torch.optim.RMSprop(params, lr=1e-3, alpha=0.9, eps=1e-8, foreach=foreach)

    def run():
        with torch.no_grad():
            opt.step()

    run()
    run.sync = lambda: None
    return run


def triad_stepper(n: int) -> tuple[Callable[[], None], int]:
    """a <- a + s * c over n float32 elements, in place: 3 x 4 bytes moved per element."""
    c = jnp.full(n, 2.0, jnp.float32)
    triad = jax.jit(lambda a, c: a + 0.5 * c, donate_argnums=(0,))
    box = [jnp.zeros(n, jnp.float32)]

    def run():
        box[0] = triad(box[0], c)

    run.sync = lambda: jax.block_until_ready(box)
    run()
    run.sync()
    return run, 12 * n


def time_interleaved(fns: dict, iters: int, rounds: int) -> dict[str, float]:
    """Median over rounds of the mean seconds per call.

    Configurations alternate every round, and the order rotates from round to round, so no
    configuration always runs right after the same other one (PyTorch's thread pool, for one,
    keeps cores busy for a moment after its work is done).
    """
    samples = {k: [] for k in fns}
    names = list(fns)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            fn = fns[name]
            fn.sync()
            t0 = time.perf_counter()
            for _ in range(iters):
                fn()
            fn.sync()
            samples[name].append((time.perf_counter() - t0) / iters)
    return {k: statistics.median(v) for k, v in samples.items()}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats (smoke test)")
    ap.add_argument("--sizes", default="1M,16M", help="parameter counts, e.g. 1M,16M")
    ap.add_argument("--leaves", default="1,100,1000", help="leaf counts, e.g. 1,100,1000")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    args = ap.parse_args(argv)

    def parse_size(s: str) -> int:
        s = s.strip().upper()
        mult = {"K": 1 << 10, "M": 1 << 20}.get(s[-1], 1)
        return int(float(s.rstrip("KM")) * mult)

    sizes = [parse_size(s) for s in args.sizes.split(",")]
    leaves = [int(x) for x in args.leaves.split(",")]
    rounds = args.rounds
    if args.quick:
        sizes, leaves, rounds = [1 << 14], [1, 10], 2

    print(f"machine: {_machine.describe()}, optax {optax.__version__}")
    lr = 1e-3
    libraries = {
        "rmsjax": lambda: rmsjax.rmsprop(lr, decay=0.9, eps=1e-8),
        "optax": lambda: optax.rmsprop(lr, decay=0.9, eps=1e-8, eps_in_sqrt=False),
        "rmsjax bf16 nu": lambda: rmsjax.rmsprop(lr, decay=0.9, eps=1e-8, nu_dtype=jnp.bfloat16),
    }
    header = (
        f"{'params':>7} {'leaves':>6} | {'rmsjax ms':>9} {'optax ms':>9} {'ratio':>6} | "
        f"{'bf16-nu ms':>10} {'vs optax':>8} | {'torch foreach':>13} {'torch loop':>10} | "
        f"{'roofline ms':>11} {'rmsjax/roof':>11}"
    )
    configs = [(n, k) for n in sizes for k in leaves]
    results: dict[tuple[int, int], dict[str, float]] = {}
    bandwidths: dict[int, float] = {}
    for n in sizes:  # the JAX libraries first, interleaved with the triad
        triad, triad_bytes = triad_stepper(n)
        for k in leaves:
            tree = make_tree(n, k)
            fns = {name: jax_stepper(make(), tree) for name, make in libraries.items()}
            fns["triad"] = triad
            results[n, k] = time_interleaved(fns, iterations(n), rounds)
            bandwidths[n] = triad_bytes / results[n, k]["triad"]
            del fns
    if not args.no_torch:
        # PyTorch last, on its own: its OpenMP threads keep spinning for a while after it runs,
        # which would slow whatever JAX configuration came next.
        for n, k in configs:
            tree = make_tree(n, k)
            torch_fns = {
                "torch foreach": torch_stepper(tree, foreach=True),
                "torch loop": torch_stepper(tree, foreach=False),
            }
            results[n, k].update(time_interleaved(torch_fns, iterations(n), rounds))

    print(header)
    print("-" * len(header))
    for n, k in configs:
        t = results[n, k]
        roof = 20 * n / bandwidths[n]
        torch_fe = f"{1e3 * t['torch foreach']:13.3f}" if "torch foreach" in t else " " * 13
        torch_lp = f"{1e3 * t['torch loop']:10.3f}" if "torch loop" in t else " " * 10
        print(
            f"{n / (1 << 20):6.3g}M {k:6d} | {1e3 * t['rmsjax']:9.3f} "
            f"{1e3 * t['optax']:9.3f} {t['rmsjax'] / t['optax']:6.3f} | "
            f"{1e3 * t['rmsjax bf16 nu']:10.3f} {t['rmsjax bf16 nu'] / t['optax']:8.3f} | "
            f"{torch_fe} {torch_lp} | {1e3 * roof:11.3f} {roof / t['rmsjax']:11.3f}"
        )
    for n in sizes:
        print(f"triad bandwidth at {n / (1 << 20):.3g}M elements: {bandwidths[n] / 1e9:.2f} GB/s")
    print(
        "ratio = rmsjax / optax seconds (lower is faster); rmsjax/roof = roofline time / rmsjax "
        "time (1.0 = at the memory bound); bf16 'vs optax' = bf16-nu seconds / optax seconds."
    )


def iterations(n: int) -> int:
    """Calls per timed sample: about 200 MB of traffic, between 3 and 200 calls."""
    return max(3, min(200, int(2e8 // (20 * n))))


if __name__ == "__main__":
    main()
