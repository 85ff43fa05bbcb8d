"""Matched-cost reading of accuracy curves (bench/analysis/compare.py)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.analysis.compare import _interp_log, _interp_log_rows


def test_a_curve_read_beyond_its_points():
    xs, ys = np.array([1.0, 4.0]), np.array([0.2, 0.6])
    out = _interp_log(np.array([0.5, 1.0, 2.0, 4.0, 9.0]), xs, ys)
    assert np.isnan(out[0])  # below its cheapest point: it cannot run that cheaply
    assert out[1] == pytest.approx(0.2) and out[3] == pytest.approx(0.6)
    assert out[2] == pytest.approx(0.4)  # halfway on log cost
    assert out[4] == pytest.approx(0.6)  # beyond its dearest: the best it reached
    # A curve that falls at its dearest point: beyond it, its best (0.9), not its last.
    falling = _interp_log(np.array([10.0]), np.array([1.0, 2.0]), np.array([0.9, 0.5]))
    assert falling[0] == pytest.approx(0.9)
    # One point, and a point with no cost (NaN) ignored.
    single = _interp_log(np.array([0.5, 1.0, 3.0]), np.array([1.0, np.nan]), np.array([0.7, 0.1]))
    assert np.isnan(single[0]) and single[1] == pytest.approx(0.7) and single[2] == 0.7
    assert np.isnan(_interp_log(np.array([1.0]), np.array([]), np.array([]))).all()


def test_every_resample_at_once_reads_as_one_at_a_time():
    """The bootstrap reads all resamples' curves in one array operation; it
    must give what reading each resample alone gives, on curves with missing
    points, queries below, between, on and beyond the points, NaN queries."""
    rng = np.random.default_rng(0)
    compared = 0
    for _ in range(1500):
        rows, points, queries = rng.integers(1, 5), rng.integers(0, 6), rng.integers(1, 6)
        costs = rng.choice([0.5, 1, 2, 3, 4, 8, 16], size=(rows, points)) * rng.choice(
            [1, 1, 1.3], size=(rows, points)
        )
        values = rng.random((rows, points)).round(2)
        values[rng.random((rows, points)) < 0.15] = np.nan
        at = rng.choice([0.1, 0.5, 1, 1.5, 2, 3, 4, 8, 16, 40], size=(rows, queries)).astype(float)
        at[rng.random((rows, queries)) < 0.1] = np.nan
        below = rng.choice([np.nan, 0.0])
        together = _interp_log_rows(at, costs, values, below)
        for r in range(rows):
            kept = costs[r][~np.isnan(values[r])]
            if len(set(kept)) < len(kept):
                continue  # two points at one cost: either reading is right
            alone = _interp_log(at[r], costs[r], values[r], below)
            np.testing.assert_allclose(together[r], alone, equal_nan=True)
            compared += 1
    assert compared > 2000
    assert np.isnan(_interp_log_rows(np.ones((2, 1)), np.ones((2, 0)), np.ones((2, 0)))).all()
