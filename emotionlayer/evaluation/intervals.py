"""Confidence intervals for evaluation figures: a seeded bootstrap over clips, and intervals over runs.

Two kinds of uncertainty sit on every figure of :mod:`emotionlayer.evaluation.dialogue`:

* **Which clips were tested.** :func:`bootstrap_weights` draws resamples of the clips (with replacement)
  as integer weights, one row per resample; a figure computed with each row of weights gives its
  bootstrap distribution, and :func:`percentile_interval` the 95% interval. Two systems scored with the
  *same* rows of weights give a paired bootstrap of their difference. The draws come from a seeded
  generator, so a rerun gives the same intervals.
* **Which sample the decoder drew.** With several sampled runs, :func:`run_interval` gives the 95%
  interval of the mean over runs (Student's t with ``runs - 1`` degrees of freedom).

Example::

    >>> import numpy as np
    >>> from emotionlayer.evaluation.intervals import bootstrap_weights, percentile_interval
    >>> scores = np.array([1.0, 0.0, 1.0, 1.0])
    >>> weights = bootstrap_weights(len(scores), resamples=1000, seed=0)
    >>> means = weights @ scores / weights.sum(axis=1)
    >>> percentile_interval(means).low <= scores.mean()
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Resamples drawn by default: enough for stable 2.5% and 97.5% percentiles (their run-to-run wobble is
#: below a tenth of the interval's width) and fast on a CPU.
BOOTSTRAP_RESAMPLES = 2000
#: The default seed of the bootstrap: figures and intervals are the same on every rerun.
BOOTSTRAP_SEED = 0

# Two-sided 95% quantiles of Student's t for 1-30 degrees of freedom (beyond, the normal's 1.96 is
# within 0.05 of the truth).
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
        2.045, 2.042)  # fmt: skip


@dataclass(frozen=True)
class Interval:
    """A 95% interval ``[low, high]`` of a figure."""

    low: float
    high: float

    def excludes(self, value: float = 0.0) -> bool:
        """Whether ``value`` lies outside the interval (for a difference: the difference is real)."""
        return value < self.low or value > self.high

    def to_list(self) -> list[float]:
        return [self.low, self.high]

    @classmethod
    def from_list(cls, values: Sequence[float]) -> Interval:
        low, high = values
        return cls(float(low), float(high))

    def rounded(self, digits: int) -> Interval:
        return Interval(round(self.low, digits), round(self.high, digits))


def bootstrap_weights(n: int, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """``(resamples, n)`` integer weights: how often each of ``n`` clips is drawn in each resample.

    Row ``b`` is a multinomial draw of ``n`` clips with replacement from a generator seeded with ``seed``,
    so the same arguments always give the same rows.
    """
    if n < 1 or resamples < 1:
        return np.ones((max(1, resamples), max(0, n)))
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)


def percentile_interval(values: Sequence[float] | np.ndarray, level: float = 0.95) -> Interval | None:
    """The central ``level`` interval of bootstrap values (NaNs dropped); ``None`` if there are none."""
    array = np.asarray(values, dtype=np.float64)
    array = array[np.isfinite(array)]
    if array.size == 0:
        return None
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(array, [tail, 100 - tail])
    return Interval(float(low), float(high))


def run_interval(values: Sequence[float | None]) -> Interval | None:
    """The 95% interval of the mean of per-run values (Student's t); ``None`` with fewer than two runs."""
    array = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if array.size < 2:
        return None
    mean = float(array.mean())
    half = _T95[min(array.size - 1, len(_T95)) - 1] * float(array.std(ddof=1)) / math.sqrt(array.size)
    if array.size - 1 > len(_T95):
        half = 1.96 * float(array.std(ddof=1)) / math.sqrt(array.size)
    return Interval(mean - half, mean + half)
