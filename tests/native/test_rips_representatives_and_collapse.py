"""What Rips pairs come from -- critical edges (giotto-ph's generators) and representative
cocycles (ripser.py's cocycles) -- and the edge collapse before the reduction, with weighted
(negative) filtrations: checked by their defining properties and against the peers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tda_core
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.spatial.distance import pdist, squareform

ripser = pytest.importorskip("ripser")
gph = pytest.importorskip("gph")

pytestmark = pytest.mark.native

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _cloud(seed: int, n: int, d: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).random((n, d))


def _f32(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float32).astype(np.float64)


def assert_generators_give_the_values(D: np.ndarray, result: tda_core.RipsPersistence) -> None:
    """Every birth and death is the length of the edge named for it (giotto-ph's own check)."""
    assert result.generators is not None
    for dim, (diagram, gens) in enumerate(zip(result.diagrams, result.generators, strict=True)):
        assert gens.dtype == np.int64 and gens.shape == (len(diagram), 3 if dim == 0 else 4)
        finite = np.isfinite(diagram[:, 1])
        death = gens[:, -2:]
        np.testing.assert_array_equal(diagram[finite, 1], _f32(D[death[finite, 0], death[finite, 1]]))
        assert (death[~finite] == -1).all()
        if dim == 0:
            np.testing.assert_array_equal(diagram[:, 0], _f32(np.diag(D)[gens[:, 0]]))
        else:
            np.testing.assert_array_equal(diagram[:, 0], _f32(D[gens[:, 0], gens[:, 1]]))


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("threshold", [None, 0.5])
def test_generators_name_the_edges_of_every_birth_and_death(n_threads, threshold):
    X = _cloud(1, 100)
    D = squareform(pdist(X))
    for source, precomputed in ((D, True), (X, False), (sparse.coo_matrix(np.triu(D)), True)):
        result = tda_core.rips_persistence(source, max_dim=3, threshold=threshold, distance_matrix=precomputed,
                                           n_threads=n_threads, generators=True)
        assert isinstance(result, tda_core.RipsPersistence) and result.cocycles is None
        plain = tda_core.rips_persistence(source, max_dim=3, threshold=threshold, distance_matrix=precomputed,
                                          n_threads=n_threads)
        for a, b in zip(result.diagrams, plain, strict=True):
            np.testing.assert_array_equal(a, b)
        assert_generators_give_the_values(D, result)


def test_generators_are_giotto_phs_on_generic_distances():
    """Distinct distances make every critical edge unique: the same edges as giotto-ph's."""
    D = squareform(pdist(_cloud(2, 60)))
    ours = tda_core.rips_persistence(D, max_dim=2, distance_matrix=True, generators=True)
    ref = gph.ripser_parallel(D, maxdim=2, metric="precomputed", return_generators=True)["gens"]

    def edges(rows: np.ndarray) -> list[tuple[int, ...]]:
        pairs = np.asarray(rows).reshape(len(rows), np.shape(rows)[-1] // 2, 2)
        return sorted(tuple(int(v) for e in row for v in sorted(e)) for row in pairs)

    finite0 = np.isfinite(ours.diagrams[0][:, 1])
    assert edges(ours.generators[0][finite0, 1:]) == edges(ref[0][:, 1:])
    for dim in (1, 2):
        finite = np.isfinite(ours.diagrams[dim][:, 1])
        assert edges(ours.generators[dim][finite]) == edges(ref[1][dim - 1])
        assert edges(ours.generators[dim][~finite, :2]) == edges(ref[3][dim - 1])


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 30), fmt=st.sampled_from(["dense", "sparse"]))
def test_dimension_0_births_are_unique_vertices_born_then(seed, n, fmt):
    """Vertex births (the diagonal): each finite and each essential class is named by its own
    vertex, born at the class's birth (giotto-ph's test of the same)."""
    rng = np.random.default_rng(seed)
    D = squareform(pdist(rng.random((n, 2)))) + 0.05
    np.fill_diagonal(D, rng.uniform(0, 0.05, n))
    X = D if fmt == "dense" else sparse.csr_matrix(D)
    result = tda_core.rips_persistence(X, max_dim=0, distance_matrix=True, generators=True)
    births = result.generators[0][:, 0]
    assert len(np.unique(births)) == len(births)
    finite = np.isfinite(result.diagrams[0][:, 1])
    assert finite.sum() + (~finite).sum() == len(births)
    assert_generators_give_the_values(D, result)
    assert n - (~finite).sum() >= finite.sum()  # a zero-length class is left out


# ---------------------------------------------------------------- cocycles


def _coboundary_nonzero(cocycle: np.ndarray, D: np.ndarray, dim: int, p: int, below: float) -> list[float]:
    """Diameters of the (dim+1)-simplices of diameter < ``below`` on which the cochain's
    coboundary is nonzero mod p (standard orientation: vertices ascending)."""
    values = {tuple(sorted(int(v) for v in row[:-1])): int(row[-1]) for row in cocycle}
    n = D.shape[0]
    found = []
    for face in values:
        # Only cofacets of the cochain's simplices can see it.
        for x in range(n):
            if x in face:
                continue
            tau = tuple(sorted((*face, x)))
            diameter = max(D[a, b] for a, b in itertools.combinations(tau, 2))
            if _f32(np.array([diameter]))[0] >= below:
                continue
            total = sum((-1) ** i * values.get(tau[:i] + tau[i + 1:], 0) for i in range(dim + 2))
            if total % p:
                found.append(diameter)
    return found


@pytest.mark.parametrize("coeff", [2, 3, 5])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_cocycles_are_cocycles_until_the_death_and_start_at_the_birth(coeff, n_threads):
    X = _cloud(3, 24)
    D = squareform(pdist(X))
    result = tda_core.rips_persistence(X, max_dim=2, coeff=coeff, n_threads=n_threads, cocycles=True)
    assert result.generators is None and result.cocycles is not None
    assert result.cocycles[0] == []
    for dim in (1, 2):
        diagram, cocycles = result.diagrams[dim], result.cocycles[dim]
        assert len(cocycles) == len(diagram) > 0
        for (birth, death), cocycle in zip(diagram, cocycles, strict=True):
            assert cocycle.dtype == np.int64 and cocycle.shape[1] == dim + 2
            assert (np.abs(cocycle[:, -1]) <= coeff // 2).all() and (cocycle[:, -1] % coeff != 0).all()
            assert all(list(row[:-1]) == sorted(row[:-1], reverse=True) for row in cocycle)
            diameters = [_f32(np.array([max(D[a, b] for a, b in itertools.combinations(row[:-1], 2))]))[0]
                         for row in cocycle]
            # Its column's simplex, born at the birth; the rest of V comes later in the filtration.
            assert diameters[0] == birth and cocycle[0, -1] == 1 and min(diameters) >= birth
            # A cocycle of everything before the death, and not after it.
            assert _coboundary_nonzero(cocycle, D, dim, coeff, death) == []
            if np.isfinite(death):
                assert _coboundary_nonzero(cocycle, D, dim, coeff, np.nextafter(np.float32(death), np.inf))


def test_cocycles_of_a_subsample_are_those_of_the_subsample_relabelled():
    """ripser.py's own check: n_perm keeps the input's vertex numbers in the cocycles."""
    t = 2 * np.pi * np.random.default_rng(1000).random(1000)
    X = np.column_stack([np.cos(t), np.sin(t)])
    whole = tda_core.rips_persistence(X, n_perm=50, cocycles=True, generators=True)
    indices, _ = tda_core.greedy_permutation(X, 50)
    sub = tda_core.rips_persistence(X[indices], cocycles=True, generators=True)
    assert len(whole.cocycles[1]) == len(sub.cocycles[1]) > 0
    for c1, c2 in zip(whole.cocycles[1], sub.cocycles[1], strict=True):
        np.testing.assert_array_equal(c1[:, :-1], indices[c2[:, :-1]])
        np.testing.assert_array_equal(c1[:, -1], c2[:, -1])
    for g1, g2 in zip(whole.generators, sub.generators, strict=True):
        np.testing.assert_array_equal(g1, np.where(g2 >= 0, indices[np.maximum(g2, 0)], -1))


def test_the_circles_cocycle_winds_once_as_ripsers_does():
    """The one long H1 class of a circle: its cocycle sums to +-1 around the circle (any
    representative does), as ripser.py's does."""
    n = 40
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    X = np.column_stack([np.cos(t), np.sin(t)]) * (1 + 0.01 * np.random.default_rng(4).random((n, 1)))
    ours = tda_core.rips_persistence(X, coeff=3, cocycles=True)
    ref = ripser.ripser(X, coeff=3, do_cocycles=True)

    def winding(diagram: np.ndarray, cocycles: list[np.ndarray]) -> int:
        longest = int(np.argmax(diagram[:, 1] - diagram[:, 0]))
        values = {tuple(sorted(row[:2])): row[2] for row in cocycles[longest]}
        total = sum(values.get(tuple(sorted((i, (i + 1) % n))), 0) * (1 if i < (i + 1) % n else -1)
                    for i in range(n))
        return total % 3

    assert winding(ours.diagrams[1], ours.cocycles[1]) in (1, 2)
    assert winding(ref["dgms"][1], ref["cocycles"][1]) in (1, 2)


@pytest.mark.parametrize("flag", ["generators", "cocycles", "collapse_edges"])
def test_flags_must_be_bools(flag):
    with pytest.raises(ValueError, match=flag):
        tda_core.rips_persistence(_cloud(0, 5), **{flag: "yes"})


# ---------------------------------------------------------------- edge collapse


@st.composite
def distance_matrices(draw, sparse_format: bool = False):
    """Symmetric float32 distance matrices, some distances infinite (giotto-ph's own strategy)."""
    n = draw(st.integers(2, 30 if not sparse_format else 40))
    values = draw(st.lists(st.one_of(st.floats(0.5, 1024.0, width=32), st.just(np.inf)), min_size=n * n,
                           max_size=n * n))
    dm = np.triu(np.array(values, dtype=np.float32).reshape(n, n), k=1)
    dm = (dm + dm.T).astype(np.float64)
    if not sparse_format:
        return dm
    rows, cols = np.nonzero(np.isfinite(np.triu(dm, k=1)) & (np.triu(dm, k=1) > 0))
    return sparse.coo_matrix((dm[rows, cols], (rows, cols)), shape=(n, n))


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.sort(x, axis=0), np.sort(y, axis=0))


@SETTINGS
@given(dm=distance_matrices(), halve=st.booleans(), coeff=st.sampled_from([2, 7]))
def test_collapse_keeps_the_diagrams_of_dense_matrices(dm, halve, coeff):
    finite = dm[np.isfinite(dm)]
    threshold = float(finite.max()) / 2 if halve and finite.size else None
    kwargs = {"max_dim": 3, "threshold": threshold, "coeff": coeff, "distance_matrix": True}
    _same(tda_core.rips_persistence(dm, collapse_edges=True, **kwargs), tda_core.rips_persistence(dm, **kwargs))


@SETTINGS
@given(dm=distance_matrices(sparse_format=True), coeff=st.sampled_from([2, 7]))
def test_collapse_keeps_the_diagrams_of_sparse_matrices(dm, coeff):
    kwargs = {"max_dim": 3, "coeff": coeff, "distance_matrix": True}
    _same(tda_core.rips_persistence(dm, collapse_edges=True, **kwargs), tda_core.rips_persistence(dm, **kwargs))


@pytest.mark.parametrize("threshold", [None, 0.4])
def test_collapse_agrees_with_giotto_ph_and_keeps_generators_right(threshold):
    X = _cloud(6, 150)
    ours = tda_core.rips_persistence(X, max_dim=3, threshold=threshold, collapse_edges=True, generators=True,
                                     n_threads=2)
    ref = gph.ripser_parallel(X, maxdim=3, thresh=np.inf if threshold is None else threshold,
                              collapse_edges=True)["dgms"]
    for a, b in zip(ours.diagrams, ref, strict=True):
        np.testing.assert_allclose(np.sort(a, axis=0), np.sort(b, axis=0), rtol=1e-6)
    assert_generators_give_the_values(squareform(pdist(X)), ours)


def test_collapse_with_vertex_births():
    rng = np.random.default_rng(8)
    D = squareform(pdist(rng.random((25, 2)))) + 0.1
    np.fill_diagonal(D, rng.uniform(0, 0.1, 25))
    kwargs = {"max_dim": 2, "distance_matrix": True}
    _same(tda_core.rips_persistence(D, collapse_edges=True, **kwargs), tda_core.rips_persistence(D, **kwargs))


def test_cocycles_of_a_collapsed_complex_are_refused():
    with pytest.raises(ValueError, match="collapse_edges"):
        tda_core.rips_persistence(_cloud(0, 10), cocycles=True, collapse_edges=True)


def test_negative_filtration_values_with_and_without_collapse():
    """Weighted filtrations: negative vertex births (the diagonal) and negative edges, as in
    giotto-ph's collapser test (made symmetric: an asymmetric matrix is refused), against
    ripser.py, giotto-ph, the sparse form and the collapsed complex."""
    rng = np.random.default_rng(9)
    for _ in range(20):
        n = int(rng.integers(3, 25))
        dm = rng.random((n, n))
        dm = (dm + dm.T) / 2
        np.fill_diagonal(dm, -rng.random(n))
        dm -= 0.2
        ours = tda_core.rips_persistence(dm, max_dim=2, distance_matrix=True)
        _same(tda_core.rips_persistence(dm, max_dim=2, distance_matrix=True, collapse_edges=True), ours)
        _same(tda_core.rips_persistence(sparse.coo_matrix(dm), max_dim=2, distance_matrix=True, collapse_edges=True),
              ours)
        for ref in (ripser.ripser(dm, maxdim=2, distance_matrix=True)["dgms"],
                    gph.ripser_parallel(dm, maxdim=2, metric="precomputed", collapse_edges=True)["dgms"]):
            for a, b in zip(ours, ref, strict=True):
                np.testing.assert_allclose(np.sort(a, axis=0), np.sort(b, axis=0), rtol=1e-6)
