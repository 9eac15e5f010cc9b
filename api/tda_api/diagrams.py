"""Persistence diagrams and barcodes as pictures (matplotlib's Agg canvas, no display).

One row per homology dimension: the diagram (birth against death, the diagonal, and essential
classes on a line marked ∞ above the finite points) beside the barcode (one bar per interval,
longest first, essential bars running to the right edge with an arrow).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

FORMATS = {"svg": "image/svg+xml", "png": "image/png"}
MAX_BARS = 200  # a barcode of thousands of bars is unreadable; the longest ones carry the topology
PNG_DPI = 100
# SVG element ids are salted at random unless fixed: fixed, the same diagram gives the same bytes.
matplotlib.rcParams["svg.hashsalt"] = "tda-api"


def finite_range(diagrams: Sequence[np.ndarray]) -> tuple[float, float]:
    values = np.concatenate([np.asarray(d, dtype=np.float64).ravel() for d in diagrams] + [np.zeros(0)])
    values = values[np.isfinite(values)]
    if not values.size:
        return 0.0, 1.0
    lo, hi = float(values.min()), float(values.max())
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def render(diagrams: Sequence[np.ndarray], fmt: str, title: str) -> bytes:
    """The picture of ``diagrams`` (dimension 0 first) as SVG or PNG bytes."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    rows = max(len(diagrams), 1)
    figure = Figure(figsize=(9, 3.2 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(title)
    lo, hi = finite_range(diagrams)
    pad = 0.05 * (hi - lo)
    infinity = hi + 2 * pad  # where essential classes are drawn
    axes = figure.subplots(rows, 2, squeeze=False)
    for q, dgm in enumerate(diagrams or [np.zeros((0, 2))]):
        pairs = np.asarray(dgm, dtype=np.float64).reshape(-1, 2)
        _diagram(axes[q][0], pairs, q, lo - pad, infinity + pad, infinity)
        _barcode(axes[q][1], pairs, q, lo - pad, infinity + pad, infinity)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=PNG_DPI, metadata=_metadata(fmt))
    return buffer.getvalue()


def _metadata(fmt: str) -> dict[str, str | None]:
    # No creation date: the same diagram gives the same bytes (cacheable, comparable).
    return {"Date": None} if fmt == "svg" else {}


def _diagram(ax, pairs: np.ndarray, q: int, low: float, high: float, infinity: float) -> None:  # type: ignore[no-untyped-def]
    finite = pairs[np.isfinite(pairs[:, 1])]
    essential = pairs[~np.isfinite(pairs[:, 1])]
    ax.plot([low, high], [low, high], color="0.6", linewidth=1)
    ax.axhline(infinity, color="0.6", linestyle="--", linewidth=1)
    ax.scatter(finite[:, 0], finite[:, 1], s=14, color=f"C{q}", label=f"H{q}")
    if len(essential):
        ax.scatter(essential[:, 0], np.full(len(essential), infinity), s=22, marker="^", color=f"C{q}")
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    step = (high - low) * 0.02
    ticks = [float(t) for t in ax.get_yticks() if low <= t < infinity - step]
    ax.set_yticks([*ticks, infinity], [*(f"{t:g}" for t in ticks), "∞"])
    ax.set_ylim(low, high)
    ax.set_xlabel("birth")
    ax.set_ylabel("death")
    ax.set_title(f"H{q} diagram ({_count(len(pairs), 'interval')})")
    ax.set_aspect("equal", adjustable="box")


def _barcode(ax, pairs: np.ndarray, q: int, low: float, high: float, infinity: float) -> None:  # type: ignore[no-untyped-def]
    deaths = np.where(np.isfinite(pairs[:, 1]), pairs[:, 1], infinity)
    order = np.argsort(-(deaths - pairs[:, 0]), kind="stable")[:MAX_BARS]
    for row, i in enumerate(order):
        ax.plot([pairs[i, 0], deaths[i]], [row, row], color=f"C{q}", linewidth=2)
        if not math.isfinite(pairs[i, 1]):
            ax.plot([infinity], [row], marker=">", color=f"C{q}", markersize=5)
    ax.set_xlim(low, high)
    ax.set_ylim(len(order), -1)
    ax.set_yticks([])
    ax.set_xlabel("filtration value")
    shown = f"{len(order)} longest of {len(pairs)} bars" if len(pairs) > len(order) else _count(len(pairs), "bar")
    ax.set_title(f"H{q} barcode ({shown})")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
