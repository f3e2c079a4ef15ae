"""`replay`: one lineage of a population-based search trained again from its schedule."""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from rmsjax._engine import program
from rmsjax._engine.pool import Paused, Pool, trace_trainer


def replay(trainer, schedule, *, key, alone: bool = False, devices=None) -> dict[str, np.ndarray]:
    """Trains one lineage of a population-based search again, from its `schedule`.

    ``schedule`` is ``result.schedule(member)`` of `rmsjax.sweep` with ``pbt=`` (a pandas
    DataFrame, with what is needed in ``.attrs``); its hyperparameter columns may be edited to
    try another schedule. The lineage is trained unit by unit: each unit with its row's
    hyperparameters and the run keys of its row's ``member`` (with the sweep's ``key`` these are
    the keys that unit had), the carry passing on from member to member where ``copied`` is set.

    By default it runs in a pool as wide as the sweep's, each unit in the slot its member had,
    on as many devices: the batched program then rounds as it did in the sweep and the result
    equals the member's metrics bit for bit. ``alone=True`` trains it in a pool of one slot on
    one device, which is cheaper but rounds differently: the same schedule then ends close to,
    not exactly at, the sweep's figures (batched matmuls sum in another order, as `rmsjax.sweep`
    differs between widths; on a network trained for many steps the difference can be visible
    in the training loss and the test accuracy).

    Args:
      trainer: the `Trainer` of the sweep.
      schedule: a DataFrame from `PBTResult.schedule`.
      key: the sweep's key for the same runs (another key: the same schedule, other draws).
      alone: train in one slot on one device instead of at the sweep's width.
      devices: devices to run on (default ``jax.devices()``); without ``alone`` as many as the
        sweep used are taken from it.

    Returns:
      A dict: each metric of ``Trainer.advance`` after the last unit, ``(seeds, *shape)``, and
      ``<name>_curve`` ``(seeds, budget)`` of each scalar metric.

    Example:
      >>> import jax, jax.numpy as jnp, numpy as np, rmsjax
      >>> trainer = rmsjax.Trainer(
      ...     init=lambda hp, key: jnp.float32(1.0),
      ...     advance=lambda w, hp, key: (w * (1 - hp["lr"]), {"w": w * (1 - hp["lr"])}))
      >>> result = rmsjax.sweep(trainer, rmsjax.grid(lr=[0.1, 0.2, 0.3, 0.4]),
      ...                       key=jax.random.key(0), budget=4, progress=False,
      ...                       pbt=rmsjax.pbt("w", mode="min", interval=2, fraction=0.5))
      >>> again = rmsjax.replay(trainer, result.schedule(0), key=jax.random.key(0))
      >>> bool(np.array_equal(again["w"], result.metrics["w"][0]))
      True
    """
    attrs = getattr(schedule, "attrs", None)
    if not isinstance(attrs, Mapping) or attrs.get("rmsjax") != "pbt schedule":
        raise TypeError(
            "replay: `schedule` must be a DataFrame from result.schedule(member) of a sweep "
            f"with pbt=, got {type(schedule).__name__}"
        )
    if not isinstance(alone, bool):
        raise TypeError(f"replay: `alone` must be True or False, got {alone!r}")
    budget, seeds = int(attrs["budget"]), int(attrs["seeds"])
    if len(schedule) != budget or list(schedule["unit"]) != list(range(budget)):
        raise ValueError(f"replay: `schedule` must have one row per unit 0..{budget - 1}")
    run_key = program.split_key(key, attrs["keys"])
    devices = program.check_devices(devices)
    if alone:
        width, devices = 1, devices[:1]
    else:
        width, n = int(attrs["width"]), int(attrs["devices"])
        if len(devices) < n:
            raise ValueError(
                f"replay: the sweep ran on {n} devices and {len(devices)} are given; pass "
                "alone=True to train the lineage on one"
            )
        devices = devices[:n]
    dtypes = {n: np.dtype(d) for n, d in attrs["traced_dtypes"].items()}
    traced = trace_trainer(trainer, dict(attrs["static"]), dtypes, run_key.aval)
    pool = Pool(traced, list(dtypes), run_key, seeds, width, devices)
    names = traced.metric_names
    members = schedule["member"].to_numpy()
    slots = {int(k): int(v) for k, v in attrs["slots"].items()}
    out: dict[str, np.ndarray] = {}
    curves = {n: np.full((seeds, budget), np.nan) for n in traced.scalar_metrics()}
    slot = None
    for u in range(budget):
        member = int(members[u])
        row = {n: schedule[n].iloc[u] for n in dtypes}
        new_slot = 0 if alone else slots[member]
        if u == 0:
            pool.place(new_slot, member, row)
            fresh = np.zeros(width, bool)
            fresh[new_slot] = True
            pool.start(fresh)
        elif member != members[u - 1]:  # the carry moves on to another member's keys
            taken = pool.take([slot])[slot]
            pool.release(slot)
            pool.place(new_slot, member, row, u)
            pool.restore({new_slot: Paused(u, taken.carry, _run_keys(run_key, member, seeds))})
        else:
            for n, v in row.items():
                pool.hp[n][new_slot] = v
        slot = new_slot
        metrics = pool.step()
        for n, m in zip(names, metrics, strict=True):
            out[n] = m[slot]
            if n in curves:
                curves[n][:, u] = m[slot]
    out.update({f"{n}_curve": c for n, c in curves.items()})
    return out


def _run_keys(run_key: program.RunKey, member: int, seeds: int) -> np.ndarray:
    """The key data of ``member``'s runs, as the pool derives them."""
    base = jax.random.wrap_key_data(jnp.asarray(run_key.data), impl=run_key.impl)
    folded = int(program.config_ids_for_keys(np.asarray([member]), run_key.shared)[0])
    config_key = jax.random.fold_in(base, folded)
    return np.stack(
        [np.asarray(jax.random.key_data(jax.random.fold_in(config_key, s))) for s in range(seeds)]
    )
