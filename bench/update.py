"""Seconds per RMSprop update step: rmsjax against optax and PyTorch, and the memory roofline.

One RMSprop step (no momentum) must read the parameters, the gradients and the second moment and
write the parameters and the second moment: 5 x 4 bytes per float32 parameter (4.5 x 4 with the
second moment stored in bfloat16). The roofline is that byte count over the memory bandwidth,
measured in the same run by a jitted triad ``a = b + s * c`` (3 x 4 bytes per element) on the
same backend.

Timing protocol (bench/_harness.py): at each size, every JAX program is built (buffers allocated,
compiled) in one order and timed in A B ... B A rounds, then rebuilt in the reverse order and
timed again (``--builds`` such pairs); each ratio to optax is the geometric mean over the
builds of the median per-round ratio. optax is also timed against a second copy of itself (A/A):
"A/A spread" is how far from 1 a bootstrap interval of the median of that pair's per-round
ratios (every build's rounds pooled) reaches, and a ratio inside it is no measurable difference.
The target (no rmsjax setting slower than optax by more than 5%) is judged only where a ratio
lies farther from 1.05 than the A/A spread.

    python bench/update.py            # full table: 1M and 16M parameters, 1/100/1000 leaves
    python bench/update.py --quick    # small smoke run (used by the test suite)
    python bench/update.py --sizes 1M --leaves 1,100 --no-torch --bf16-baseline 7ed6ff0
        # also: this checkout's bfloat16-nu step against the one at git revision 7ed6ff0
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import subprocess
import sys
import types
from collections.abc import Callable

import _harness  # bench/_harness.py (the script's folder is on sys.path)
import _machine
import _record
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


def jax_stepper(tx: optax.GradientTransformation, tree: dict) -> tuple[Callable, Callable]:
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
    return run, sync


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
    return run


def triad_stepper(n: int) -> tuple[Callable[[], None], Callable[[], None], int]:
    """a <- a + s * c over n float32 elements, in place: 3 x 4 bytes moved per element."""
    c = jnp.full(n, 2.0, jnp.float32)
    triad = jax.jit(lambda a, c: a + 0.5 * c, donate_argnums=(0,))
    box = [jnp.zeros(n, jnp.float32)]

    def run():
        box[0] = triad(box[0], c)

    def sync():
        jax.block_until_ready(box)

    run()
    sync()
    return run, sync, 12 * n


# The modules of rmsjax/_src/ that transform.py imports its arithmetic from (they were part of
# it until they moved out): transform_at reads them at the same revision where they exist there.
TRANSFORM_PARTS = ("doublefloat", "leaves", "stochastic_rounding")


def source_at(ref: str, path: str) -> subprocess.CompletedProcess:
    root = pathlib.Path(__file__).resolve().parent.parent
    command = ["git", "show", f"{ref}:{path}"]
    return subprocess.run(command, cwd=root, capture_output=True, text=True)


def transform_at(ref: str) -> types.ModuleType:
    """``rmsjax/_src/transform.py`` as it was at git revision ``ref``, loaded as a module, with
    the modules of ``TRANSFORM_PARTS`` it imports also as they were at ``ref`` (so the baseline's
    rounding is ``ref``'s, not this checkout's)."""
    path = "rmsjax/_src/transform.py"
    done = source_at(ref, path)
    if done.returncode:
        raise SystemExit(f"--bf16-baseline: cannot read {path} at {ref!r}: {done.stderr.strip()}")
    parts = {}
    for name in TRANSFORM_PARTS:
        part = source_at(ref, f"rmsjax/_src/{name}.py")
        if part.returncode == 0:  # else: still inside transform.py at ref
            parts[name] = types.ModuleType(f"{name}_at_{ref}")
            exec(compile(part.stdout, f"{ref}:rmsjax/_src/{name}.py", "exec"), parts[name].__dict__)
    # `from rmsjax._src import x` in ref's transform.py reads the package's attribute (then
    # sys.modules): both point at ref's parts while it runs, and at this checkout's again after.
    package = sys.modules["rmsjax._src"]
    current = {name: sys.modules[f"rmsjax._src.{name}"] for name in parts}
    module = types.ModuleType(f"transform_at_{ref}")
    try:
        for name, part in parts.items():
            sys.modules[f"rmsjax._src.{name}"] = part
            setattr(package, name, part)
        exec(compile(done.stdout, f"{ref}:{path}", "exec"), module.__dict__)
    finally:
        for name, part in current.items():
            sys.modules[f"rmsjax._src.{name}"] = part
            setattr(package, name, part)
    return module


def split_loops(tx: optax.GradientTransformation, tree: dict) -> int:
    """How many loops of the compiled step XLA splits across threads: on a CPU its cost model
    splits a loop that it counts as compute-bound (more operations than bytes per element) from
    about 200,000 cycles of work, a memory-bound one only from 512 KB; each split loop hands work
    to another thread on every call. (Read from the compiled HLO's
    ``outer_dimension_partitions``; 0 on backends that do not split this way.)"""
    params = jax.tree.map(jnp.asarray, tree)

    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    compiled = jax.jit(step).lower(params, tx.init(params), params).compile()
    return compiled.as_text().count("outer_dimension_partitions")


def bf16_rmsprop(transform: types.ModuleType, lr: float) -> optax.GradientTransformation:
    """``rmsjax.rmsprop(lr, decay=0.9, eps=1e-8, nu_dtype=jnp.bfloat16)``, built as rmsprop
    builds it, from the given version of the transform module."""
    return optax.chain(
        optax.identity(),
        transform.add_l2(0.0),
        transform.scale_by_rms(0.9, 1e-8, nu_dtype=jnp.bfloat16),
        transform.scale_by_learning_rate(lr),
        optax.identity(),
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats (smoke test)")
    ap.add_argument("--sizes", default="1M,16M", help="parameter counts, e.g. 1M,16M")
    ap.add_argument("--leaves", default="1,100,1000", help="leaf counts, e.g. 1,100,1000")
    ap.add_argument("--rounds", type=int, default=4, help="ABBA rounds per build")
    ap.add_argument(
        "--builds", type=int, default=2, help="pairs of builds (one in each order) per point"
    )
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    ap.add_argument(
        "--bf16-baseline",
        metavar="REF",
        help="also time the bf16-nu step of git revision REF, twice (an A/A pair), against this "
        "checkout's",
    )
    ap.add_argument("--json", default=_record.default_path("update"), help="results as JSON")
    args = ap.parse_args(argv)
    record = _record.Record("update", sys.argv[1:] if argv is None else argv)
    record.begin()
    raw: dict[str, dict] = {}  # per point: every build's per-round seconds, for the JSON

    def parse_size(s: str) -> int:
        s = s.strip().upper()
        mult = {"K": 1 << 10, "M": 1 << 20}.get(s[-1], 1)
        return int(float(s.rstrip("KM")) * mult)

    sizes = [parse_size(s) for s in args.sizes.split(",")]
    leaves = [int(x) for x in args.leaves.split(",")]
    rounds = args.rounds
    if args.quick:
        sizes, leaves, rounds, args.builds = [1 << 14], [1, 10], 2, 1

    print(f"machine: {_machine.describe()}, optax {optax.__version__}")
    lr = 1e-3
    libraries = {
        "optax": lambda: optax.rmsprop(lr, decay=0.9, eps=1e-8, eps_in_sqrt=False),
        "optax again": lambda: optax.rmsprop(lr, decay=0.9, eps=1e-8, eps_in_sqrt=False),
        "rmsjax": lambda: rmsjax.rmsprop(lr, decay=0.9, eps=1e-8),
        "rmsjax bf16 nu": lambda: rmsjax.rmsprop(lr, decay=0.9, eps=1e-8, nu_dtype=jnp.bfloat16),
    }
    ref = args.bf16_baseline
    if ref:
        old = transform_at(ref)
        libraries[f"bf16 nu @{ref}"] = lambda: bf16_rmsprop(old, lr)
        libraries[f"bf16 nu @{ref} again"] = lambda: bf16_rmsprop(old, lr)
    configs = [(n, k) for n in sizes for k in leaves]
    rows: dict[tuple[int, int], dict] = {}
    bandwidths: dict[int, float] = {}
    for n, k in configs:  # the JAX programs first, with the triad among them
        tree = make_tree(n, k)

        def build(order, n=n, tree=tree):
            measures = {}
            for name in order:
                if name == "triad":
                    run, sync, _ = triad_stepper(n)
                else:
                    run, sync = jax_stepper(libraries[name](), tree)
                measures[name] = _harness.timer(run, iterations(n), sync)
            return measures

        per_order = _harness.both_build_orders(build, [*libraries, "triad"], rounds, args.builds)
        raw[f"{n} {k}"] = {"params": n, "leaves": k, "jax_builds": per_order}
        spread = _harness.Spread.of(_harness.pooled_round_ratios(per_order, "optax again", "optax"))
        rows[n, k] = {
            "optax": statistics.median(v for s in per_order for v in s["optax"]),
            "rmsjax ms": statistics.median(v for s in per_order for v in s["rmsjax"]),
            "rmsjax": _harness.geomean_ratio(per_order, "rmsjax", "optax"),
            "bf16": _harness.geomean_ratio(per_order, "rmsjax bf16 nu", "optax"),
            "aa": _harness.geomean_ratio(per_order, "optax again", "optax"),
            "spread": spread,
        }
        if ref:
            new, base, again = "rmsjax bf16 nu", f"bf16 nu @{ref}", f"bf16 nu @{ref} again"
            rows[n, k]["vs ref"] = _harness.geomean_ratio(per_order, new, base)
            rows[n, k]["ref aa"] = _harness.geomean_ratio(per_order, again, base)
            rows[n, k]["ref spread"] = _harness.Spread.of(
                _harness.ratio(samples, again, base) for samples in per_order
            )
            rows[n, k]["split"] = (
                split_loops(libraries[new](), tree),
                split_loops(libraries[base](), tree),
            )
            rows[n, k]["rounds"] = [
                a / b for s in per_order for a, b in zip(s[new], s[base], strict=True)
            ]
        triad_seconds = statistics.median(v for s in per_order for v in s["triad"])
        bandwidths[n] = max(bandwidths.get(n, 0.0), 12 * n / triad_seconds)
    if not args.no_torch:
        # PyTorch last, on its own: its OpenMP threads keep spinning for a while after it runs,
        # which would slow whatever JAX configuration came next.
        for n, k in configs:
            tree = make_tree(n, k)
            torch_measures = {
                name: _harness.timer(torch_stepper(tree, foreach=fe), iterations(n))
                for name, fe in (("torch foreach", True), ("torch loop", False))
            }
            samples = _harness.abba(torch_measures, rounds)
            raw[f"{n} {k}"]["torch"] = samples
            rows[n, k].update({name: statistics.median(v) for name, v in samples.items()})

    header = (
        f"{'params':>7} {'leaves':>6} | {'optax ms':>9} | {'rmsjax':>6} {'bf16-nu':>7} "
        f"{'A/A':>6} {'A/A spread':>10} | {'rmsjax verdict':<34} {'bf16-nu verdict':<34} | "
        f"{'torch foreach':>13} {'torch loop':>10} | {'roofline ms':>11} {'rmsjax/roof':>11}"
    )
    print(header)
    print("-" * len(header))
    for n, k in configs:
        r = rows[n, k]
        spread = r["spread"]
        roof = 20 * n / bandwidths[n]
        torch_fe = f"{1e3 * r['torch foreach']:13.3f}" if "torch foreach" in r else " " * 13
        torch_lp = f"{1e3 * r['torch loop']:10.3f}" if "torch loop" in r else " " * 10
        print(
            f"{n / (1 << 20):6.3g}M {k:6d} | {1e3 * r['optax']:9.3f} | {r['rmsjax']:6.3f} "
            f"{r['bf16']:7.3f} {r['aa']:6.3f} {str(spread):>10} | "
            f"{spread.judge(r['rmsjax'], 1.05):<34} {spread.judge(r['bf16'], 1.05):<34} | "
            f"{torch_fe} {torch_lp} | {1e3 * roof:11.3f} {roof / r['rmsjax ms']:11.3f}"
        )
    if ref:
        print(f"\nbf16-nu step, this checkout against git revision {ref} (same protocol):")
        head = (
            f"{'params':>7} {'leaves':>6} | {'new/ref':>7} {'A/A':>6} {'A/A spread':>10} | "
            f"{'per-round new/ref':>19} | {'split new/ref':>13} | verdict"
        )
        print(head)
        print("-" * len(head))
        for n, k in configs:
            r = rows[n, k]
            lo, hi = min(r["rounds"]), max(r["rounds"])
            split = "{}/{}".format(*r["split"])
            print(
                f"{n / (1 << 20):6.3g}M {k:6d} | {r['vs ref']:7.3f} {r['ref aa']:6.3f} "
                f"{str(r['ref spread']):>10} | {f'[{lo:.3f}, {hi:.3f}]':>19} | {split:>13} | "
                f"{r['ref spread'].judge(r['vs ref'])}"
            )
        print(
            f"new/ref = seconds of this checkout's bf16-nu step / seconds of {ref}'s; A/A = "
            f"{ref}'s second copy / {ref}'s; per-round new/ref: the range over all rounds; "
            "split new/ref: loops XLA splits across threads in each compiled step (split_loops)."
        )
    for n in sizes:
        print(f"triad bandwidth at {n / (1 << 20):.3g}M elements: {bandwidths[n] / 1e9:.2f} GB/s")
    print(
        "rmsjax, bf16-nu = seconds / optax seconds (geometric mean over builds in both orders; "
        "lower is faster); A/A = a second optax copy / optax, by the same protocol; A/A spread = "
        "how far from 1 a bootstrap interval (95%) of the median of that pair's per-round ratios "
        "reaches; a verdict calls a ratio different from 1, or from the 5% target, only beyond "
        "it. rmsjax/roof = roofline time / rmsjax time (1.0 = at the memory bound)."
    )
    record.data = {"points": raw, "triad_bytes_per_element": 12, "step_bytes_per_param": 20}
    record.write(args.json)


def iterations(n: int) -> int:
    """Calls per timed sample: about 200 MB of traffic, between 3 and 200 calls."""
    return max(3, min(200, int(2e8 // (20 * n))))


if __name__ == "__main__":
    main()
