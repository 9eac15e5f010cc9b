from collections.abc import Sequence
from typing import Literal, NamedTuple, overload

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["cubical_persistence", "CubicalPersistence"]

class CubicalPersistence(NamedTuple):
    diagrams: list[np.ndarray]
    locations: list[np.ndarray]

@overload
def cubical_persistence(
    array: ArrayLike,
    max_dim: int | None = None,
    construction: str = "V",
    n_threads: int = 1,
    coeff: int = 2,
    periodic: bool | Sequence[bool] = False,
    locations: Literal[False] = False,
) -> list[np.ndarray]: ...
@overload
def cubical_persistence(
    array: ArrayLike,
    max_dim: int | None = None,
    construction: str = "V",
    n_threads: int = 1,
    coeff: int = 2,
    periodic: bool | Sequence[bool] = False,
    *,
    locations: Literal[True],
) -> CubicalPersistence: ...
@overload
def cubical_persistence(
    array: ArrayLike,
    max_dim: int | None = None,
    construction: str = "V",
    n_threads: int = 1,
    coeff: int = 2,
    periodic: bool | Sequence[bool] = False,
    locations: bool = False,
) -> list[np.ndarray] | CubicalPersistence: ...
