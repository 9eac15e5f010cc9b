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
    n_perm: int | None = None,
) -> list[npt.NDArray[np.float64]]: ...
def greedy_permutation(
    X: npt.ArrayLike,
    n_perm: int,
    metric: Literal["euclidean", "manhattan", "chebyshev", "cosine", "precomputed"] | str = "euclidean",
    distance_matrix: bool = False,
) -> tuple[npt.NDArray[np.int64], float]: ...
def estimate_rips(
    n_points_or_X: int | npt.ArrayLike,
    max_dim: int,
    threshold: float | None = None,
    metric: str = "euclidean",
) -> dict[str, Any]: ...
