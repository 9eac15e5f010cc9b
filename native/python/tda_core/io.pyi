import os

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["read_perseus", "write_perseus"]

def read_perseus(path: str | os.PathLike[str]) -> np.ndarray: ...
def write_perseus(path: str | os.PathLike[str], array: ArrayLike) -> None: ...
