"""Cubical persistence against cripser (V-construction) and GUDHI (T-construction; periodic
axes: GUDHI's PeriodicCubicalComplex for both)."""

from __future__ import annotations

import itertools

import cripser
import gudhi
import numpy as np
import pytest
import tda_core
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from support import run_and_interrupt

pytestmark = pytest.mark.native


def canonical(dgm: np.ndarray) -> np.ndarray:
    dgm = np.asarray(dgm, dtype=np.float64).reshape(-1, 2)
    return dgm[np.lexsort((dgm[:, 1], dgm[:, 0]))]


def cripser_v(arr: np.ndarray, max_dim: int) -> list[np.ndarray]:
    res = cripser.computePH(np.ascontiguousarray(arr, dtype=np.float64), maxdim=max_dim)
    out = []
    for k in range(max_dim + 1):
        pairs = res[res[:, 0] == k][:, 1:3].copy()
        pairs[pairs[:, 1] >= np.finfo(np.float64).max, 1] = np.inf  # cripser writes DBL_MAX
        out.append(pairs)
    return out


def gudhi_t(arr: np.ndarray, max_dim: int) -> list[np.ndarray]:
    cc = gudhi.CubicalComplex(top_dimensional_cells=arr)
    cc.compute_persistence()
    return [np.asarray(cc.persistence_intervals_in_dimension(k)).reshape(-1, 2) for k in range(max_dim + 1)]


def assert_same(ours: list[np.ndarray], ref: list[np.ndarray]) -> None:
    assert len(ours) == len(ref)
    for k, (a, b) in enumerate(zip(ours, ref, strict=True)):
        assert a.dtype == np.float64 and a.ndim == 2 and a.shape[1] == 2
        np.testing.assert_array_equal(canonical(a), canonical(b), err_msg=f"dimension {k}")


def smooth_noise(shape: tuple[int, ...], seed: int) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(np.random.default_rng(seed).random(shape), 1.5)


CASES = [
    ((24, 31), "random"),
    ((40, 40), "smooth"),
    ((20, 17), "plateaus"),
    ((9, 10, 11), "random"),
    ((12, 12, 12), "smooth"),
    ((8, 9, 7), "plateaus"),
    ((5, 6, 4, 5), "random"),
    ((5, 5, 5, 5), "plateaus"),
]


def make(shape: tuple[int, ...], kind: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "random":
        return rng.random(shape)
    if kind == "smooth":
        return smooth_noise(shape, seed)
    return rng.integers(0, 4, size=shape).astype(np.float64)  # many ties


@pytest.mark.parametrize(("shape", "kind"), CASES)
def test_vertex_construction_matches_cripser(shape, kind):
    arr = make(shape, kind)
    assert_same(tda_core.cubical_persistence(arr, construction="V"), cripser_v(arr, arr.ndim - 1))


@pytest.mark.parametrize(("shape", "kind"), CASES)
def test_top_construction_matches_gudhi(shape, kind):
    arr = make(shape, kind, seed=1)
    assert_same(tda_core.cubical_persistence(arr, construction="T"), gudhi_t(arr, arr.ndim - 1))


@pytest.mark.parametrize("shape", [(30, 20), (7, 8, 9)])
def test_top_construction_matches_cripser_t(shape):
    arr = make(shape, "random", seed=2)
    res = cripser.computePH_T(arr, maxdim=arr.ndim - 1)
    ref = []
    for k in range(arr.ndim):
        pairs = res[res[:, 0] == k][:, 1:3].copy()
        pairs[pairs[:, 1] >= np.finfo(np.float64).max, 1] = np.inf
        ref.append(pairs)
    assert_same(tda_core.cubical_persistence(arr, construction="T"), ref)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    arr=st.integers(2, 4).flatmap(
        lambda nd: arrays(
            np.float64,
            st.tuples(*[st.integers(2, 7 if nd < 4 else 4)] * nd),
            elements=st.one_of(
                st.floats(-10, 10, allow_nan=False, width=32),
                st.sampled_from([0.0, 1.0, 2.0]),
            ),
        )
    ),
    construction=st.sampled_from(["V", "T"]),
)
def test_random_arrays(arr, construction):
    ref = cripser_v(arr, arr.ndim - 1) if construction == "V" else gudhi_t(arr, arr.ndim - 1)
    assert_same(tda_core.cubical_persistence(arr, construction=construction), ref)


@settings(max_examples=60, deadline=None)
@given(arr=arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6)),
                  elements=st.floats(-5, 5, allow_nan=False, width=32)))
def test_top_construction_with_thin_axes(arr):
    assert_same(tda_core.cubical_persistence(arr, construction="T"), gudhi_t(arr, 2))


def test_vertex_construction_with_a_thin_axis_is_the_lower_dimensional_complex():
    img = make((13, 11), "random")
    thin = tda_core.cubical_persistence(img[None, :, :], construction="V")
    flat = tda_core.cubical_persistence(img, construction="V")
    assert_same(thin[:2], flat)
    assert thin[2].shape == (0, 2)


def test_ring_has_one_loop():
    ring = np.zeros((5, 5))
    ring[2, 2] = 3.0
    for construction in ("V", "T"):
        h0, h1 = tda_core.cubical_persistence(ring, construction=construction)
        np.testing.assert_array_equal(h0, [[0.0, np.inf]])
        np.testing.assert_array_equal(h1, [[0.0, 3.0]])


def test_void_in_a_volume():
    vol = np.zeros((5, 5, 5))
    vol[2, 2, 2] = 7.0
    dgms = tda_core.cubical_persistence(vol)
    np.testing.assert_array_equal(dgms[2], [[0.0, 7.0]])
    assert dgms[1].shape == (0, 2)


def test_max_dim_shapes_the_result():
    arr = make((6, 7, 8), "random")
    full = tda_core.cubical_persistence(arr)
    assert len(full) == 3
    assert len(tda_core.cubical_persistence(arr, max_dim=0)) == 1
    assert_same(tda_core.cubical_persistence(arr, max_dim=1), full[:2])
    five = tda_core.cubical_persistence(arr, max_dim=4)
    assert len(five) == 5 and five[3].shape == (0, 2) and five[4].shape == (0, 2)
    assert_same(five[:3], full)


def test_integer_and_noncontiguous_input():
    arr = np.random.default_rng(3).integers(0, 50, size=(20, 30))
    ref = tda_core.cubical_persistence(arr.astype(np.float64))
    assert_same(tda_core.cubical_persistence(arr), ref)
    assert_same(tda_core.cubical_persistence(np.asfortranarray(arr)), ref)
    assert_same(tda_core.cubical_persistence(arr.T.copy().T), ref)


def test_infinite_values_are_allowed():
    arr = np.array([[0.0, 1.0, 0.5], [np.inf, 2.0, 0.25]])
    dgms = tda_core.cubical_persistence(arr)
    assert dgms[0][np.isinf(dgms[0][:, 1])].shape == (1, 2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"array": np.array([[0.0, np.nan], [1.0, 2.0]])}, "array.*NaN"),
        ({"array": np.float64(3.0)}, "array.*0-D"),
        ({"array": np.zeros((0, 4))}, "array.*empty"),
        ({"array": np.zeros((2, 2, 2, 2, 2))}, "array.*5-D"),
        ({"array": [["a", "b"], ["c", "d"]]}, "array"),
        ({"array": np.zeros((3, 3)), "construction": "X"}, "construction"),
        ({"array": np.zeros((3, 3)), "construction": None}, "construction"),
        ({"array": np.zeros((3, 3)), "max_dim": -1}, "max_dim"),
        ({"array": np.zeros((3, 3)), "max_dim": 1.5}, "max_dim"),
        ({"array": np.zeros((3, 3)), "n_threads": 0}, "n_threads"),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tda_core.cubical_persistence(**kwargs)


def test_cell_limit_is_stated(monkeypatch):
    # The real limit (2**64 - 2 cells) is beyond any array numpy can hold; the check is the same.
    from tda_core import cubical

    monkeypatch.setattr(cubical, "_MAX_CELLS", 1000)
    with pytest.raises(ValueError, match=r"array: shape \(20, 30\) gives 2301 cubical cells, more than .* 999"):
        tda_core.cubical_persistence(np.zeros((20, 30)))


@pytest.mark.parametrize("shape", [(60, 70), (14, 15, 16), (5, 6, 5, 6)])
@pytest.mark.parametrize("construction", ["V", "T"])
def test_two_threads_give_the_same_diagrams(shape, construction):
    arr = make(shape, "plateaus", seed=4)
    one = tda_core.cubical_persistence(arr, construction=construction)
    assert_same(tda_core.cubical_persistence(arr, construction=construction, n_threads=2), one)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_ctrl_c_interrupts_a_long_computation(n_threads):
    setup = """
        import numpy as np, tda_core
        X = np.random.default_rng(0).random((38, 38, 38, 38))  # over a minute uninterrupted
    """
    call = f"tda_core.cubical_persistence(X, n_threads={n_threads})"
    assert run_and_interrupt(setup, call) == "interrupted"


@pytest.mark.parametrize("construction", ["V", "T"])
@pytest.mark.parametrize("kind", ["random", "plateaus"])
def test_one_dimensional_arrays(construction, kind):
    x = make((200,), kind, seed=3)
    ours = tda_core.cubical_persistence(x, construction=construction)
    assert len(ours) == 1  # max_dim defaults to ndim - 1
    ref = cripser_v(x, 0)[:1] if construction == "V" else gudhi_t(x, 0)
    assert_same(ours, ref)
    assert_same(tda_core.cubical_persistence(x, max_dim=2, construction=construction)[1:], [np.empty((0, 2))] * 2)


@pytest.mark.parametrize("shape", [(9,), (6, 7), (4, 7, 5), (3, 4, 3, 4)])
def test_perseus_files_read_as_gudhi_reads_them(tmp_path, shape):
    arr = make(shape, "plateaus", seed=5) - 1.0  # negative values too (-1 is an ordinary value)
    path = tmp_path / "cells.txt"
    tda_core.io.write_perseus(path, arr)
    back = tda_core.io.read_perseus(path)
    np.testing.assert_array_equal(back, arr)
    cc = gudhi.CubicalComplex(perseus_file=str(path))
    cc.compute_persistence()
    ref = [np.asarray(cc.persistence_intervals_in_dimension(k)).reshape(-1, 2) for k in range(len(shape))]
    assert_same(tda_core.cubical_persistence(back, construction="T"), ref)


def test_perseus_file_written_by_hand(tmp_path):
    # first coordinate fastest: a[i, j] is value number i + 3 j
    path = tmp_path / "hand.txt"
    path.write_text("2\n3\n2\n1\n2\n3\n4\n5\n6\n")
    np.testing.assert_array_equal(tda_core.io.read_perseus(path), [[1, 4], [2, 5], [3, 6]])


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "dimension"),
        ("5\n1\n1\n1\n1\n1\n1\n", "dimension 5"),
        ("2\n-3\n2\n" + "1\n" * 6, "periodic"),
        ("2\n3\n2\n1\n2\n", "6 values, but holds 2"),
        ("1\n2\n1\nx\n", "not a number"),
        ("1\n2\n1\nnan\n", "NaN"),
    ],
)
def test_bad_perseus_files(tmp_path, text, match):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        tda_core.io.read_perseus(path)
    with pytest.raises(ValueError, match="path"):
        tda_core.io.read_perseus(tmp_path / "missing.txt")


def cable(n: int = 40, tube: float = 4.5) -> np.ndarray:
    """A loop (value 0) winding twice around the core of a solid torus (value 1) in a box
    of value 2: its class is twice the torus's generator, zero over Z/2 only."""
    c, radius, offset = (n - 1) / 2, 12.0, 2.2
    z, y, x = np.mgrid[0:n, 0:n, 0:n].astype(float)
    arr = np.full((n, n, n), 2.0)
    arr[np.hypot(np.hypot(x - c, y - c) - radius, z - c) <= tube] = 1.0
    for t in np.linspace(0, 4 * np.pi, 4000, endpoint=False):  # two laps; the offset turns by pi per lap
        rho = radius + offset * np.cos(t / 2)
        arr[round(c + offset * np.sin(t / 2)), round(c + rho * np.sin(t)), round(c + rho * np.cos(t))] = 0.0
    return arr


def gudhi_field(arr: np.ndarray, p: int, construction: str = "T") -> list[np.ndarray]:
    cc = gudhi.CubicalComplex(**{"top_dimensional_cells" if construction == "T" else "vertices": arr})
    cc.compute_persistence(homology_coeff_field=p)
    return [np.asarray(cc.persistence_intervals_in_dimension(k)).reshape(-1, 2) for k in range(arr.ndim)]


def test_coefficients_matter_on_a_loop_winding_twice_around_a_tunnel():
    arr = cable()
    for construction in ("T", "V"):
        z2 = tda_core.cubical_persistence(arr, construction=construction)
        z3 = tda_core.cubical_persistence(arr, construction=construction, coeff=3)
        assert_same(z2, gudhi_field(arr, 2, construction))
        assert_same(z3, gudhi_field(arr, 3, construction))
    # As top cells the loop is closed (voxels meeting at an edge or a corner are adjacent);
    # as vertices (6-connectivity) it is not, and only the torus's own loop remains.
    z2, z3 = (tda_core.cubical_persistence(arr, construction="T", coeff=p)[1] for p in (2, 3))
    assert_same([z2], [np.array([[0.0, 1.0], [1.0, 2.0]])])  # 2 * generator = 0: dies at 1
    assert_same([z3], [np.array([[0.0, 2.0]])])  # over Z/3 it lives until the box fills


@pytest.mark.parametrize("p", [3, 5, 11])
@pytest.mark.parametrize(("shape", "kind"), [((9, 10, 11), "random"), ((8, 9, 7), "plateaus"),
                                             ((5, 6, 4, 5), "random"), ((5, 5, 5, 5), "plateaus")])
def test_prime_coefficients_match_gudhi(p, shape, kind):
    arr = make(shape, kind, seed=p)
    for construction in ("T", "V"):
        ours = tda_core.cubical_persistence(arr, construction=construction, coeff=p)
        assert_same(ours, gudhi_field(arr, p, construction))


@pytest.mark.parametrize("coeff", [1, 4, 2.0, True, 2**31 + 11])
def test_bad_coefficients(coeff):
    with pytest.raises(ValueError, match="coeff"):
        tda_core.cubical_persistence(np.zeros((3, 3)), coeff=coeff)


# ---------------------------------------------------------------- periodic boundaries


def gudhi_periodic(arr: np.ndarray, periodic, construction: str, p: int = 2) -> list[np.ndarray]:
    cells = "top_dimensional_cells" if construction == "T" else "vertices"
    cc = gudhi.PeriodicCubicalComplex(**{cells: arr}, periodic_dimensions=list(periodic))
    cc.compute_persistence(homology_coeff_field=p)
    return [np.asarray(cc.persistence_intervals_in_dimension(k)).reshape(-1, 2) for k in range(arr.ndim + 1)]


def every_periodicity(ndim: int) -> list[tuple[bool, ...]]:
    return list(itertools.product([False, True], repeat=ndim))


PERIODIC_SHAPES = [(40,), (1,), (2,), (13, 17), (1, 6), (2, 5), (2, 2), (6, 7, 5), (1, 4, 2), (2, 3, 2)]


@pytest.mark.parametrize("shape", PERIODIC_SHAPES, ids=str)
@pytest.mark.parametrize("construction", ["V", "T"])
@pytest.mark.parametrize("kind", ["random", "plateaus"])
def test_periodic_axes_match_gudhi(shape, construction, kind):
    # Every combination of periodic axes, Z/2 and Z/3; axes of length 1 and 2 are special
    # cases (a cell glued to itself, two edges between the same two vertices).
    for seed, periodic in enumerate(every_periodicity(len(shape))):
        arr = make(shape, kind, seed=seed)
        for p in (2, 3):
            ours = tda_core.cubical_persistence(arr, len(shape), construction, coeff=p, periodic=periodic)
            assert_same(ours, gudhi_periodic(arr, periodic, construction, p))


@pytest.mark.parametrize(("shape", "kind"), [((64, 50), "random"), ((64, 50), "smooth"), ((14, 12, 10), "random"),
                                           ((14, 12, 10), "smooth")], ids=str)
@pytest.mark.parametrize("construction", ["V", "T"])
def test_larger_periodic_images_match_gudhi(shape, kind, construction):
    for seed, periodic in enumerate(every_periodicity(len(shape))):
        arr = make(shape, kind, seed=10 + seed)
        p = 3 if seed % 2 else 2
        ours = tda_core.cubical_persistence(arr, len(shape), construction, coeff=p, periodic=periodic)
        assert_same(ours, gudhi_periodic(arr, periodic, construction, p))


@pytest.mark.parametrize("construction", ["V", "T"])
def test_periodic_four_dimensional_arrays_match_gudhi(construction):
    for seed, periodic in enumerate([(True,) * 4, (True, False, True, False), (False, False, False, True)]):
        arr = make((3, 4, 3, 3), "plateaus", seed=seed)
        for p in (2, 5):
            ours = tda_core.cubical_persistence(arr, 4, construction, coeff=p, periodic=periodic)
            assert_same(ours, gudhi_periodic(arr, periodic, construction, p))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.integers(1, 3).flatmap(
        lambda nd: st.tuples(
            arrays(
                np.float64,
                st.tuples(*[st.integers(1, 7)] * nd),
                elements=st.one_of(st.floats(-10, 10, allow_nan=False, width=32), st.sampled_from([0.0, 1.0, 2.0])),
            ),
            st.tuples(*[st.booleans()] * nd),
        )
    ),
    construction=st.sampled_from(["V", "T"]),
    p=st.sampled_from([2, 3, 7]),
)
def test_random_periodic_arrays(data, construction, p):
    arr, periodic = data
    ours = tda_core.cubical_persistence(arr, arr.ndim, construction, coeff=p, periodic=periodic)
    assert_same(ours, gudhi_periodic(arr, periodic, construction, p))


@pytest.mark.parametrize("construction", ["V", "T"])
def test_constant_image_on_a_torus(construction):
    # One component, two independent loops, one 2-cycle (the torus itself), all essential.
    h0, h1, h2 = tda_core.cubical_persistence(np.full((5, 6), 2.5), construction=construction, periodic=True)
    np.testing.assert_array_equal(h0, [[2.5, np.inf]])
    np.testing.assert_array_equal(h1, [[2.5, np.inf], [2.5, np.inf]])
    np.testing.assert_array_equal(h2, [[2.5, np.inf]])
    # A cylinder: periodic along one axis only, no 2-cycle.
    assert [len(d) for d in tda_core.cubical_persistence(np.zeros((5, 6)), periodic=[True, False])] == [1, 1]


def test_default_max_dim_includes_the_top_class_only_on_a_torus():
    arr = make((6, 5, 4), "random")
    assert len(tda_core.cubical_persistence(arr, periodic=True)) == 4
    assert len(tda_core.cubical_persistence(arr, periodic=(True, True, False))) == 3
    assert len(tda_core.cubical_persistence(arr[0, 0], periodic=True)) == 2  # a circle: H0 and H1


@pytest.mark.parametrize("shape", [(30, 31), (7, 8, 6), (4, 3, 4, 3)], ids=str)
@pytest.mark.parametrize("construction", ["V", "T"])
def test_no_periodic_axis_gives_the_same_diagrams_as_before(shape, construction):
    arr = make(shape, "plateaus", seed=6)
    plain = tda_core.cubical_persistence(arr, construction=construction)
    for periodic in (False, np.False_, [False] * len(shape), np.zeros(len(shape), dtype=bool)):
        assert_same(tda_core.cubical_persistence(arr, construction=construction, periodic=periodic), plain)


@pytest.mark.parametrize("shape", [(60, 70), (14, 15, 16), (5, 6, 5, 6)], ids=str)
def test_periodic_axes_with_two_threads(shape):
    arr = make(shape, "plateaus", seed=7)
    periodic = [True] * (len(shape) - 1) + [False]
    for construction in ("V", "T"):
        one = tda_core.cubical_persistence(arr, construction=construction, periodic=periodic)
        assert_same(tda_core.cubical_persistence(arr, construction=construction, periodic=periodic, n_threads=2), one)
        assert_same(one, gudhi_periodic(arr, periodic, construction)[: len(shape)])


@pytest.mark.parametrize(
    "periodic",
    [
        [True],  # too few for a 2-D array
        [True, False, True],
        [1, 0],  # ints are not bools
        ["yes", "no"],
        "TF",
        None,
        1,
        np.ones((2, 2), dtype=bool),
        {"axis": True},
    ],
    ids=repr,
)
def test_bad_periodic_flags(periodic):
    with pytest.raises(ValueError, match=r"^periodic: must be one bool for all axes or a sequence of 2 bools") as info:
        tda_core.cubical_persistence(np.zeros((3, 3)), periodic=periodic)
    if not isinstance(periodic, bool | int):
        assert repr(periodic) not in str(info.value)  # the value is never echoed


def test_cell_limit_counts_periodic_axes(monkeypatch):
    # A periodic axis of n entries has 2n cells (V: 2n - 1, T: 2n + 1 otherwise).
    from tda_core import cubical

    monkeypatch.setattr(cubical, "_MAX_CELLS", 1000)
    with pytest.raises(ValueError, match=r"shape \(20, 30\) gives 2360 cubical cells"):
        tda_core.cubical_persistence(np.zeros((20, 30)), periodic=[True, False])
    with pytest.raises(ValueError, match=r"shape \(20, 30\) gives 2400 cubical cells"):
        tda_core.cubical_persistence(np.zeros((20, 30)), construction="T", periodic=True)


# ---------------------------------------------------------------- locations


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), shape=st.lists(st.integers(1, 6), min_size=1, max_size=4),
       construction=st.sampled_from(["V", "T"]), levels=st.sampled_from([3, 1000]), data=st.data())
def test_locations_name_entries_holding_each_birth_and_death(seed, shape, construction, levels, data):
    """Every birth and death is the value of the entry named for it, ties (few levels) included,
    with and without periodic axes; the diagrams are those of the plain call."""
    values = np.random.default_rng(seed).integers(0, levels, size=shape).astype(np.float64)
    periodic = data.draw(st.lists(st.booleans(), min_size=len(shape), max_size=len(shape)))
    result = tda_core.cubical_persistence(values, construction=construction, periodic=periodic, locations=True)
    plain = tda_core.cubical_persistence(values, construction=construction, periodic=periodic)
    assert isinstance(result, tda_core.CubicalPersistence)
    for diagram, same, where in zip(result.diagrams, plain, result.locations, strict=True):
        np.testing.assert_array_equal(diagram, same)
        assert where.dtype == np.int64 and where.shape == (len(diagram), 2)
        finite = np.isfinite(diagram[:, 1])
        np.testing.assert_array_equal(values.flat[where[:, 0]], diagram[:, 0])
        np.testing.assert_array_equal(values.flat[where[finite, 1]], diagram[finite, 1])
        assert (where[~finite, 1] == -1).all()


def test_locations_are_cripsers_and_gudhis_on_distinct_values():
    """Distinct values leave one entry per value: the same pixels as cripser's (n, 9) output (V)
    and GUDHI's cofaces of persistence pairs (T)."""
    image = np.random.default_rng(5).permutation(30 * 40).reshape(30, 40).astype(np.float64)
    ours = tda_core.cubical_persistence(image, locations=True)
    ref = cripser.computePH(image, maxdim=1)
    for dim in (0, 1):
        rows = ref[(ref[:, 0] == dim) & (ref[:, 2] > ref[:, 1])]
        finite = np.isfinite(ours.diagrams[dim][:, 1])
        r, c = np.unravel_index(ours.locations[dim][finite], image.shape)
        coords = np.column_stack([r[:, 0], c[:, 0], r[:, 1], c[:, 1]])
        reported = rows[rows[:, 2] < np.finfo(np.float64).max][:, [3, 4, 6, 7]].astype(np.int64)
        assert sorted(map(tuple, coords)) == sorted(map(tuple, reported))
    top = tda_core.cubical_persistence(image, construction="T", locations=True)
    complex_ = gudhi.CubicalComplex(top_dimensional_cells=image)
    complex_.compute_persistence(homology_coeff_field=2)
    regular, essential = complex_.cofaces_of_persistence_pairs()

    def c_order(fortran: np.ndarray) -> np.ndarray:  # GUDHI numbers cells in Fortran order
        return np.ravel_multi_index(np.unravel_index(fortran, image.shape, order="F"), image.shape)

    for dim in (0, 1):
        finite = np.isfinite(top.diagrams[dim][:, 1])
        assert sorted(map(tuple, top.locations[dim][finite])) == sorted(map(tuple, c_order(regular[dim])))
    assert sorted(top.locations[0][~np.isfinite(top.diagrams[0][:, 1]), 0]) == sorted(c_order(essential[0]))


def test_locations_must_be_a_bool():
    with pytest.raises(ValueError, match="locations"):
        tda_core.cubical_persistence(np.zeros((3, 3)), locations="yes")
