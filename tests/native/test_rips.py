"""Vietoris–Rips persistence of the C++ core against ripser.py and GUDHI."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest
import tda_core
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import sparse
from scipy.spatial.distance import cdist
from support import run_and_interrupt

ripser = pytest.importorskip("ripser")
gudhi = pytest.importorskip("gudhi")
gph = pytest.importorskip("gph")

pytestmark = pytest.mark.native

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- comparison helpers


def _sorted(d: np.ndarray) -> np.ndarray:
    d = np.asarray(d, dtype=np.float64).reshape(-1, 2)
    return d[np.lexsort((d[:, 1], d[:, 0]))]


def assert_same_diagrams(ours: list[np.ndarray], ref: list[np.ndarray], rtol: float = 1e-6) -> None:
    """Equal as multisets of pairs, up to float32 rounding."""
    assert len(ours) == len(ref)
    for dim, (a, b) in enumerate(zip(ours, ref, strict=True)):
        assert a.dtype == np.float64 and a.ndim == 2 and a.shape[1] == 2
        a, b = _sorted(a), _sorted(b)
        assert a.shape == b.shape, f"H{dim}: {len(a)} pairs, reference {len(b)}\n{a}\n{b}"
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-7, err_msg=f"H{dim}")


def assert_close_diagrams(ours: list[np.ndarray], ref: list[np.ndarray], tol: float) -> None:
    """Same essential classes, finite parts within `tol` in bottleneck distance.

    For inputs whose distances the two sides compute by different formulas
    (float rounding can create or remove pairs of persistence ~1e-7).
    """
    assert len(ours) == len(ref)
    for dim, (a, b) in enumerate(zip(ours, ref, strict=True)):
        a, b = _sorted(a), _sorted(b)
        ess_a, ess_b = a[np.isinf(a[:, 1])], b[np.isinf(b[:, 1])]
        assert len(ess_a) == len(ess_b), f"H{dim} essential classes differ"
        np.testing.assert_allclose(ess_a[:, 0], ess_b[:, 0], rtol=1e-5, atol=1e-6)
        fin_a, fin_b = a[np.isfinite(a[:, 1])], b[np.isfinite(b[:, 1])]
        if len(fin_a) or len(fin_b):
            assert gudhi.bottleneck_distance(fin_a, fin_b) <= tol, f"H{dim} bottleneck too large"


def ripser_dgms(X, max_dim, threshold=None, coeff=2, metric="euclidean", distance_matrix=False):
    thresh = math.inf if threshold is None else threshold
    return ripser.ripser(
        X, maxdim=max_dim, thresh=thresh, coeff=coeff, metric=metric, distance_matrix=distance_matrix
    )["dgms"]


def gudhi_dgms(D: np.ndarray, max_dim: int, threshold: float | None, coeff: int) -> list[np.ndarray]:
    kwargs = {} if threshold is None else {"max_edge_length": threshold}
    # GUDHI filters in double; round like the core so that the filtrations agree.
    D32 = D.astype(np.float32).astype(np.float64)
    st_ = gudhi.RipsComplex(distance_matrix=D32, **kwargs).create_simplex_tree(max_dimension=max_dim + 1)
    st_.compute_persistence(homology_coeff_field=coeff, min_persistence=0, persistence_dim_max=True)
    return [st_.persistence_intervals_in_dimension(d).reshape(-1, 2) for d in range(max_dim + 1)]


points = hnp.arrays(
    np.float64,
    st.tuples(st.integers(2, 28), st.integers(1, 4)),
    elements=st.floats(-10, 10, allow_nan=False, width=32),
)


def random_cloud(seed: int, n: int, d: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, d))


# ---------------------------------------------------------------- oracles: ripser.py


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 30),
    d=st.integers(1, 4),
    max_dim=st.integers(0, 3),
    coeff=st.sampled_from([2, 3, 5]),
    threshold=st.one_of(st.none(), st.floats(0, 1.2)),
)
def test_distance_matrix_matches_ripser(seed, n, d, max_dim, coeff, threshold):
    X = random_cloud(seed, n, d)
    D = cdist(X, X)
    ours = tda_core.rips_persistence(
        D, max_dim=max_dim, threshold=threshold, coeff=coeff, distance_matrix=True
    )
    assert_same_diagrams(ours, ripser_dgms(D, max_dim, threshold, coeff, distance_matrix=True))


@SETTINGS
@given(X=points, max_dim=st.integers(0, 2), coeff=st.sampled_from([2, 3]))
def test_arbitrary_points_match_ripser(X, max_dim, coeff):
    # Duplicates and ties included: distances are computed the same way on both sides.
    D = cdist(X, X)
    ours = tda_core.rips_persistence(D, max_dim=max_dim, coeff=coeff, metric="precomputed")
    assert_same_diagrams(ours, ripser_dgms(D, max_dim, None, coeff, distance_matrix=True))


@pytest.mark.parametrize("metric", ["euclidean", "manhattan", "chebyshev", "cosine"])
@pytest.mark.parametrize("seed", range(4))
def test_point_cloud_metrics_match_ripser(metric, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((40, 3))
    for threshold in (None, 1.0):
        ours = tda_core.rips_persistence(X, max_dim=2, threshold=threshold, metric=metric)
        ref = ripser_dgms(X, 2, threshold, metric=metric)
        # ripser.py's distances come from scikit-learn (a different Euclidean formula)
        assert_close_diagrams(ours, ref, tol=1e-5)


@pytest.mark.parametrize("metric", ["euclidean", "manhattan", "chebyshev"])
@pytest.mark.parametrize("d", [2, 3, 5])
def test_neighbourhood_grid_finds_every_edge(metric, d):
    # Large enough for the grid search under a threshold; compared with the
    # complete distance matrix.
    X = np.random.default_rng(d).random((400, d))
    D = cdist(X, X, metric={"manhattan": "cityblock"}.get(metric, metric))
    threshold = 0.15 if d < 5 else 0.5
    ours = tda_core.rips_persistence(X, max_dim=1, threshold=threshold, metric=metric)
    assert_close_diagrams(ours, ripser_dgms(D, 1, threshold, distance_matrix=True), tol=1e-6)
    assert len(ours[0]) == len(ripser_dgms(D, 0, threshold, distance_matrix=True)[0])


@pytest.mark.parametrize("coeff", [2, 3, 5, 7])
def test_coefficients_matter_and_match(coeff):
    # A sample of the real projective plane: its H1 is Z/2 with Z/2 coefficients
    # and vanishes over Z/p, p odd, so the longest H1 bar is much longer over Z/2.
    D = _rp2_distance_matrix()
    ours = tda_core.rips_persistence(D, max_dim=2, coeff=coeff, distance_matrix=True)
    assert_same_diagrams(ours, ripser_dgms(D, 2, None, coeff, distance_matrix=True))
    longest_h1 = np.max(ours[1][:, 1] - ours[1][:, 0])
    assert (longest_h1 > 0.6) == (coeff == 2)


def _rp2_distance_matrix() -> np.ndarray:
    # Antipodal points of a sphere identified: distance min(|x-y|, |x+y|).
    rng = np.random.default_rng(7)
    x = rng.standard_normal((120, 3))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return np.minimum(cdist(x, x), cdist(x, -x))


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 30),
    density=st.floats(0.05, 1.0),
    max_dim=st.integers(0, 2),
    coeff=st.sampled_from([2, 3]),
    fmt=st.sampled_from(["coo", "csr", "csc"]),
    threshold=st.one_of(st.none(), st.floats(0, 1.0)),
)
def test_sparse_matrix_matches_ripser(seed, n, density, max_dim, coeff, fmt, threshold):
    rng = np.random.default_rng(seed)
    P = rng.random((n, 2))
    D = cdist(P, P)
    keep = np.triu(rng.random((n, n)) < density, 1)
    upper = sparse.coo_matrix(np.where(keep, D, 0))
    S = getattr(upper, "to" + fmt)()
    ours = tda_core.rips_persistence(
        S, max_dim=max_dim, threshold=threshold, coeff=coeff, distance_matrix=True
    )
    ref = ripser_dgms(sparse.coo_matrix(S), max_dim, threshold, coeff, distance_matrix=True)
    assert_same_diagrams(ours, ref)


def test_sparse_explicit_zero_is_an_edge_and_diagonal_gives_births():
    S = sparse.coo_matrix(([0.0, 1.0, 2.0, 0.5, 0.25], ([0, 1, 0, 0, 1], [1, 2, 2, 0, 1])), shape=(3, 3))
    ours = tda_core.rips_persistence(S, max_dim=1, distance_matrix=True)
    assert_same_diagrams(ours, ripser_dgms(S, 1, None, 2, distance_matrix=True))


def _random_sparse_upper(seed: int, n: int, density: float = 0.5) -> sparse.coo_matrix:
    rng = np.random.default_rng(seed)
    P = rng.random((n, 2))
    keep = np.triu(rng.random((n, n)) < density, 1)
    return sparse.coo_matrix(np.where(keep, cdist(P, P), 0))


def test_sparse_repeated_entries_take_the_minimum_not_the_sum():
    # (0, 1) = 1.0 stored twice: summing gave an H0 death at 2.0. (ripser.py and
    # giotto-ph agree on H0 but report a spurious essential H1 class for the doubled
    # edge, so the oracle is ripser.py on the matrix stored once.)
    S = sparse.coo_matrix(([1.0, 1.0, 2.0], ([0, 0, 1], [1, 1, 2])), shape=(3, 3))
    once = sparse.coo_matrix(([1.0, 2.0], ([0, 1], [1, 2])), shape=(3, 3))
    ours = tda_core.rips_persistence(S, distance_matrix=True)
    assert_same_diagrams(ours, ripser_dgms(once, 1, None, 2, distance_matrix=True))
    assert_same_diagrams(ours[:1], ripser_dgms(S, 1, None, 2, distance_matrix=True)[:1])
    assert sorted(ours[0][np.isfinite(ours[0][:, 1]), 1]) == [1.0, 2.0]


@pytest.mark.parametrize("seed", range(8))
def test_sparse_repeated_entries_match_ripser_on_their_minimum(seed):
    upper = _random_sparse_upper(seed, 14)
    rng = np.random.default_rng(seed)
    # every entry a second time, larger, and some a third time below the diagonal
    extra = upper.data + rng.random(upper.nnz)
    below = rng.random(upper.nnz) < 0.5
    rows = np.r_[upper.row, upper.row, upper.col[below]]
    cols = np.r_[upper.col, upper.col, upper.row[below]]
    vals = np.r_[upper.data, extra, extra[below]]
    order = rng.permutation(len(vals))
    S = sparse.coo_matrix((vals[order], (rows[order], cols[order])), shape=upper.shape)
    ours = tda_core.rips_persistence(S, max_dim=2, distance_matrix=True)
    assert_same_diagrams(ours, ripser_dgms(upper, 2, None, 2, distance_matrix=True))


@pytest.mark.parametrize("seed", range(6))
def test_sparse_lower_triangular_is_read_as_symmetric(seed):
    upper = _random_sparse_upper(seed, 16)
    lower = upper.T.tocoo()
    ours = tda_core.rips_persistence(lower, max_dim=2, distance_matrix=True)
    assert_same_diagrams(ours, ripser_dgms(upper, 2, None, 2, distance_matrix=True))
    assert_same_diagrams(ours, gph.ripser_parallel(lower, maxdim=2, metric="precomputed")["dgms"])


@pytest.mark.parametrize("seed", range(6))
def test_sparse_with_both_triangles_takes_the_smaller_of_ij_and_ji(seed):
    rng = np.random.default_rng(seed)
    upper = _random_sparse_upper(seed, 15, density=0.7)
    other = upper.data * rng.uniform(0.5, 1.5, upper.nnz)  # (j, i) differs from (i, j)
    S = sparse.coo_matrix(
        (np.r_[upper.data, other], (np.r_[upper.row, upper.col], np.r_[upper.col, upper.row])), shape=upper.shape
    )
    smaller = sparse.coo_matrix((np.minimum(upper.data, other), (upper.row, upper.col)), shape=upper.shape)
    ours = tda_core.rips_persistence(S.tocsr(), max_dim=2, distance_matrix=True)
    assert_same_diagrams(ours, ripser_dgms(smaller, 2, None, 2, distance_matrix=True))


@pytest.mark.parametrize("seed", range(6))
def test_sparse_with_inferred_non_square_shape_is_accepted_like_giotto_ph(seed):
    upper = _random_sparse_upper(seed, 12, density=0.8)
    keep = upper.row != upper.row.max()  # the last row is empty: scipy infers fewer rows than columns
    S = sparse.coo_matrix((upper.data[keep], (upper.row[keep], upper.col[keep])))
    assert S.shape[0] < S.shape[1]
    ours = tda_core.rips_persistence(S, max_dim=1, distance_matrix=True)
    assert_same_diagrams(ours, gph.ripser_parallel(S, maxdim=1, metric="precomputed")["dgms"])
    square = sparse.coo_matrix((S.data, (S.row, S.col)), shape=(max(S.shape),) * 2)
    assert_same_diagrams(ours, ripser_dgms(square, 1, None, 2, distance_matrix=True))


def test_dense_matrix_with_diagonal_matches_ripser():
    rng = np.random.default_rng(3)
    D = cdist(*(2 * [rng.random((25, 2))]))
    np.fill_diagonal(D, rng.random(25) * 0.2)
    ours = tda_core.rips_persistence(D, max_dim=1, distance_matrix=True)
    assert_same_diagrams(ours, ripser_dgms(D, 1, None, 2, distance_matrix=True))


def test_infinite_entries_are_absent_edges():
    D = np.full((4, 4), np.inf)
    np.fill_diagonal(D, 0)
    D[0, 1] = D[1, 0] = 1.0
    ours = tda_core.rips_persistence(D, max_dim=1, distance_matrix=True)
    assert_same_diagrams(ours[:1], [np.array([[0, 1.0], [0, np.inf], [0, np.inf], [0, np.inf]])])


# ---------------------------------------------------------------- greedy permutation (n_perm)


@pytest.mark.parametrize("metric", ["euclidean", "manhattan", "chebyshev", "cosine"])
@pytest.mark.parametrize("n_perm", [1, 2, 25, 80])
def test_greedy_permutation_matches_ripser(metric, n_perm):
    X = random_cloud(11, 80, 3) - 0.5
    ref = ripser.ripser(X, maxdim=1, n_perm=n_perm, metric=metric)
    indices, radius = tda_core.greedy_permutation(X, n_perm, metric=metric)
    assert indices.dtype == np.int64 and indices.shape == (n_perm,)
    if n_perm < len(X):  # ripser.py keeps the identity order when every point is taken
        np.testing.assert_array_equal(indices, ref["idx_perm"])
    assert radius == pytest.approx(ref["r_cover"], rel=1e-9, abs=1e-12)
    ours = tda_core.rips_persistence(X, max_dim=1, metric=metric, n_perm=n_perm)
    assert_close_diagrams(ours, ref["dgms"], tol=1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_greedy_permutation_of_a_distance_matrix_matches_ripser_exactly(seed):
    P = random_cloud(seed, 120, 2)
    D = cdist(P, P)
    ref = ripser.ripser(D, maxdim=2, n_perm=30, distance_matrix=True)
    indices, radius = tda_core.greedy_permutation(D, 30, distance_matrix=True)
    np.testing.assert_array_equal(indices, ref["idx_perm"])
    assert radius == ref["r_cover"]
    # the covering radius is what it says: every point within it of the subsample
    assert D[:, indices].min(axis=1).max() == radius
    assert_same_diagrams(tda_core.rips_persistence(D, max_dim=2, distance_matrix=True, n_perm=30), ref["dgms"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_perm": 0}, "n_perm"),
        ({"n_perm": 11}, "n_perm.*10"),
        ({"n_perm": 2.0}, "n_perm"),
        ({"n_perm": 3, "X": sparse.coo_matrix(np.ones((3, 3))), "distance_matrix": True}, "X.*sparse"),
        ({"n_perm": 3, "X": np.ones((3, 4)), "distance_matrix": True}, "X.*square"),
    ],
)
def test_greedy_permutation_bad_input(kwargs, match):
    args = {"X": random_cloud(0, 10, 2), **kwargs}
    with pytest.raises(ValueError, match=match):
        tda_core.greedy_permutation(**args)
    with pytest.raises(ValueError, match=match):
        tda_core.rips_persistence(**args)


# ---------------------------------------------------------------- oracle: GUDHI


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 22),
    max_dim=st.integers(0, 2),
    coeff=st.sampled_from([2, 3, 5]),
    threshold=st.one_of(st.none(), st.floats(0.1, 1.0)),
)
def test_matches_gudhi(seed, n, max_dim, coeff, threshold):
    X = random_cloud(seed, n, 3)
    D = cdist(X, X)
    ours = tda_core.rips_persistence(
        D, max_dim=max_dim, threshold=threshold, coeff=coeff, distance_matrix=True
    )
    assert_close_diagrams(ours, gudhi_dgms(D, max_dim, threshold, coeff), tol=1e-6)


# ---------------------------------------------------------------- conventions and threads


def test_output_format_and_conventions():
    X = random_cloud(0, 30, 2)
    dgms = tda_core.rips_persistence(X, max_dim=2)
    assert isinstance(dgms, list) and len(dgms) == 3
    for d in dgms:
        assert d.dtype == np.float64 and d.ndim == 2 and d.shape[1] == 2
        assert np.all(d[:, 1] > d[:, 0])  # zero-persistence pairs are left out
    assert np.sum(np.isinf(dgms[0][:, 1])) == 1
    assert np.all(dgms[0][:, 0] == 0)


def test_single_point_and_max_dim_zero():
    out = tda_core.rips_persistence(np.zeros((1, 3)), max_dim=2)
    assert [d.shape for d in out] == [(1, 2), (0, 2), (0, 2)]
    assert out[0][0, 1] == np.inf


def test_threshold_none_equals_infinite_threshold_and_enclosing_radius_is_harmless():
    X = random_cloud(11, 60, 3)
    a = tda_core.rips_persistence(X, max_dim=2)
    b = tda_core.rips_persistence(X, max_dim=2, threshold=1e9)
    assert_same_diagrams(a, b, rtol=0)


@pytest.mark.parametrize("case", ["dense", "sparse", "points", "zp", "many-edges"])
def test_two_threads_identical_to_one(case):
    """Also where both threads sort (over 2**15 columns, or edges: the many-edges case)."""
    rng = np.random.default_rng(5)
    X = rng.random((150, 4))
    kwargs = {"max_dim": 2}
    if case == "many-edges":
        X, kwargs["max_dim"] = rng.random((400, 3)), 1
    elif case == "dense":
        X, kwargs["distance_matrix"] = cdist(X, X), True
    elif case == "sparse":
        kwargs["threshold"] = 0.45
    elif case == "zp":
        kwargs["coeff"] = 3
    one = tda_core.rips_persistence(X, n_threads=1, **kwargs)
    two = tda_core.rips_persistence(X, n_threads=2, **kwargs)
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)


def test_integer_and_float32_inputs_are_accepted():
    X = np.random.default_rng(1).integers(0, 10, (20, 2))
    a = tda_core.rips_persistence(X)
    b = tda_core.rips_persistence(X.astype(np.float32))
    assert_same_diagrams(a, b, rtol=0)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"X": np.array([[0.0, np.nan], [1.0, 2.0]])}, "X"),
        ({"X": np.array([[0.0, np.inf], [1.0, 2.0]])}, "X"),
        ({"X": np.zeros((0, 3))}, "X"),
        ({"X": np.zeros((3, 0))}, "X"),
        ({"X": np.zeros(5)}, "X"),
        ({"X": np.zeros((2, 2, 2))}, "X"),
        ({"X": np.array([["a", "b"]])}, "X"),
        ({"X": np.array([[True, False]])}, "X"),
        ({"X": np.ones((3, 3), dtype=complex)}, "X"),
        ({"X": np.zeros((2, 3)), "distance_matrix": True}, "X"),
        ({"X": np.array([[0.0, 1.0], [2.0, 0.0]]), "distance_matrix": True}, "X"),
        ({"X": np.array([[0.0, np.nan], [np.nan, 0.0]]), "metric": "precomputed"}, "X"),
        ({"X": sparse.coo_matrix(np.array([[0.0, np.nan], [0.0, 0.0]])), "distance_matrix": True}, "X"),
        ({"X": sparse.coo_matrix(np.ones((2, 2)))}, "X"),
        ({"max_dim": -1}, "max_dim"),
        ({"max_dim": 1.5}, "max_dim"),
        ({"max_dim": True}, "max_dim"),
        ({"threshold": -0.1}, "threshold"),
        ({"threshold": float("nan")}, "threshold"),
        ({"threshold": "1"}, "threshold"),
        ({"coeff": 4}, "coeff"),
        ({"coeff": 1}, "coeff"),
        ({"coeff": 0}, "coeff"),
        ({"coeff": 2.0}, "coeff"),
        ({"metric": "minkowski"}, "metric"),
        ({"metric": 3}, "metric"),
        ({"n_threads": 0}, "n_threads"),
        ({"distance_matrix": "yes"}, "distance_matrix"),
    ],
)
def test_bad_input_raises_value_error_naming_the_parameter(kwargs, param):
    args = {"X": random_cloud(0, 5, 2), **kwargs}
    with pytest.raises(ValueError, match=param):
        tda_core.rips_persistence(**args)


def test_too_many_points_for_dimension_is_a_value_error():
    # Ranks of 12-vertex simplices over 10^5 vertices do not fit in 64 bits.
    with pytest.raises(ValueError, match="max_dim"):
        tda_core.rips_persistence(np.zeros((100_000, 1)), max_dim=10, threshold=0.0)


def test_limits_are_checked_before_any_work_and_stated():
    with pytest.raises(ValueError, match="max_dim must be at most 9"):
        tda_core.rips_persistence(random_cloud(0, 5, 2), max_dim=10)
    # The distance matrix of 200,000 points alone would take 160 GB: the simplex-index
    # limit must be refused before it is built (else MemoryError or minutes of work).
    with pytest.raises(ValueError, match=r"too many points for max_dim=8: at most \d+ .*got 200000"):
        tda_core.rips_persistence(np.zeros((200_000, 1)), max_dim=8)
    # The stated limit is the real one: at the limit the computation runs.
    import re

    with pytest.raises(ValueError) as info:
        tda_core.rips_persistence(np.zeros((200_000, 1)), max_dim=8)
    limit = int(re.search(r"at most (\d+)", str(info.value)).group(1))
    line = np.arange(limit + 1, dtype=np.float64)[:, None]  # no edges under the threshold: no work
    assert len(tda_core.rips_persistence(line[:limit], max_dim=8, threshold=0.5)) == 9
    with pytest.raises(ValueError, match="at most"):
        tda_core.rips_persistence(line, max_dim=8, threshold=0.5)


any_array = hnp.arrays(
    dtype=st.sampled_from([np.float64, np.float32, np.int64, np.int8, np.bool_, np.complex64, np.uint16]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=9),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    X=any_array,
    max_dim=st.one_of(st.integers(-2, 3), st.floats(allow_nan=True), st.none(), st.text(max_size=2)),
    threshold=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3)),
    coeff=st.one_of(st.integers(-3, 12), st.just(2**61 - 1), st.floats(allow_nan=True)),
    metric=st.sampled_from(["euclidean", "manhattan", "chebyshev", "cosine", "precomputed", "nope", ""]),
    distance_matrix=st.one_of(st.booleans(), st.integers(-1, 2)),
    n_threads=st.integers(-1, 3),
)
def test_fuzz_never_crashes(X, max_dim, threshold, coeff, metric, distance_matrix, n_threads):
    try:
        out = tda_core.rips_persistence(
            X,
            max_dim=max_dim,
            threshold=threshold,
            coeff=coeff,
            metric=metric,
            distance_matrix=distance_matrix,
            n_threads=n_threads,
        )
    except ValueError:
        return
    assert len(out) == max_dim + 1


@settings(max_examples=60, deadline=None)
@given(
    data=hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 8), st.integers(1, 8)),
        elements=st.floats(allow_nan=True, allow_infinity=True),
    ),
    fmt=st.sampled_from(["coo", "csr"]),
)
def test_fuzz_sparse_never_crashes(data, fmt):
    with contextlib.suppress(ValueError):
        tda_core.rips_persistence(
            getattr(sparse.coo_matrix(data), "to" + fmt)(), max_dim=2, distance_matrix=True
        )


# ---------------------------------------------------------------- estimate_rips


def _count_simplices(X: np.ndarray, max_dim: int, threshold: float | None) -> list[int]:
    kwargs = {} if threshold is None else {"max_edge_length": threshold}
    st_ = gudhi.RipsComplex(points=X, **kwargs).create_simplex_tree(max_dimension=max_dim + 1)
    counts = [0] * (max_dim + 2)
    for simplex, _ in st_.get_simplices():
        counts[len(simplex) - 1] += 1
    return counts


@pytest.mark.parametrize("threshold", [None, 0.3, 0.6])
def test_estimate_bounds_the_complex(threshold):
    X = random_cloud(2, 40, 3)
    actual = _count_simplices(X, 2, threshold)
    for arg in (X, 40):
        est = tda_core.estimate_rips(arg, 2, threshold)
        assert len(est["simplices"]) == 4
        for bound, count in zip(est["simplices"], actual, strict=True):
            assert bound >= count
        assert est["bytes"] > 0 and est["total_simplices"] >= sum(actual)
    if threshold is not None:
        assert tda_core.estimate_rips(X, 2, threshold)["bytes"] <= tda_core.estimate_rips(40, 2)["bytes"]


def test_estimate_validates():
    with pytest.raises(ValueError, match="max_dim"):
        tda_core.estimate_rips(10, -1)
    with pytest.raises(ValueError, match="n_points_or_X"):
        tda_core.estimate_rips(0, 1)
    with pytest.raises(ValueError, match="threshold"):
        tda_core.estimate_rips(10, 1, threshold=-1)


# ---------------------------------------------------------------- interruption


def test_ctrl_c_interrupts_a_long_computation():
    setup = """
        import numpy as np, tda_core
        X = np.random.default_rng(0).random((2500, 12))  # minutes uninterrupted
    """
    assert run_and_interrupt(setup, "tda_core.rips_persistence(X, max_dim=2)") == "interrupted"
