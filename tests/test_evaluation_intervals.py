"""Bootstrap and over-run intervals: seeded, centred where they should be, wide where the data are noisy."""

from __future__ import annotations

import numpy as np
import pytest

from emotionlayer.evaluation.intervals import Interval, bootstrap_weights, percentile_interval, run_interval


def test_bootstrap_weights_are_seeded_resamples_of_every_clip():
    weights = bootstrap_weights(50, resamples=300, seed=4)
    assert weights.shape == (300, 50) and (weights.sum(axis=1) == 50).all()
    np.testing.assert_array_equal(weights, bootstrap_weights(50, resamples=300, seed=4))
    assert not np.array_equal(weights, bootstrap_weights(50, resamples=300, seed=5))


def test_a_bootstrap_interval_of_a_mean_covers_it_and_shrinks_with_more_clips():
    rng = np.random.default_rng(0)
    widths = []
    for n in (20, 500):
        scores = rng.normal(50.0, 10.0, n)
        weights = bootstrap_weights(n, resamples=1000, seed=0)
        interval = percentile_interval(weights @ scores / weights.sum(axis=1))
        assert interval.low < scores.mean() < interval.high
        widths.append(interval.high - interval.low)
        assert widths[-1] == pytest.approx(2 * 1.96 * 10.0 / np.sqrt(n), rel=0.25)  # the normal theory's width
    assert widths[1] < widths[0] / 3


def test_a_paired_bootstrap_sees_a_small_shift_that_unpaired_noise_hides():
    rng = np.random.default_rng(1)
    a = rng.normal(50.0, 20.0, 100)
    b = a - 2.0 + rng.normal(0.0, 1.0, 100)  # b is a, 2 points lower, plus a little noise
    weights = bootstrap_weights(100, resamples=1000, seed=0)
    difference = percentile_interval(weights @ (a - b) / 100)
    assert difference.excludes(0.0) and difference.low < 2.0 < difference.high
    assert (
        percentile_interval(weights @ a / 100).low < percentile_interval(weights @ b / 100).high
    )  # alone they overlap


def test_run_interval_is_students_t_over_runs():
    interval = run_interval([10.0, 12.0, 14.0])
    assert interval.low == pytest.approx(12.0 - 4.303 * 2.0 / np.sqrt(3), abs=1e-3)
    assert interval.high == pytest.approx(12.0 + 4.303 * 2.0 / np.sqrt(3), abs=1e-3)
    assert run_interval([3.0]) is None and run_interval([None, 2.0]) is None
    assert run_interval([5.0, 5.0]) == Interval(5.0, 5.0)
    assert percentile_interval([np.nan]) is None
    assert Interval.from_list(Interval(1.0, 2.0).to_list()) == Interval(1.0, 2.0)
