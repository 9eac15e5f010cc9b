import numpy as np
from numpy.typing import ArrayLike

__all__ = ["delay_embedding"]

def delay_embedding(series: ArrayLike, dimension: int, delay: int = 1, stride: int = 1) -> np.ndarray: ...
