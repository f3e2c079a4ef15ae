"""How every benchmark here times things it compares, so a ratio means what it says.

Three sources of bias, each measured on the 2-core CI machine, and what this module does:

- **Drift** (another process, a frequency change) hits whatever runs at that moment. Every round
  runs the measurements forward and then backward (A B B A, or A B C C B A), so drift that is
  linear within a round hits each one alike; a per-round ratio pairs samples taken together.
  (In that order some programs run twice in a row; :func:`timer` makes one untimed call before
  each sample, so none of them starts with warmer caches than the others.)
- **Build order.** Two copies of one program, timed in one process, differed by 11-22% depending
  on which had its buffers allocated first. :func:`both_build_orders` builds everything twice, in
  one order and then in the reverse, and :func:`geomean_ratio` averages the two ratios (in log
  space), which cancels an effect that favours the first (or last) built.
- **Noise that is left.** Each benchmark times one program against a copy of itself (an A/A
  pair) by the same protocol, which gives one A/A ratio per round. A ratio is reported as the
  median of its per-round ratios, so what matters is how far the *median* A/A ratio could have
  fallen from 1 by chance: :class:`Spread` is a bootstrap interval of that median (the per-round
  A/A ratios resampled with replacement), and its half-width, the farthest from 1 the interval
  reaches, is printed beside each ratio. A ratio is called different from 1, or from a target,
  only where it lies farther from it than that. With one round the interval is that round's
  A/A ratio alone: a quick run resolves little, and says so.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

Measure = Callable[[], float]  # runs the thing once and returns its cost (seconds, say)


def timer(fn: Callable[[], None], iters: int, sync: Callable[[], None] | None = None) -> Measure:
    """A :data:`Measure`: mean seconds per call of ``fn`` over ``iters`` calls.

    ``sync`` waits for asynchronous work (``jax.block_until_ready``) before the clock is read.
    One untimed call comes first, so every sample starts with the caches as ``fn`` leaves them:
    in A B B A order, a program that runs right after itself would otherwise start warm.
    """
    sync = sync or (lambda: None)

    def measure() -> float:
        fn()
        sync()
        start = time.perf_counter()
        for _ in range(iters):
            fn()
        sync()
        return (time.perf_counter() - start) / iters

    return measure


def abba(measures: Mapping[str, Measure], rounds: int) -> dict[str, list[float]]:
    """One sample per name and round: the mean of its two runs, forward then backward."""
    names = list(measures)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        runs: dict[str, list[float]] = {name: [] for name in names}
        for name in [*names, *reversed(names)]:
            runs[name].append(measures[name]())
        for name in names:
            samples[name].append(statistics.fmean(runs[name]))
    return samples


def round_ratios(samples: Mapping[str, Sequence[float]], num: str, den: str) -> list[float]:
    """``num / den`` in each round, the pair measured side by side."""
    return [a / b for a, b in zip(samples[num], samples[den], strict=True)]


def ratio(samples: Mapping[str, Sequence[float]], num: str, den: str) -> float:
    """Median over rounds of ``num / den``, each round's pair measured side by side."""
    return statistics.median(round_ratios(samples, num, den))


def both_build_orders(
    build: Callable[[Sequence[str]], Mapping[str, Measure]],
    names: Sequence[str],
    rounds: int,
    pairs: int = 1,
) -> list[dict[str, list[float]]]:
    """:func:`abba` samples per build: built in the order ``names``, then rebuilt reversed.

    ``build(order)`` must construct the measures (allocate buffers, compile) in ``order``; each
    set is released before the next is built. ``pairs`` > 1 repeats the two builds: where the
    buffers land in memory varies from build to build too, and more builds average it out.
    """
    out = []
    for order in [list(names), list(reversed(names))] * pairs:
        measures = build(order)
        out.append(abba({name: measures[name] for name in names}, rounds))
        del measures
    return out


def geomean_ratio(per_order: Iterable[Mapping[str, Sequence[float]]], num: str, den: str) -> float:
    """The geometric mean over builds (both orders) of :func:`ratio`."""
    logs = [math.log(ratio(samples, num, den)) for samples in per_order]
    return math.exp(statistics.fmean(logs))


def pooled_round_ratios(
    per_order: Iterable[Mapping[str, Sequence[float]]], num: str, den: str
) -> list[float]:
    """:func:`round_ratios` of every build, pooled (the rounds behind :func:`geomean_ratio`)."""
    return [r for samples in per_order for r in round_ratios(samples, num, den)]


def median_interval(
    values: Sequence[float], confidence: float = 0.95, resamples: int = 4000, seed: int = 0
) -> tuple[float, float]:
    """A percentile bootstrap interval of the median of ``values`` (ratios, resampled in log
    space, so that a ratio and its inverse are treated alike). Seeded: the same values always
    give the same interval."""
    logs = np.log(np.asarray(values, dtype=np.float64))
    if logs.ndim != 1 or logs.size == 0:
        raise ValueError(f"median_interval needs a non-empty list of ratios, got {values!r}")
    rng = np.random.default_rng(seed)
    medians = np.median(logs[rng.integers(0, logs.size, (resamples, logs.size))], axis=1)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(medians, [tail, 100 - tail])
    return math.exp(low), math.exp(high)


@dataclass(frozen=True)
class Spread:
    """The resolution of a run, from its A/A pair: ratios within ``[1/bound, bound]`` of 1 (or
    of a target) are not differences.

    ``low`` and ``high`` are a bootstrap interval (95%) of the median of the per-round A/A
    ratios; ``bound`` is the farthest from 1 that interval reaches, so it covers both the noise
    of a median over the rounds and any offset between the two copies.
    """

    low: float
    high: float
    rounds: int

    @classmethod
    def of(cls, aa_ratios: Iterable[float]) -> Spread:
        """From the per-round A/A ratios (:func:`round_ratios`), measured by the protocol the
        compared ratios use."""
        ratios = list(aa_ratios)
        low, high = median_interval(ratios)
        return cls(low, high, len(ratios))

    @property
    def bound(self) -> float:
        return math.exp(max(abs(math.log(self.low)), abs(math.log(self.high))))

    def __str__(self) -> str:
        return f"±{100 * (self.bound - 1):.1f}%"

    def describe(self) -> str:
        """The interval itself, with the number of rounds it comes from."""
        return f"{self.low:.3f}-{self.high:.3f} over {self.rounds} round(s), {self}"

    def resolves(self, value: float) -> bool:
        """True when ``value`` (a ratio or a target) lies outside the A/A band."""
        return abs(math.log(value)) > math.log(self.bound)

    def judge(self, value: float, target: float | None = None, label: str | None = None) -> str:
        """A word for ``value`` (a time ratio): faster/slower/same as 1, and meets/misses
        ``target`` (an upper bound, shown as ``label``) only where ``value`` is farther from it
        than the spread."""
        word = ("faster" if value < 1 else "slower") if self.resolves(value) else "same"
        if target is None:
            return word
        label = label or f"<= {target:g}"
        if not self.resolves(value / target):
            return f"{word}; {label}: within A/A"
        return f"{word}; {'meets' if value <= target else 'MISSES'} {label}"
