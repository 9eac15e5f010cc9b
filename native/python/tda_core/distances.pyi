from typing import Literal, overload

import numpy as np
import numpy.typing as npt
from numpy.typing import ArrayLike

__all__ = ["bottleneck", "wasserstein"]

@overload
def bottleneck(d1: ArrayLike, d2: ArrayLike, delta: float = 0.0, matching: Literal[False] = False) -> float: ...
@overload
def bottleneck(
    d1: ArrayLike, d2: ArrayLike, delta: float = 0.0, *, matching: Literal[True]
) -> tuple[float, npt.NDArray[np.int64]]: ...
@overload
def wasserstein(
    d1: ArrayLike,
    d2: ArrayLike,
    p: float = 1.0,
    delta: float = 0.01,
    matching: Literal[False] = False,
    internal_p: float = ...,
) -> float: ...
@overload
def wasserstein(
    d1: ArrayLike,
    d2: ArrayLike,
    p: float = 1.0,
    delta: float = 0.01,
    *,
    matching: Literal[True],
    internal_p: float = ...,
) -> tuple[float, npt.NDArray[np.int64]]: ...
