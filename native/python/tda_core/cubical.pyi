from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["cubical_persistence"]

def cubical_persistence(
    array: ArrayLike,
    max_dim: int | None = None,
    construction: str = "V",
    n_threads: int = 1,
    coeff: int = 2,
    periodic: bool | Sequence[bool] = False,
) -> list[np.ndarray]: ...
