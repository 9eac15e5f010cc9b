"""Time-delay (Takens) embedding of a scalar time series."""

from __future__ import annotations

import numpy as np

from . import _validate

__all__ = ["delay_embedding"]


def delay_embedding(series: np.ndarray, dimension: int, delay: int = 1, stride: int = 1) -> np.ndarray:
    """Point cloud of delay vectors ``(x[i], x[i + delay], ..., x[i + (dimension - 1) delay])``.

    ``i`` runs over ``0, stride, 2 stride, ...`` while the last coordinate stays inside
    the series, so the result has ``1 + (len(series) - 1 - (dimension - 1) delay) // stride``
    rows (Takens: for a generic observable and ``dimension > 2 d`` the vectors of a
    d-dimensional attractor embed it). Returns a C-contiguous float64 array of shape
    ``(n, dimension)``; same points as giotto-tda's ``SingleTakensEmbedding``.
    """
    try:
        x = np.asarray(series, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"series: must be a 1-D numeric array ({exc})") from None
    if x.ndim != 1:
        raise ValueError(f"series: must be 1-D, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("series: contains NaN or infinite values")
    m = _validate.integer(dimension, "dimension", 1)
    tau = _validate.integer(delay, "delay", 1)
    step = _validate.integer(stride, "stride", 1)
    span = (m - 1) * tau
    if x.size <= span:
        raise ValueError(
            f"series: length {x.size} is too short for dimension={m} and delay={tau} "
            f"(needs more than {span} samples)"
        )
    windows = np.lib.stride_tricks.sliding_window_view(x, span + 1)[::step, ::tau]
    return np.ascontiguousarray(windows)
