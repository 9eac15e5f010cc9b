"""Vectorizations against persim and the reference formulas (giotto-tda conventions)."""

from __future__ import annotations

import numpy as np
import pytest
import tda_core
from hypothesis import given, settings
from hypothesis import strategies as st
from persim import PersistenceImager
from persim.landscapes import PersLandscapeApprox
from persim.persistent_entropy import persistent_entropy as persim_entropy

pytestmark = pytest.mark.native


def random_diagram(seed: int, n: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    birth = rng.random(n)
    return np.c_[birth, birth + rng.exponential(0.3, n)]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("sigma", [0.02, 0.1])
def test_persistence_image_matches_persim(seed, sigma):
    dgm = random_diagram(seed)
    imager = PersistenceImager(pixel_size=0.05, kernel_params={"sigma": np.eye(2) * sigma**2})
    imager.fit(dgm)
    ref = imager.transform(dgm)
    ours = tda_core.persistence_image(
        dgm,
        resolution=tuple(imager.resolution),
        bandwidth=sigma,
        birth_range=imager.birth_range,
        persistence_range=imager.pers_range,
    )
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12)


def test_persistence_image_weights_and_defaults():
    dgm = np.array([[0.0, 1.0], [0.5, 2.5], [0.2, np.inf]])
    img = tda_core.persistence_image(dgm, resolution=8)
    assert img.shape == (8, 8) and (img >= 0).all()
    uniform = tda_core.persistence_image(dgm, resolution=(4, 6), weight="uniform", bandwidth=0.3,
                                         birth_range=(-5, 5), persistence_range=(-5, 10))
    assert uniform.sum() == pytest.approx(2.0, rel=1e-6)  # two finite unit masses, fully inside
    linear = tda_core.persistence_image(dgm, resolution=(4, 6), weight="linear", bandwidth=0.3,
                                        birth_range=(-5, 5), persistence_range=(-5, 4))
    assert linear.sum() == pytest.approx(1 / 4 + 2 / 4, rel=1e-6)
    custom = tda_core.persistence_image(dgm, resolution=(4, 6), weight=lambda b, p: 3 * np.ones_like(b),
                                        bandwidth=0.3, birth_range=(-5, 5), persistence_range=(-5, 10))
    np.testing.assert_allclose(custom, 3 * uniform)
    assert tda_core.persistence_image(np.empty((0, 2)), resolution=(3, 2)).shape == (3, 2)


@pytest.mark.parametrize("seed", range(5))
def test_landscape_matches_persim_on_grid_points(seed):
    rng = np.random.default_rng(seed)
    birth = rng.integers(0, 40, 25)
    dgm = np.c_[birth, birth + rng.integers(1, 30, 25)].astype(np.float64) / 4  # on the grid
    ref = PersLandscapeApprox(start=0.0, stop=20.0, num_steps=81, dgms=[dgm], hom_deg=0).values
    ours = tda_core.persistence_landscape(dgm, n_layers=ref.shape[0] + 2, n_bins=81, sample_range=(0, 20))
    np.testing.assert_allclose(ours[: ref.shape[0]], ref, atol=1e-12)
    assert not ours[ref.shape[0]:].any()


@pytest.mark.parametrize("seed", range(5))
def test_landscape_matches_gudhi_off_the_grid(seed):
    """The README's claim: GUDHI's landscapes divided by its sqrt(2) factor, at arbitrary
    (off-grid) births and deaths; persim's grid-snapped approximation differs there."""
    from gudhi.representations import Landscape

    rng = np.random.default_rng(seed)
    birth = rng.random(30)
    dgm = np.c_[birth, birth + rng.random(30)]
    ref = Landscape(num_landscapes=6, resolution=57, sample_range=[0.0, 2.0]).fit_transform([dgm])
    ours = tda_core.persistence_landscape(dgm, n_layers=6, n_bins=57, sample_range=(0, 2))
    np.testing.assert_allclose(ours, ref.reshape(6, 57) / np.sqrt(2), atol=1e-12)
    snapped = PersLandscapeApprox(start=0.0, stop=2.0, num_steps=57, dgms=[dgm], hom_deg=0).values
    k = min(len(snapped), len(ours))
    assert np.abs(ours[:k] - snapped[:k]).max() > 1e-3


def test_landscape_definition():
    dgm = np.array([[0.0, 4.0], [1.0, 3.0], [2.0, np.inf]])
    land = tda_core.persistence_landscape(dgm, n_layers=3, n_bins=5, sample_range=(0, 4))
    np.testing.assert_allclose(land, [[0, 1, 2, 1, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0]])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 10), st.floats(0, 10)), max_size=30), st.integers(1, 40))
def test_betti_curve_counts_alive_pairs(pairs, n_bins):
    dgm = np.array([(b, b + d) for b, d in pairs], dtype=np.float64).reshape(-1, 2)
    curve = tda_core.betti_curve(dgm, n_bins=n_bins, sample_range=(0, 20))
    t = np.linspace(0, 20, n_bins)
    expected = ((dgm[:, :1] <= t) & (t < dgm[:, 1:])).sum(axis=0)  # giotto-tda's convention
    np.testing.assert_array_equal(curve, expected)


def test_betti_curve_with_essential_class_and_default_range():
    dgm = np.array([[0.0, 1.0], [0.5, np.inf]])
    np.testing.assert_array_equal(tda_core.betti_curve(dgm, n_bins=3), [1, 2, 1])
    assert tda_core.betti_curve(np.empty((0, 2)), n_bins=4).tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize("seed", range(4))
def test_entropy_matches_persim(seed):
    dgm = random_diagram(seed)
    with_inf = np.r_[dgm, [[0.0, np.inf]]]
    assert tda_core.persistent_entropy(with_inf) == pytest.approx(persim_entropy(dgm)[0], rel=1e-12)
    assert tda_core.persistent_entropy(dgm, normalize=True) == pytest.approx(
        persim_entropy(dgm, normalize=True)[0], rel=1e-12
    )


def test_entropy_and_total_persistence_values():
    dgm = np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 3.0], [0.0, np.inf]])
    p = np.array([1, 1, 2]) / 4
    assert tda_core.persistent_entropy(dgm) == pytest.approx(-(p * np.log(p)).sum())
    assert tda_core.persistent_entropy(np.empty((0, 2))) == 0.0
    assert tda_core.total_persistence(dgm) == pytest.approx(4.0)
    assert tda_core.total_persistence(dgm, p=2) == pytest.approx(6.0)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: tda_core.betti_curve(np.zeros((2, 3))), "diagram"),
        (lambda: tda_core.betti_curve(np.zeros((2, 2)), n_bins=0), "n_bins"),
        (lambda: tda_core.betti_curve(np.zeros((2, 2)), sample_range=(1, 0)), "sample_range"),
        (lambda: tda_core.persistence_landscape([[0, np.nan]]), "diagram.*NaN"),
        (lambda: tda_core.persistence_landscape(np.zeros((2, 2)), n_layers=0), "n_layers"),
        (lambda: tda_core.persistence_image(np.ones((1, 2)), bandwidth=0), "bandwidth"),
        (lambda: tda_core.persistence_image(np.ones((1, 2)), weight="heavy"), "weight"),
        (lambda: tda_core.persistence_image(np.ones((1, 2)), resolution=(0, 3)), "resolution"),
        (lambda: tda_core.persistence_image(np.ones((1, 2)), birth_range=(1, 1)), "birth_range"),
        (lambda: tda_core.total_persistence(np.ones((1, 2)), p=0), "p"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("call", [
    lambda d: tda_core.betti_curve(d, n_bins=2**31),
    lambda d: tda_core.persistence_landscape(d, n_layers=10_000, n_bins=100_000),
    lambda d: tda_core.persistence_image(d, resolution=(20_000, 20_000)),
])
def test_outputs_too_large_to_be_meant_are_refused_before_allocation(call):
    with pytest.raises(ValueError, match="at most 100,000,000 values"):
        call(np.array([[0.0, 1.0]]))
