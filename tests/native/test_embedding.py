"""Time-delay embedding."""

from __future__ import annotations

import numpy as np
import pytest
import tda_core
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.native


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 80), st.integers(1, 5), st.integers(1, 4), st.integers(1, 4))
def test_rows_are_delay_vectors(n, dimension, delay, stride):
    series = np.random.default_rng(n).random(n)
    span = (dimension - 1) * delay
    if n <= span:
        with pytest.raises(ValueError, match="series"):
            tda_core.delay_embedding(series, dimension, delay, stride)
        return
    cloud = tda_core.delay_embedding(series, dimension, delay, stride)
    starts = range(0, n - span, stride)
    expected = np.array([[series[i + k * delay] for k in range(dimension)] for i in starts])
    assert cloud.dtype == np.float64 and cloud.flags.c_contiguous
    np.testing.assert_array_equal(cloud, expected)


def test_circle_from_a_sine():
    t = np.linspace(0, 8 * np.pi, 400)
    cloud = tda_core.delay_embedding(np.sin(t), dimension=2, delay=25)
    radius = np.hypot(cloud[:, 0], cloud[:, 1])
    assert cloud.shape == (375, 2) and radius.std() < 0.2  # a loop around the origin


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((np.zeros((4, 2)), 2), "series"),
        ((np.array([0.0, np.nan, 1.0]), 2), "series"),
        ((np.zeros(5), 0), "dimension"),
        ((np.zeros(5), 2, 0), "delay"),
        ((np.zeros(5), 2, 1, 0), "stride"),
        ((np.zeros(5), 2.5), "dimension"),
        ((np.zeros(3), 3, 2), "series.*too short"),
    ],
)
def test_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        tda_core.delay_embedding(*args)
