"""What an accelerator does with rmsjax: one command, sized for at most 8 minutes on one GPU.

The sizes below were chosen to fit that time from the CPU runs' figures; no GPU has run this
script yet, so the first run on one should check its ``whole run`` line (the last printed).

Four parts, each printed as a table and written (with the command, the machine, the device kind
and platform, its memory where JAX reports it, the versions and the load) to
``bench/results/accelerator.json`` (``--out``), the file rewritten after every part, so that an
interrupted run keeps the parts it finished. ``bench/tables.py`` makes the benchmarks page's
accelerator section from it.

(a) **Slots of one pool**: ``rmsjax.sweep`` of the MNIST task's `Trainer` (784-128-10 MLP, batch
    128) over ``rmsjax.sample(N)`` (learning rate log-uniform in [1e-5, 1e-1], decay uniform in
    [0.5, 0.999], as ``bench/search.py`` draws them) with ``chunk_size=N``: every configuration
    in one compiled program, N = 1, 8, 64 and 256, 1 epoch each. Wall time with compilation, the
    compile time within it (``bench/search.py``'s ``CompileClock``) and configurations per second
    of the time left (N / (wall - compile)).
(b) **PBT, population 64 against 1**: ``rmsjax.sweep(..., pbt=rmsjax.pbt("test_accuracy",
    mode="max", interval=1))`` on MNIST, 3 epochs, the population drawn as in (a): wall per
    member and the best member's final accuracy (``bench/search.py``'s ``pbt_sweep``). A
    population of 1 has no member to copy (``rmsjax.pbt`` refuses it): its row is the one
    configuration trained alone for the same 3 epochs, what each member costs without PBT.
(c) **The search table against Optuna alone**: ``bench/search.py``'s timing table (its ways
    (1)-(7) and the A/A pair, its budgets: digits 27 epochs, MNIST 9) on digits and MNIST, 81
    configurations, 1 round.
(d) **The update step** at 16M, 128M and 1B (2**30) parameters in one leaf: ``optax.rmsprop``,
    a second copy of it (the A/A pair), ``rmsjax.rmsprop`` and ``rmsjax.rmsprop(...,
    nu_dtype=jnp.bfloat16)``, each a jitted, buffer-donating step (``bench/update.py``'s
    ``jax_stepper``), built in both orders and timed in ABBA rounds (``bench/_harness.py``), 3
    rounds per build. The fraction of the memory bandwidth reached is the bytes a step must move
    (20 per parameter with a float32 second moment, 18 with bfloat16: read the parameters, the
    gradients and the second moment, write the parameters and the second moment) per second of
    a step, over the peak: the bytes a jitted ``jnp.copy`` of a large array (1 GiB, or an
    eighth of the device's memory if less) reads and writes per second, its fastest of 5
    samples. A size whose arrays (all four steps live at once) would not fit in 85% of the
    device's memory (``jax.devices()[0].memory_stats()["bytes_limit"]``; the host's memory on a
    CPU) is skipped, with the reason recorded; so is one that fails to allocate.

MNIST comes from the IDX files in ``--data-dir``/mnist (``$RMSJAX_DATA_DIR``, else
``../shared/data`` beside the checkout: the offline copy, 8,000 train / 2,000 held out), else
from tensorflow-datasets (Colab); without either, parts (a) and (b) and the MNIST rows of (c) are
skipped with the reason recorded.

    python bench/accelerator.py                 # every part, full size (a GPU: <= 8 minutes)
    python bench/accelerator.py --small         # seconds on a CPU (the test suite runs it)
    python bench/accelerator.py --parts update  # some parts only: pool, pbt, search, update

``--small``: pools of 1 and 2 configurations and PBT populations 4 and 1 on 1,024 MNIST images
(256 held out), 1 epoch (PBT 2); the search table on digits only, 3 configurations
(``bench/search.py --small``'s data and budgets); the update step at 1M parameters, 1 round,
the copy on 4M elements.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import time
import types
from pathlib import Path

import _harness  # bench/_harness.py (the script's folder is on sys.path)
import _machine
import _record
import jax
import jax.numpy as jnp
import optax
import search  # bench/search.py: the search table, its loaders and its compile clock
import update  # bench/update.py: the update-step stepper

import rmsjax

PARTS = ("pool", "pbt", "search", "update")
M = 1 << 20
FULL = {
    "pool": (1, 8, 64, 256),
    "pool_budget": 1,
    "pbt": (64, 1),
    "pbt_budget": 3,
    "search_configs": 81,
    "search_tasks": ("digits", "mnist"),
    "update": (16 * M, 128 * M, 1024 * M),
    "update_rounds": 3,
    "copy": 256 * M,
}
SMALL = {
    "pool": (1, 2),
    "pool_budget": 1,
    "pbt": (4, 1),
    "pbt_budget": 2,
    "search_configs": 3,
    "search_tasks": ("digits",),
    "update": (M,),
    "update_rounds": 1,
    "copy": 4 * M,
}
STEPS = {  # name: (optimizer, bytes a step must move per parameter)
    "optax": (lambda: optax.rmsprop(1e-3, decay=0.9, eps=1e-8, eps_in_sqrt=False), 20),
    "optax again": (lambda: optax.rmsprop(1e-3, decay=0.9, eps=1e-8, eps_in_sqrt=False), 20),
    "rmsjax": (lambda: rmsjax.rmsprop(1e-3, decay=0.9, eps=1e-8), 20),
    "rmsjax bf16 nu": (
        lambda: rmsjax.rmsprop(1e-3, decay=0.9, eps=1e-8, nu_dtype=jnp.bfloat16),
        18,
    ),
}
# Device bytes per parameter while every step is built: parameters, gradients and second moment
# (4 + 4 + 4 bytes, or 4 + 4 + 2 with bfloat16), for each of the four steps at once.
LIVE_BYTES = 3 * 12 + 10
MEMORY_SHARE = 0.85  # what a size may take of the device's memory (compilation needs some)


def device_info() -> dict:
    """The device every part ran on: platform, kind, count and memory (where JAX reports it)."""
    dev = jax.devices()[0]
    info = {"platform": dev.platform, "device_kind": dev.device_kind,
            "device_count": jax.device_count()}  # fmt: skip
    stats = dev.memory_stats() if hasattr(dev, "memory_stats") else None
    if stats and stats.get("bytes_limit"):
        info |= {"memory_bytes": int(stats["bytes_limit"]), "memory_from": "memory_stats"}
    elif dev.platform == "cpu":
        info |= {"memory_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
                 "memory_from": "host memory (no memory_stats on a CPU)"}  # fmt: skip
    return info


def load_mnist(data_dir: Path, small: bool):
    """``(task, data, reason)``: the offline IDX copy, else tensorflow-datasets (not with
    ``--small``); ``data`` is None and ``reason`` says why when neither is there."""
    task, data = search.load("mnist", data_dir, small)
    if data is not None:
        return task, data, None
    reason = f"no MNIST IDX files in {data_dir / 'mnist'}"
    if small:
        return task, None, reason
    try:
        data = task.load()  # tensorflow-datasets (Colab)
    except Exception as e:  # tfds missing, offline, or its own errors: recorded, not fatal
        return task, None, f"{reason}, and tensorflow-datasets failed: {type(e).__name__}: {e}"
    return task, data, None


def pool_sweep(task, data, n, budget, seed, key):
    """``n`` configurations in one program (``chunk_size=n``), as ``search.full_sweep`` draws
    them."""
    space = rmsjax.sample(n, seed=seed, learning_rate=rmsjax.loguniform(*search.LR),
                          decay=rmsjax.uniform(*search.DECAY))  # fmt: skip
    result = rmsjax.sweep(task.make_trainer(data, budget=budget), space, key=key, budget=budget,
                          chunk_size=n, progress=False)  # fmt: skip
    return int(result.budget.sum()), search.best_accuracy(result), search.width(result)


def part_pool(mnist, sizes, clock) -> dict:
    task, data, reason = mnist
    if data is None:
        print(f"\n(a) pool slots: skipped ({reason})")
        return {"skipped": reason}
    budget, rows = sizes["pool_budget"], {}
    for n in sizes["pool"]:
        row = search.time_one(pool_sweep, task, data, n, budget, 0, clock)
        row["configs_per_second"] = n / (row["wall"] - row["compile"])
        rows[str(n)] = row
    one = rows[str(sizes["pool"][0])]["configs_per_second"]
    print(f"\n(a) slots of one pool: {data.source}; N configurations x {budget} epoch(s) in one "
          "program (chunk_size=N), wall with compilation")  # fmt: skip
    print(f"{'configs':>8} {'width':>6} {'wall s':>8} {'compile s':>10} {'configs/s':>10} "
          f"{'x 1 config':>10} {'best acc':>9}")  # fmt: skip
    for n, r in rows.items():
        print(f"{n:>8} {r['width']:6d} {r['wall']:8.2f} {r['compile']:10.2f} "
              f"{r['configs_per_second']:10.2f} {r['configs_per_second'] / one:10.2f} "
              f"{r['accuracy']:9.4f}")  # fmt: skip
    print("configs/s = configurations / (wall - compile); x 1 config: against the pool of 1")
    return {"source": data.source, "budget": budget, "rows": rows}


def part_pbt(mnist, sizes, clock) -> dict:
    task, data, reason = mnist
    if data is None:
        print(f"\n(b) PBT: skipped ({reason})")
        return {"skipped": reason}
    budget, rows = sizes["pbt_budget"], {}
    for population in sizes["pbt"]:
        # A population of 1 has no member to copy (rmsjax.pbt refuses it): that row is the
        # one configuration trained alone, the cost PBT's members are compared with.
        runner = functools.partial(search.pbt_sweep, population=population, interval=1)
        if population == 1:
            runner = pool_sweep
        row = search.time_one(runner, task, data, population, budget, 0, clock)
        row["wall_per_member"] = row["wall"] / population
        row["train_per_member"] = (row["wall"] - row["compile"]) / population
        rows[str(population)] = row
    print(f"\n(b) PBT on MNIST: {data.source}; {budget} epochs, ranked on "
          f"{search.METRIC} every epoch (rmsjax.pbt's other knobs at their defaults)")  # fmt: skip
    print(f"{'population':>10} {'wall s':>8} {'compile s':>10} {'wall/member':>12} "
          f"{'train/member':>13} {'best acc':>9}")  # fmt: skip
    for p, r in rows.items():
        print(f"{p:>10} {r['wall']:8.2f} {r['compile']:10.2f} {r['wall_per_member']:12.3f} "
              f"{r['train_per_member']:13.3f} {r['accuracy']:9.4f}")  # fmt: skip
    print("train/member = (wall - compile) / population; best acc: the best member's final")
    return {"source": data.source, "budget": budget, "interval": 1, "rows": rows}


def part_search(mnist, sizes, clock, data_dir: Path, small: bool) -> dict:
    args = types.SimpleNamespace(small=small, configs=sizes["search_configs"], rounds=1, seed=0,
                                 ray=False, hyperoptax=False)  # fmt: skip
    out = {}
    print(f"\n(c) the search table (bench/search.py's ways), {args.configs} configurations:")
    for name in ("digits", "mnist"):
        if name not in sizes["search_tasks"]:
            reason = "--small: the search table on digits only (the same code as MNIST's rows)"
            print(f"\n{name}: skipped ({reason})")
            out[name] = {"skipped": reason}
            continue
        if name == "mnist":
            task, data, reason = mnist
        else:
            (task, data), reason = search.load(name, data_dir, small), None
        if data is None:
            print(f"\n{name}: skipped ({reason})")
            out[name] = {"skipped": reason}
            continue
        out[name] = search.run_task(name, task, data, args, clock)
    return {"tasks": out, "targets": search.targets(jax.devices()[0].platform == "gpu")}


def fresh_tree(n: int) -> dict:
    """One leaf of ``n`` float32 parameters, drawn on the device (a new buffer on every call:
    each step donates its own)."""
    return {"p0000": jax.random.normal(jax.random.key(0), (n,), jnp.float32)}


def copy_bandwidth(n: int) -> dict:
    """Peak bytes per second: a jitted ``jnp.copy`` of ``n`` float32 elements (reads and writes
    ``8 n`` bytes), the fastest of 5 samples."""
    x = jax.block_until_ready(jnp.ones(n, jnp.float32))
    copy = jax.jit(jnp.copy)
    box = [copy(x)]

    def run():
        box[0] = copy(x)

    measure = _harness.timer(
        run, max(3, min(100, int(4e9 // (8 * n)))), lambda: box[0].block_until_ready()
    )
    samples = [measure() for _ in range(5)]
    return {"elements": n, "bytes_per_call": 8 * n, "seconds": samples,
            "bytes_per_second": 8 * n / min(samples)}  # fmt: skip


def part_update(sizes, info) -> dict:
    memory = info.get("memory_bytes")
    copy_n = sizes["copy"] if memory is None else min(sizes["copy"], memory // 32)
    peak = copy_bandwidth(copy_n)
    points = {}
    for n in sizes["update"]:
        need = LIVE_BYTES * n
        if memory is not None and need > MEMORY_SHARE * memory:
            reason = (f"needs {need / 2**30:.1f} GiB for the four steps at once, over "
                      f"{MEMORY_SHARE:.0%} of the device's {memory / 2**30:.1f} GiB "
                      f"({info['memory_from']})")  # fmt: skip
            points[str(n)] = {"params": n, "skipped": reason}
            continue

        def build(order, n=n):
            measures = {}
            for name in order:
                run, sync = update.jax_stepper(STEPS[name][0](), fresh_tree(n))
                measures[name] = _harness.timer(run, update.iterations(n), sync)
            return measures

        try:
            per_order = _harness.both_build_orders(build, list(STEPS), sizes["update_rounds"])
        except Exception as e:  # an allocation the memory check did not foresee
            if "RESOURCE_EXHAUSTED" not in str(e) and "out of memory" not in str(e).lower():
                raise
            points[str(n)] = {"params": n, "skipped": f"out of memory: {str(e)[:200]}"}
            continue
        point = {"params": n, "builds": per_order,
                 "spread": _harness.Spread.of(_harness.pooled_round_ratios(
                     per_order, "optax again", "optax")).bound}  # fmt: skip
        for name, (_, step_bytes) in STEPS.items():
            seconds = statistics.median(v for s in per_order for v in s[name])
            moved = step_bytes * n / seconds  # bytes per second
            point[name] = {
                "seconds": seconds,
                "bandwidth_fraction": moved / peak["bytes_per_second"],
                "vs_optax": _harness.geomean_ratio(per_order, name, "optax"),
            }
        points[str(n)] = point
    print(f"\n(d) one update step (one leaf, buffers donated) against optax.rmsprop; peak "
          f"bandwidth {peak['bytes_per_second'] / 1e9:.1f} GB/s (jitted jnp.copy of "
          f"{copy_n / M:g}M float32)")  # fmt: skip
    print(f"{'params':>8} {'step':>15} {'ms':>9} {'/ optax':>8} {'of peak':>8}  A/A spread")
    for point in points.values():
        size = f"{point['params'] / M:g}M"
        if "skipped" in point:
            print(f"{size:>8} skipped: {point['skipped']}")
            continue
        for name in STEPS:
            r = point[name]
            spread = f"±{100 * (point['spread'] - 1):.1f}%"
            print(f"{size:>8} {name:>15} {1e3 * r['seconds']:9.3f} {r['vs_optax']:8.3f} "
                  f"{r['bandwidth_fraction']:8.1%}  {spread}")  # fmt: skip
    print("of peak = bytes a step must move (20 per parameter, 18 with a bfloat16 second "
          "moment) per second / the copy's bytes read and written per second")  # fmt: skip
    above = [p["params"] for p in points.values()
             if any(p.get(k, {}).get("bandwidth_fraction", 0) > 1 for k in STEPS)]  # fmt: skip
    if above:
        print(f"above 100% at {', '.join(f'{n / M:g}M' for n in above)}: that step's arrays fit "
              f"in a cache the copy's ({peak['bytes_per_call'] / M:g} MiB) do not; only a "
              "size far above the caches measures the memory")  # fmt: skip
    return {"peak": peak, "step_bytes_per_param": {k: b for k, (_, b) in STEPS.items()},
            "points": points}  # fmt: skip


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="every part in seconds on a CPU")
    parser.add_argument("--out", type=Path, default=Path(_record.default_path("accelerator")),
                        help="where to write the JSON")  # fmt: skip
    parser.add_argument("--data-dir", type=Path, default=search.DEFAULT_DATA_DIR,
                        help="the folder holding mnist/ (IDX files)")  # fmt: skip
    parser.add_argument("--parts", default=",".join(PARTS), help=f"some of {', '.join(PARTS)}")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",")]
    for p in parts:
        if p not in PARTS:
            parser.error(f"--parts: unknown part {p!r} (choose from {', '.join(PARTS)})")
        if parts.count(p) > 1:
            parser.error(f"--parts: {p!r} given twice in {args.parts!r}")
    sizes = SMALL if args.small else FULL
    try:
        import optuna
    except ImportError:
        sys.exit("bench/accelerator.py needs Optuna: pip install -e '.[optuna]' (the clone)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    jax.config.update("jax_enable_compilation_cache", False)
    record = _record.Record("accelerator", sys.argv[1:] if argv is None else argv)
    info = device_info()
    record.data = {"device": info, "small": args.small, "sizes": sizes, "parts": {}}
    start = time.perf_counter()
    with record.printing():
        print(f"machine: {_machine.describe()}")
        print(f"device: {info['device_count']} x {info['device_kind']} ({info['platform']})")
        clock = search.CompileClock()
        mnist = load_mnist(args.data_dir, args.small) if set(parts) - {"update"} else None
        for part in parts:
            if part == "pool":
                result = part_pool(mnist, sizes, clock)
            elif part == "pbt":
                result = part_pbt(mnist, sizes, clock)
            elif part == "search":
                result = part_search(mnist, sizes, clock, args.data_dir, args.small)
            else:
                result = part_update(sizes, info)
            record.data["parts"][part] = result
            record.data["seconds"] = time.perf_counter() - start
            _keep(record, args.out)  # an interrupted run keeps the parts it finished
        print(f"\nwhole run: {time.perf_counter() - start:.0f} s")
    record.data["seconds"] = time.perf_counter() - start
    record.write(args.out)


def _keep(record: _record.Record, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record.to_json(), indent=1) + "\n")


if __name__ == "__main__":
    main()
