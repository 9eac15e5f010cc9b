"""tda_core: persistent homology and diagram tools backed by a C++ core."""

from ._core import __version__

__all__ = ["__version__"]
