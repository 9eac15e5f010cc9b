from typing import Any, Literal

import numpy as np
import numpy.typing as npt

METRICS: tuple[str, ...]

def rips_persistence(
    X: npt.ArrayLike | Any,
    max_dim: int = 1,
    threshold: float | None = None,
    coeff: int = 2,
    metric: Literal["euclidean", "manhattan", "chebyshev", "cosine", "precomputed"] | str = "euclidean",
    distance_matrix: bool = False,
    n_threads: int = 1,
) -> list[npt.NDArray[np.float64]]: ...
def estimate_rips(
    n_points_or_X: int | npt.ArrayLike,
    max_dim: int,
    threshold: float | None = None,
    metric: str = "euclidean",
) -> dict[str, Any]: ...
