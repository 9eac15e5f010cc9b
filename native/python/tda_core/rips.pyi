from typing import Any, Literal, NamedTuple, overload

import numpy as np
import numpy.typing as npt

METRICS: tuple[str, ...]

class RipsPersistence(NamedTuple):
    diagrams: list[npt.NDArray[np.float64]]
    generators: list[npt.NDArray[np.int64]] | None
    cocycles: list[list[npt.NDArray[np.int64]]] | None

@overload
def rips_persistence(
    X: npt.ArrayLike | Any,
    max_dim: int = 1,
    threshold: float | None = None,
    coeff: int = 2,
    metric: Literal["euclidean", "manhattan", "chebyshev", "cosine", "precomputed"] | str = "euclidean",
    distance_matrix: bool = False,
    n_threads: int = 1,
    n_perm: int | None = None,
    generators: Literal[False] = False,
    cocycles: Literal[False] = False,
    collapse_edges: bool = False,
) -> list[npt.NDArray[np.float64]]: ...
@overload
def rips_persistence(
    X: npt.ArrayLike | Any,
    max_dim: int = 1,
    threshold: float | None = None,
    coeff: int = 2,
    metric: Literal["euclidean", "manhattan", "chebyshev", "cosine", "precomputed"] | str = "euclidean",
    distance_matrix: bool = False,
    n_threads: int = 1,
    n_perm: int | None = None,
    *,
    generators: Literal[True],
    cocycles: bool = False,
    collapse_edges: bool = False,
) -> RipsPersistence: ...
@overload
def rips_persistence(
    X: npt.ArrayLike | Any,
    max_dim: int = 1,
    threshold: float | None = None,
    coeff: int = 2,
    metric: Literal["euclidean", "manhattan", "chebyshev", "cosine", "precomputed"] | str = "euclidean",
    distance_matrix: bool = False,
    n_threads: int = 1,
    n_perm: int | None = None,
    generators: bool = False,
    *,
    cocycles: Literal[True],
    collapse_edges: bool = False,
) -> RipsPersistence: ...
@overload
def rips_persistence(
    X: npt.ArrayLike | Any,
    max_dim: int = 1,
    threshold: float | None = None,
    coeff: int = 2,
    metric: Literal["euclidean", "manhattan", "chebyshev", "cosine", "precomputed"] | str = "euclidean",
    distance_matrix: bool = False,
    n_threads: int = 1,
    n_perm: int | None = None,
    generators: bool = False,
    cocycles: bool = False,
    collapse_edges: bool = False,
) -> list[npt.NDArray[np.float64]] | RipsPersistence: ...
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
