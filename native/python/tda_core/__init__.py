"""tda_core: persistent homology and diagram tools backed by a C++ core."""

from . import io
from ._core import __version__
from .cubical import CubicalPersistence, cubical_persistence
from .distances import bottleneck, wasserstein
from .embedding import delay_embedding
from .rips import RipsPersistence, estimate_rips, greedy_permutation, rips_persistence
from .vectorize import (
    betti_curve,
    persistence_image,
    persistence_landscape,
    persistent_entropy,
    total_persistence,
)

__all__ = [
    "__version__",
    "betti_curve",
    "bottleneck",
    "cubical_persistence",
    "CubicalPersistence",
    "delay_embedding",
    "estimate_rips",
    "greedy_permutation",
    "io",
    "persistence_image",
    "persistence_landscape",
    "persistent_entropy",
    "rips_persistence",
    "RipsPersistence",
    "total_persistence",
    "wasserstein",
]
