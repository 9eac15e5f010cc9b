from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "betti_curve",
    "persistence_image",
    "persistence_landscape",
    "persistent_entropy",
    "total_persistence",
]

Weight = str | Callable[[np.ndarray, np.ndarray], np.ndarray]

def betti_curve(
    diagram: ArrayLike, n_bins: int = 100, sample_range: tuple[float, float] | None = None
) -> np.ndarray: ...
def persistence_landscape(
    diagram: ArrayLike,
    n_layers: int = 5,
    n_bins: int = 100,
    sample_range: tuple[float, float] | None = None,
) -> np.ndarray: ...
def persistence_image(
    diagram: ArrayLike,
    resolution: tuple[int, int] | int = (20, 20),
    bandwidth: float | None = None,
    weight: Weight = "persistence",
    birth_range: tuple[float, float] | None = None,
    persistence_range: tuple[float, float] | None = None,
) -> np.ndarray: ...
def persistent_entropy(diagram: ArrayLike, normalize: bool = False) -> float: ...
def total_persistence(diagram: ArrayLike, p: float = 1.0) -> float: ...
