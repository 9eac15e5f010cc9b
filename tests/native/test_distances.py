"""Diagram distances against Hera (exact bottleneck and Wasserstein), as shipped with GUDHI."""

from __future__ import annotations

import gudhi.hera as hera
import numpy as np
import pytest
import tda_core
from hypothesis import example, given, settings
from hypothesis import strategies as st
from support import run_and_interrupt
from tda_core import _core

pytestmark = pytest.mark.native

INF = np.inf


def random_diagram(rng: np.random.Generator, n: int, essential: int = 0, integer: bool = False) -> np.ndarray:
    birth = rng.random(n)
    death = birth + rng.exponential(0.2, n)
    if integer:  # many equal distances: ties in the matching problems
        birth = np.round(birth * 8)
        death = birth + rng.integers(1, 5, n)
    pts = np.c_[birth, death]
    if essential:
        pts = np.r_[pts, np.c_[rng.random(essential), np.full(essential, INF)]]
    return pts[rng.permutation(len(pts))]


def hera_wasserstein(a: np.ndarray, b: np.ndarray, p: float) -> float:
    if len(a) == 0 or len(b) == 0:  # the Hera binding does not accept an empty diagram
        other = b if len(a) == 0 else a
        if np.isinf(other).any():
            return INF
        return float((np.abs(other[:, 1] - other[:, 0]) / 2) ** p).sum() ** (1 / p) if len(other) else 0.0
    return hera.wasserstein_distance(a, b, order=p, internal_p=INF, delta=1e-9)


def hera_bottleneck(a: np.ndarray, b: np.ndarray) -> float:
    """Hera's exact bottleneck distance (delta=0). GUDHI's own bottleneck_distance, with
    e=0 or its default, disagrees with Hera on about 1-3% of small diagrams with many ties
    (quarter-integer coordinates); Hera, GUDHI's Wasserstein backend, is the oracle."""
    if len(a) == 0 or len(b) == 0:  # the Hera binding does not accept an empty diagram
        other = b if len(a) == 0 else a
        if np.isinf(other).any():
            return INF
        return float((np.abs(other[:, 1] - other[:, 0]) / 2).max()) if len(other) else 0.0
    return hera.bottleneck_distance(a, b, delta=0)


@pytest.mark.parametrize("seed", range(40))
def test_bottleneck_matches_hera_exactly(seed):
    rng = np.random.default_rng(seed)
    ess = int(rng.integers(0, 3))
    a = random_diagram(rng, int(rng.integers(0, 40)), ess, integer=seed % 3 == 0)
    b = random_diagram(rng, int(rng.integers(0, 40)), ess, integer=seed % 3 == 0)
    assert tda_core.bottleneck(a, b) == pytest.approx(hera_bottleneck(a, b), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("p", [1.0, 2.0, 3.5])
def test_exact_wasserstein_matches_hera(seed, p):
    rng = np.random.default_rng(100 + seed)
    ess = int(rng.integers(0, 3))
    a = random_diagram(rng, int(rng.integers(1, 40)), ess, integer=seed % 3 == 0)
    b = random_diagram(rng, int(rng.integers(1, 40)), ess, integer=seed % 3 == 0)
    assert tda_core.wasserstein(a, b, p=p, delta=0.0) == pytest.approx(hera_wasserstein(a, b, p), rel=1e-7)


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("p", [1.0, 2.0, 3.5])
def test_diagrams_born_at_one_value_take_the_exact_line_path(seed, p):
    """H0 of a Rips filtration: every class born at 0. The one-dimensional programme must
    give Hera's value, also with ties, and with sizes beyond the Hungarian method's."""
    rng = np.random.default_rng(500 + seed)
    n, m = (int(rng.integers(1, 400)) for _ in range(2))
    if seed % 3 == 0:
        a, b = (np.c_[np.zeros(k), rng.integers(1, 6, k).astype(float)] for k in (n, m))
    else:
        a, b = (tda_core.rips_persistence(rng.random((k, 3)))[0][:-1] for k in (n, m))
    got = tda_core.wasserstein(a, b, p=p, delta=0.0)
    assert _core.wasserstein_stats()["exact"]
    assert got == pytest.approx(hera_wasserstein(a, b, p), rel=1e-7)
    shifted = a + [0.5, 0.5]  # one birth for all, not zero
    assert tda_core.wasserstein(shifted, b + [0.5, 0.5], p=p, delta=0.0) == pytest.approx(got, rel=1e-12)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("p", [1.0, 2.0])
def test_auction_is_within_delta_of_the_optimum(seed, p):
    rng = np.random.default_rng(200 + seed)
    a = random_diagram(rng, int(rng.integers(150, 300)), 2, integer=seed % 2 == 0)
    b = random_diagram(rng, int(rng.integers(150, 300)), 2, integer=seed % 2 == 0)
    exact = tda_core.wasserstein(a, b, p=p, delta=0.0)
    assert _core.wasserstein_stats()["exact"]
    for delta in (0.01, 0.1):
        approx = tda_core.wasserstein(a, b, p=p, delta=delta)
        assert not _core.wasserstein_stats()["exact"]
        assert exact * (1 - 1e-12) <= approx <= exact * (1 + delta)


def matching_cost(a: np.ndarray, b: np.ndarray, pairs: np.ndarray, p: float) -> float:
    """(sum of cost^p)^(1/p) of a matching given as (index in a, index in b), -1 = diagonal."""
    total = 0.0
    for i, j in pairs:
        if i >= 0 and j >= 0:
            x, y = a[i], b[j]
            gaps = [0.0 if u == v else abs(u - v) for u, v in zip(x, y, strict=True)]  # inf - inf: same kind
            total += max(gaps) ** p
        else:
            x = a[i] if i >= 0 else b[j]
            total += (abs(x[1] - x[0]) / 2) ** p
    return total ** (1 / p)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("p", [1.0, 2.0])
def test_wasserstein_matching_is_optimal_and_complete(seed, p):
    rng = np.random.default_rng(900 + seed)
    ess = int(rng.integers(0, 3))
    a = random_diagram(rng, int(rng.integers(1, 30)), ess, integer=seed % 2 == 0)
    b = random_diagram(rng, int(rng.integers(1, 30)), ess, integer=seed % 2 == 0)
    a = np.r_[a, [[0.3, 0.3], [0.7, 0.7]]]  # two points on the diagonal: matched with it
    value, pairs = tda_core.wasserstein(a, b, p=p, delta=0.5, matching=True)  # exact whatever delta
    assert pairs.dtype == np.int64 and pairs.ndim == 2 and pairs.shape[1] == 2
    assert value == pytest.approx(hera_wasserstein(a, b, p), rel=1e-9)
    assert value == pytest.approx(tda_core.wasserstein(a, b, p=p, delta=0), rel=1e-12)
    assert sorted(pairs[pairs[:, 0] >= 0, 0]) == list(range(len(a)))
    assert sorted(pairs[pairs[:, 1] >= 0, 1]) == list(range(len(b)))
    assert not ((pairs[:, 0] < 0) & (pairs[:, 1] < 0)).any()
    assert matching_cost(a, b, pairs, p) == pytest.approx(value, rel=1e-9)


def test_wasserstein_matching_edge_cases():
    value, pairs = tda_core.wasserstein([[0.0, INF]], [], matching=True)
    assert value == INF and pairs.shape == (0, 2)
    value, pairs = tda_core.wasserstein([[1.0, 1.0]], [[2.0, 2.0]], matching=True)
    assert value == 0.0 and sorted(map(tuple, pairs.tolist())) == [(-1, 0), (0, -1)]
    with pytest.raises(ValueError, match="matching"):
        tda_core.wasserstein([[0.0, 1.0]], [], matching="yes")


def test_large_diagrams_agree_with_hera_within_its_bound():
    rng = np.random.default_rng(7)
    a, b = random_diagram(rng, 400), random_diagram(rng, 2000)
    ours_b = tda_core.bottleneck(a, b)
    hera_b = hera.bottleneck_distance(a, b, delta=0.01)  # in [d, 1.01 d]
    assert ours_b <= hera_b <= ours_b * 1.01 + 1e-12
    assert tda_core.bottleneck(a, b, delta=0.01) <= ours_b * 1.01
    for p in (1.0, 2.0):
        ours = tda_core.wasserstein(a, b, p=p)  # both in [W, 1.01 W]
        ref = hera.wasserstein_distance(a, b, order=p, internal_p=INF, delta=0.01)
        assert abs(ours - ref) <= 0.0101 * min(ours, ref)


def test_essential_classes():
    a = np.array([[0.0, 1.0], [0.5, INF], [0.2, INF]])
    b = np.array([[0.0, 1.1], [0.4, INF], [0.1, INF]])
    # essential births sorted: (0.2, 0.5) vs (0.1, 0.4): gaps 0.1 and 0.1
    assert tda_core.bottleneck(a, b) == pytest.approx(0.1)
    assert tda_core.wasserstein(a, b, p=1) == pytest.approx(0.1 + 0.1 + 0.1)
    assert tda_core.bottleneck(a, b[:2]) == INF
    assert tda_core.wasserstein(a, b[:2]) == INF
    # (-inf, d) points are matched along their deaths, separately from (b, inf)
    c = np.array([[-INF, 1.0], [0.0, INF]])
    d = np.array([[-INF, 3.0], [0.5, INF]])
    assert tda_core.bottleneck(c, d) == pytest.approx(2.0)
    assert tda_core.bottleneck(c, d[::-1][:1]) == INF


def test_simple_values():
    a = np.array([[0.0, 4.0]])
    b = np.array([[1.0, 4.0]])
    assert tda_core.bottleneck(a, b) == 1.0
    assert tda_core.bottleneck(a, np.empty((0, 2))) == 2.0  # to the diagonal: half the persistence
    assert tda_core.wasserstein(a, [], p=2) == 2.0
    assert tda_core.bottleneck([], []) == 0.0
    assert tda_core.wasserstein([[1.0, 1.0]], []) == 0.0  # a diagonal point costs nothing


diagram_strategy = st.lists(
    st.tuples(st.integers(0, 20), st.integers(1, 10)).map(lambda t: (t[0] / 4, t[0] / 4 + t[1] / 4)),
    max_size=25,
).map(lambda pts: np.array(pts, dtype=np.float64).reshape(-1, 2))


@settings(max_examples=80, deadline=None)
@given(a=diagram_strategy, b=diagram_strategy, c=diagram_strategy)
# Once failed against GUDHI's bottleneck_distance, which gives 0.625 here; the exact value
# is 0.5 (Hera and us: 1.25 <-> 0.75 at 0.5, every other point to the diagonal at <= 0.5).
@example(
    a=np.array([[0, 0.25], [0, 0.25], [0, 0.75]]),
    b=np.array([[0, 1], [0, 1], [0, 0.75], [0, 1.25]]),
    c=np.empty((0, 2)),
)
@example(  # GUDHI (e=0) says 1.75, Hera and us 1.25
    a=np.array([[4.75, 5.25], [0.25, 1.75], [1.75, 3.5], [3.25, 5.25]]),
    b=np.array([[2.0, 3.25], [2.25, 2.5], [2.25, 3.5], [5.0, 7.5], [1.0, 2.75]]),
    c=np.empty((0, 2)),
)
def test_metric_axioms(a, b, c):
    for dist in (tda_core.bottleneck, lambda x, y: tda_core.wasserstein(x, y, p=2, delta=0)):
        ab, ba = dist(a, b), dist(b, a)
        assert ab == pytest.approx(ba, abs=1e-12)
        assert dist(a, a) == 0.0
        assert ab <= dist(a, c) + dist(c, b) + 1e-9
    assert tda_core.bottleneck(a, b) == pytest.approx(hera_bottleneck(a, b), abs=1e-12)


def test_distance_to_the_diagonal_does_not_overflow():
    huge = np.array([[-1e308, 1e308]])  # d - b overflows; the distance 1e308 does not
    assert tda_core.bottleneck(huge, []) == 1e308
    assert tda_core.wasserstein(huge, [], p=2, delta=0) == pytest.approx(1e308, rel=1e-15)
    assert tda_core.bottleneck(huge, [[-1e308, 0.5e308]]) == 0.5e308


@pytest.mark.parametrize(
    ("setup", "call"),
    [
        # both take minutes uninterrupted (Hungarian method: cubic in 10,000 points)
        ("b = rng.random(300_000); a = np.c_[b, b + rng.exponential(0.2, b.size)]; c = a + 0.01 * rng.random(a.shape)",
         "tda_core.bottleneck(a, c)"),
        ("b = rng.random(5_000); a = np.c_[b, b + rng.exponential(0.2, b.size)]; c = a + 0.01 * rng.random(a.shape)",
         "tda_core.wasserstein(a, c, delta=0)"),
    ],
    ids=["bottleneck", "wasserstein"],
)
def test_ctrl_c_interrupts_a_long_distance(setup, call):
    prelude = "import numpy as np, tda_core\nrng = np.random.default_rng(0)\n"
    assert run_and_interrupt(prelude + setup, call) == "interrupted"


def test_stats_are_those_of_the_last_call_from_this_thread():
    rng = np.random.default_rng(1)
    small, big = random_diagram(rng, 20), random_diagram(rng, 400)  # inline, then on the worker thread
    tda_core.wasserstein(big, big[::-1] + 0.01, delta=0.01)
    assert not _core.wasserstein_stats()["exact"] and _core.wasserstein_stats()["bids"] > 0
    tda_core.wasserstein(small, small + 0.01, delta=0.01)
    assert _core.wasserstein_stats()["exact"]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: tda_core.bottleneck(np.zeros((3, 3)), np.zeros((1, 2))), "d1"),
        (lambda: tda_core.bottleneck(np.zeros((1, 2)), [[0.0, np.nan]]), "d2.*NaN"),
        (lambda: tda_core.bottleneck(np.zeros((1, 2)), np.zeros((1, 2)), delta=-1), "delta"),
        (lambda: tda_core.wasserstein(np.zeros((1, 2)), np.zeros((1, 2)), p=0.5), "p"),
        (lambda: tda_core.wasserstein(np.zeros((1, 2)), np.zeros((1, 2)), p=np.inf), "p"),
        (lambda: tda_core.wasserstein(np.zeros((1, 2)), "x"), "d2"),
        (lambda: tda_core.bottleneck(np.zeros((4, 0)), np.zeros((1, 2))), "d1.*shape"),
        (lambda: tda_core.wasserstein(np.zeros((1, 2)), [[], [], [], []]), "d2.*shape"),
        (lambda: tda_core.bottleneck(np.zeros((1, 2)), np.zeros((0, 3))), "d2.*shape"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
