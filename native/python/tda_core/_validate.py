"""Input checks shared by the diagram tools: clear ValueErrors naming the parameter."""

from __future__ import annotations

import math
import numbers

import numpy as np


def diagram(value: object, name: str, allow_inf: bool = True) -> np.ndarray:
    """A persistence diagram as a C-contiguous float64 (n, 2) array. Empty input must
    be ``[]`` or of shape (0, 2): an array like ``np.zeros((4, 0))`` is not a diagram."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: must be an (n, 2) array of (birth, death) pairs ({exc})") from None
    if arr.size == 0 and arr.shape in ((0,), (0, 2)):  # [] or an empty (0, 2) array
        return np.empty((0, 2), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{name}: must be an (n, 2) array of (birth, death) pairs, got shape {arr.shape}")
    if np.isnan(arr).any():
        raise ValueError(f"{name}: contains NaN")
    if not allow_inf and np.isinf(arr).any():
        raise ValueError(f"{name}: contains infinite values")
    return np.ascontiguousarray(arr)


def real(value: object, name: str, minimum: float | None = None, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ValueError(f"{name}: must be a finite number, got {value!r}")
    number = float(value)
    if minimum is not None and (number <= minimum if strict else number < minimum):
        raise ValueError(f"{name}: must be {'>' if strict else '>='} {minimum}, got {value!r}")
    return number


def flag(value: object, name: str) -> bool:
    """A bool (or numpy bool). The message does not repeat the value: callers may pass anything."""
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name}: must be a bool (True or False)")
    return bool(value)


def norm_exponent(value: object, name: str) -> float:
    """The q of an L_q norm: a real number in [1, inf]. The message does not repeat the value."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value) >= 1.0:
        raise ValueError(f"{name}: must be a number in [1, inf]")
    return float(value)


#: The most values one vectorization returns (800 MB of float64): more is a mistake, not a curve.
MAX_OUTPUT_VALUES = 100_000_000


def integer(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name}: must be an integer >= {minimum}, got {value!r}")
    return int(value)


def output_size(shape: tuple[int, ...], names: str) -> None:
    """Refuses outputs over MAX_OUTPUT_VALUES before allocating them."""
    if math.prod(shape) > MAX_OUTPUT_VALUES:
        raise ValueError(f"{names}: at most {MAX_OUTPUT_VALUES:,} values in all, got {math.prod(shape):,}")


def is_prime(p: int) -> bool:
    """Whether p is a prime (the coefficient fields Z/p need one)."""
    return p >= 2 and all(p % d for d in range(2, math.isqrt(p) + 1))
