"""Reading and writing cubical complexes in the Perseus text format (as GUDHI reads it).

A Perseus cubical file holds, one number per line (any whitespace is accepted):
the dimension ``d``; the sizes ``n_1 .. n_d``; then the ``n_1 * .. * n_d`` values of the
top-dimensional cells with the *first* coordinate varying fastest. A negative size marks
a periodic axis in GUDHI; such files are refused here (the reader returns values only:
give positive sizes and pass ``periodic=`` to ``cubical_persistence``).
The values are returned as an array ``a`` of shape ``(n_1, .., n_d)`` (``a[i_1, .., i_d]``
is the cell at those coordinates), to be used as top cells:
``cubical_persistence(a, construction="T")`` gives GUDHI's
``CubicalComplex(perseus_file=path)`` diagrams.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["read_perseus", "write_perseus"]

_MAX_DIM = 4  # the cubical engine's grids


def read_perseus(path: str | os.PathLike[str]) -> np.ndarray:
    """The top-cell values of a Perseus cubical file, shape ``(n_1, .., n_d)``, float64."""
    try:
        with open(path, encoding="ascii") as f:
            tokens = f.read().split()
    except OSError as exc:
        raise ValueError(f"path: cannot read {os.fspath(path)!r} ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ValueError(f"path: {os.fspath(path)!r} is not a Perseus text file") from None
    name = os.fspath(path)

    def header(k: int, what: str) -> int:
        try:
            return int(tokens[k])
        except (IndexError, ValueError):
            raise ValueError(f"path: {name!r} is not a Perseus cubical file: bad or missing {what}") from None

    dim = header(0, "dimension (first line)")
    if not 1 <= dim <= _MAX_DIM:
        raise ValueError(f"path: {name!r} has dimension {dim}; cubical persistence takes 1 to {_MAX_DIM}")
    sizes = [header(1 + k, f"size of axis {k + 1}") for k in range(dim)]
    if any(n < 0 for n in sizes):
        raise ValueError(f"path: {name!r} has periodic axes (negative sizes {sizes}), which the reader does not "
                         "return; give the sizes as positive numbers and pass periodic=... to cubical_persistence")
    if any(n == 0 for n in sizes):
        raise ValueError(f"path: {name!r} has an empty axis (sizes {sizes})")
    count = int(np.prod(sizes))
    body = tokens[1 + dim:]
    if len(body) != count:
        raise ValueError(f"path: {name!r} has sizes {sizes}, so {count} values, but holds {len(body)}")
    try:
        values = np.array(body, dtype=np.float64)
    except ValueError:
        raise ValueError(f"path: {name!r} holds a value that is not a number") from None
    if np.isnan(values).any():
        raise ValueError(f"path: {name!r} holds NaN values")
    return np.ascontiguousarray(values.reshape(sizes, order="F"))


def write_perseus(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Writes ``array`` (1-D to 4-D, top-cell values) as a Perseus cubical file."""
    try:
        values = np.asarray(array, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"array: must be a numeric array ({exc})") from None
    if not 1 <= values.ndim <= _MAX_DIM or values.size == 0:
        raise ValueError(f"array: must be a non-empty 1-D to {_MAX_DIM}-D array, got shape {values.shape}")
    if np.isnan(values).any():
        raise ValueError("array: contains NaN")
    lines = [str(values.ndim), *(str(n) for n in values.shape)]
    lines += [repr(float(v)) for v in values.ravel(order="F")]
    with open(path, "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")
